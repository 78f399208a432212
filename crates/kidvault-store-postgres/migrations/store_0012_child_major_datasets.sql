-- Snapshot rows keyed child-major (see the SQLite migration
-- store_0019_child_major_datasets.sql for the why).
ALTER TABLE disclosures DROP CONSTRAINT disclosures_pkey;
ALTER TABLE disclosures ADD PRIMARY KEY (processor_id, child_id, item_id);

ALTER TABLE dataset_items ADD COLUMN category TEXT;
UPDATE dataset_items d SET category = i.category FROM items i WHERE i.id = d.item_id;
ALTER TABLE dataset_items DROP CONSTRAINT dataset_items_pkey;
ALTER TABLE dataset_items ADD PRIMARY KEY (dataset_id, child_id, item_id);
DROP INDEX dataset_items_item;
DROP INDEX dataset_items_shard;
DROP INDEX dataset_items_child;

CREATE INDEX dataset_children_shard ON dataset_children(dataset_id, shard);
CREATE INDEX dataset_children_child ON dataset_children(child_id);
