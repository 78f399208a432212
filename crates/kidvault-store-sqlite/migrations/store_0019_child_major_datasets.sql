-- A training snapshot writes a row per item into dataset_items and disclosures
-- (900,000 rows for a million-item store). Keyed by item id, each row landed on a
-- random page of four B-trees, and taking a snapshot of a million items held the
-- writer for about a minute. Keyed child-major instead — (dataset, child, item)
-- and (processor, child, item), clustered (WITHOUT ROWID) — a snapshot that walks
-- the children in order appends to every tree. An item belongs to one child, so
-- the keys are as unique as before. The indexes by item, shard and child go:
-- deletions and withdrawals find a child's rows through dataset_children (now
-- indexed by child), a shard's rows through dataset_children (indexed by shard).
-- dataset_items gains the item's category (counted for the ledger entries
-- without reading the items again); rows whose item was already gone keep NULL.
CREATE TABLE disclosures_v2 (
    processor_id BLOB NOT NULL REFERENCES processors(id),
    child_id BLOB NOT NULL,
    item_id BLOB NOT NULL,
    category TEXT NOT NULL,
    consent_id BLOB NOT NULL,
    disclosed_at INTEGER NOT NULL,
    recall_task_id BLOB,
    PRIMARY KEY (processor_id, child_id, item_id)
) WITHOUT ROWID;
INSERT INTO disclosures_v2 (processor_id, child_id, item_id, category, consent_id, disclosed_at, recall_task_id)
    SELECT processor_id, child_id, item_id, category, consent_id, disclosed_at, recall_task_id FROM disclosures;
DROP TABLE disclosures;
ALTER TABLE disclosures_v2 RENAME TO disclosures;
CREATE INDEX disclosures_child ON disclosures(child_id, processor_id);
CREATE INDEX disclosures_unrecalled ON disclosures(processor_id, child_id) WHERE recall_task_id IS NULL;

CREATE TABLE dataset_items_v2 (
    dataset_id BLOB NOT NULL REFERENCES datasets(id),
    child_id BLOB NOT NULL,
    item_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    category TEXT,
    source_id BLOB,
    recorded_at INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, child_id, item_id)
) WITHOUT ROWID;
INSERT INTO dataset_items_v2 (dataset_id, child_id, item_id, kind, category, source_id, recorded_at, shard)
    SELECT d.dataset_id, d.child_id, d.item_id, d.kind, i.category, d.source_id, d.recorded_at, d.shard
    FROM dataset_items d LEFT JOIN items i ON i.id = d.item_id;
DROP TABLE dataset_items;
ALTER TABLE dataset_items_v2 RENAME TO dataset_items;

CREATE INDEX dataset_children_shard ON dataset_children(dataset_id, shard);
CREATE INDEX dataset_children_child ON dataset_children(child_id);
