-- kidvault keystore on PostgreSQL, version 1: wrapped child keys only, one row per
-- (child, epoch), in their own schema (grant it to a separate role; back it up
-- apart from the data, or not at all). Rows are deleted to crypto-shred.
CREATE TABLE kidvault_keys.child_keys (
    child_id UUID NOT NULL,
    epoch BIGINT NOT NULL,
    wrapped BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (child_id, epoch)
);
