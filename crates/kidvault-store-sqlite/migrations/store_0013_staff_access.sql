-- Purpose-bound staff access.
--
-- Staff sign in with two factors: a sign-in key (only its hash is kept, in
-- staff.token_hash) and a TOTP code (the secret wrapped by the root key; no
-- step works twice). A sign-in gives a short-lived session. Accounts can be
-- disabled, which ends every session. Staff created before this migration had
-- a bearer token and no second factor: they are disabled and must be created again.
ALTER TABLE staff ADD COLUMN totp_wrapped BLOB;
ALTER TABLE staff ADD COLUMN last_step INTEGER;
ALTER TABLE staff ADD COLUMN disabled_at INTEGER;
UPDATE staff SET disabled_at = created_at WHERE totp_wrapped IS NULL;

CREATE TABLE staff_sessions (
    token_hash BLOB PRIMARY KEY,
    staff_id BLOB NOT NULL REFERENCES staff(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id);

-- A guardian's permission for support to see one child's data until a time.
-- Removed with the child.
CREATE TABLE support_grants (
    id BLOB PRIMARY KEY,
    child_id BLOB NOT NULL REFERENCES children(id),
    guardian_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX support_grants_child ON support_grants(child_id, expires_at);

-- Break-glass accesses, each waiting for the privacy officer's decision. The
-- justification is cleared when the child's data is deleted (ids remain).
CREATE TABLE access_reviews (
    id BLOB PRIMARY KEY,
    staff_id BLOB NOT NULL REFERENCES staff(id),
    role TEXT NOT NULL,
    child_id BLOB NOT NULL,
    action TEXT NOT NULL,
    purpose TEXT NOT NULL,
    ticket TEXT NOT NULL,
    justification TEXT NOT NULL,
    ledger_index INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    decided_by BLOB,
    decision TEXT,
    note TEXT
);
CREATE INDEX access_reviews_open ON access_reviews(decided_at, created_at);

-- Staff requests the policy refused: for the privacy officer, not the parents.
CREATE TABLE access_denials (
    id BLOB PRIMARY KEY,
    staff_id BLOB NOT NULL REFERENCES staff(id),
    role TEXT NOT NULL,
    child_id BLOB,
    action TEXT NOT NULL,
    purpose TEXT,
    ticket TEXT NOT NULL,
    code TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX access_denials_at ON access_denials(at);
