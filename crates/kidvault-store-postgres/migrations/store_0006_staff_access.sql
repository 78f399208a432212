-- Purpose-bound staff access (see the SQLite migration store_0013_staff_access.sql for the why).
--
-- Staff sign in with two factors: a sign-in key (only its hash is kept, in
-- staff.token_hash) and a TOTP code (the secret wrapped by the root key; no
-- step works twice). A sign-in gives a short-lived session. Accounts can be
-- disabled, which ends every session. Staff created before this migration had
-- a bearer token and no second factor: they are disabled and must be created again.
ALTER TABLE staff ADD COLUMN totp_wrapped BYTEA;
ALTER TABLE staff ADD COLUMN last_step BIGINT;
ALTER TABLE staff ADD COLUMN disabled_at BIGINT;
UPDATE staff SET disabled_at = created_at WHERE totp_wrapped IS NULL;

CREATE TABLE staff_sessions (
    token_hash BYTEA PRIMARY KEY,
    staff_id UUID NOT NULL REFERENCES staff(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id);

-- A guardian's permission for support to see one child's data until a time.
-- Removed with the child.
CREATE TABLE support_grants (
    id UUID PRIMARY KEY,
    child_id UUID NOT NULL REFERENCES children(id),
    guardian_id UUID NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX support_grants_child ON support_grants(child_id, expires_at);

-- Break-glass accesses, each waiting for the privacy officer's decision. The
-- justification is cleared when the child's data is deleted (ids remain).
CREATE TABLE access_reviews (
    id UUID PRIMARY KEY,
    staff_id UUID NOT NULL REFERENCES staff(id),
    role TEXT NOT NULL,
    child_id UUID NOT NULL,
    action TEXT NOT NULL,
    purpose TEXT NOT NULL,
    ticket TEXT NOT NULL,
    justification TEXT NOT NULL,
    ledger_index BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by UUID,
    decision TEXT,
    note TEXT
);
CREATE INDEX access_reviews_open ON access_reviews(decided_at, created_at);

-- Staff requests the policy refused: for the privacy officer, not the parents.
CREATE TABLE access_denials (
    id UUID PRIMARY KEY,
    staff_id UUID NOT NULL REFERENCES staff(id),
    role TEXT NOT NULL,
    child_id UUID,
    action TEXT NOT NULL,
    purpose TEXT,
    ticket TEXT NOT NULL,
    code TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX access_denials_at ON access_denials(at);
