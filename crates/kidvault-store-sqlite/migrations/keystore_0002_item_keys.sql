-- kidvault keystore, version 2: every item's data key lives here (wrapped under
-- its child's key), never in the data store. Deleting one item deletes its row:
-- a data store backup then opens neither the deleted item (no key anywhere) nor
-- loses the survivors (their keys stay).
CREATE TABLE item_keys (
    item_id BLOB PRIMARY KEY,
    child_id BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    wrapped BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX item_keys_by_child ON item_keys (child_id);
