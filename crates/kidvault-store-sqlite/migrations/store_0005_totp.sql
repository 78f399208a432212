-- Optional second factor for guardians: a TOTP secret wrapped by the root key,
-- the last step used (no code works twice), and single-use recovery codes
-- (SHA-256 only).
CREATE TABLE guardian_totp (
    guardian_id BLOB PRIMARY KEY REFERENCES guardians(id),
    secret_wrapped BLOB NOT NULL,
    enabled_at INTEGER,
    last_step INTEGER
);
CREATE TABLE recovery_codes (
    guardian_id BLOB NOT NULL REFERENCES guardians(id),
    code_hash BLOB NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (guardian_id, code_hash)
);
