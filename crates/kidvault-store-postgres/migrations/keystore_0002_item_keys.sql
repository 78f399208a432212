-- kidvault keystore on PostgreSQL, version 2: every item's data key lives here
-- (wrapped under its child's key), never in the data schema.
CREATE TABLE kidvault_keys.item_keys (
    item_id UUID PRIMARY KEY,
    child_id UUID NOT NULL,
    epoch BIGINT NOT NULL,
    wrapped BYTEA NOT NULL
);
CREATE INDEX item_keys_by_child ON kidvault_keys.item_keys (child_id);
