-- kidvault keystore, version 1: wrapped child keys only, one row per (child, epoch).
-- Rows are deleted to crypto-shred; secure_delete overwrites the freed pages.
CREATE TABLE child_keys (
    child_id BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (child_id, epoch)
);
