-- The ledger's lowest six levels again, one row per complete block of 64
-- leaves (126 hashes, 4,032 bytes: one database page; level 0, then 1, ... then
-- 5), so that an inclusion proof reads its lower path with one lookup instead of
-- six scattered ones. Written once, when the block's level-6 node is; blocks
-- written before this table existed are read from ledger_nodes as before.
CREATE TABLE ledger_tiles (
    block INTEGER PRIMARY KEY,
    hashes BLOB NOT NULL
);
