-- Training datasets and model lineage. A dataset is a snapshot of the items a
-- training processor may receive, each assigned to a SISA shard by its child (a
-- child's deletion or withdrawal touches one shard per dataset). A model names
-- the dataset shards it was trained on; an item of such a shard deleted or
-- withdrawn later flags the model until the processor retrains it without the
-- item or destroys it. Ids only, never content.
CREATE TABLE datasets (
    id BLOB PRIMARY KEY,
    processor_id BLOB NOT NULL REFERENCES processors(id),
    criteria TEXT NOT NULL,
    shards INTEGER NOT NULL,
    items INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    -- When its OpenLineage event was delivered (the rows are the outbox).
    lineage_sent_at INTEGER
);
-- The children of a snapshot: each one's shard, and the consent its items went under.
CREATE TABLE dataset_children (
    dataset_id BLOB NOT NULL REFERENCES datasets(id),
    child_id BLOB NOT NULL,
    shard INTEGER NOT NULL,
    consent_id BLOB NOT NULL,
    PRIMARY KEY (dataset_id, child_id)
);
CREATE TABLE dataset_items (
    dataset_id BLOB NOT NULL REFERENCES datasets(id),
    item_id BLOB NOT NULL,
    child_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    source_id BLOB,
    recorded_at INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, item_id)
);
CREATE INDEX dataset_items_item ON dataset_items(item_id);
CREATE INDEX dataset_items_shard ON dataset_items(dataset_id, shard, recorded_at);
CREATE INDEX dataset_items_child ON dataset_items(child_id);
CREATE TABLE models (
    id BLOB PRIMARY KEY,
    processor_id BLOB NOT NULL REFERENCES processors(id),
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    outcome TEXT,
    replaced_by BLOB,
    evidence TEXT,
    resolved_at INTEGER,
    lineage_sent_at INTEGER,
    UNIQUE (processor_id, name, version)
);
CREATE TABLE model_inputs (
    model_id BLOB NOT NULL REFERENCES models(id),
    dataset_id BLOB NOT NULL REFERENCES datasets(id),
    shard INTEGER NOT NULL,
    PRIMARY KEY (model_id, dataset_id, shard)
);
CREATE INDEX model_inputs_shard ON model_inputs(dataset_id, shard);
CREATE TABLE model_flags (
    model_id BLOB NOT NULL REFERENCES models(id),
    item_id BLOB NOT NULL,
    dataset_id BLOB NOT NULL,
    shard INTEGER NOT NULL,
    cause TEXT NOT NULL,
    deletion_id BLOB,
    raised_at INTEGER NOT NULL,
    PRIMARY KEY (model_id, item_id)
);
CREATE INDEX model_flags_deletion ON model_flags(deletion_id);
