-- E-mail-plus consent waiting for the guardian to follow the confirmation link.
-- `consent` is the consent as it will be recorded (JSON: ids, method, evidence
-- reference, notice version, scopes; no child content). Only the token's hash is kept.
CREATE TABLE pending_consents (
    token_hash BLOB PRIMARY KEY,
    child_id BLOB NOT NULL,
    guardian_id BLOB NOT NULL,
    consent TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    confirmed_at INTEGER
);
CREATE INDEX pending_consents_child ON pending_consents(child_id);
