-- Training datasets and model lineage (see the SQLite migration store_0012_datasets.sql).
CREATE TABLE datasets (
    id UUID PRIMARY KEY,
    processor_id UUID NOT NULL REFERENCES processors(id),
    criteria TEXT NOT NULL,
    shards BIGINT NOT NULL,
    items BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- When its OpenLineage event was delivered (the rows are the outbox).
    lineage_sent_at BIGINT
);
-- The children of a snapshot: each one's shard, and the consent its items went under.
CREATE TABLE dataset_children (
    dataset_id UUID NOT NULL REFERENCES datasets(id),
    child_id UUID NOT NULL,
    shard BIGINT NOT NULL,
    consent_id UUID NOT NULL,
    PRIMARY KEY (dataset_id, child_id)
);
CREATE TABLE dataset_items (
    dataset_id UUID NOT NULL REFERENCES datasets(id),
    item_id UUID NOT NULL,
    child_id UUID NOT NULL,
    kind TEXT NOT NULL,
    source_id UUID,
    recorded_at BIGINT NOT NULL,
    shard BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, item_id)
);
CREATE INDEX dataset_items_item ON dataset_items(item_id);
CREATE INDEX dataset_items_shard ON dataset_items(dataset_id, shard, recorded_at);
CREATE INDEX dataset_items_child ON dataset_items(child_id);
CREATE TABLE models (
    id UUID PRIMARY KEY,
    processor_id UUID NOT NULL REFERENCES processors(id),
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    outcome TEXT,
    replaced_by UUID,
    evidence TEXT,
    resolved_at BIGINT,
    lineage_sent_at BIGINT,
    UNIQUE (processor_id, name, version)
);
CREATE TABLE model_inputs (
    model_id UUID NOT NULL REFERENCES models(id),
    dataset_id UUID NOT NULL REFERENCES datasets(id),
    shard BIGINT NOT NULL,
    PRIMARY KEY (model_id, dataset_id, shard)
);
CREATE INDEX model_inputs_shard ON model_inputs(dataset_id, shard);
CREATE TABLE model_flags (
    model_id UUID NOT NULL REFERENCES models(id),
    item_id UUID NOT NULL,
    dataset_id UUID NOT NULL,
    shard BIGINT NOT NULL,
    cause TEXT NOT NULL,
    deletion_id UUID,
    raised_at BIGINT NOT NULL,
    PRIMARY KEY (model_id, item_id)
);
CREATE INDEX model_flags_deletion ON model_flags(deletion_id);
