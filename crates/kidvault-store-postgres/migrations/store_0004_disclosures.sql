-- Use controls (see the SQLite migration store_0011_disclosures.sql for the why).
ALTER TABLE processors ADD COLUMN purpose TEXT NOT NULL DEFAULT 'integral';

CREATE TABLE disclosures (
    processor_id UUID NOT NULL REFERENCES processors(id),
    item_id UUID NOT NULL,
    child_id UUID NOT NULL,
    category TEXT NOT NULL,
    consent_id UUID NOT NULL,
    disclosed_at BIGINT NOT NULL,
    recall_task_id UUID,
    PRIMARY KEY (processor_id, item_id)
);
CREATE INDEX disclosures_child ON disclosures(child_id, processor_id);
CREATE INDEX disclosures_unrecalled ON disclosures(processor_id, child_id) WHERE recall_task_id IS NULL;

ALTER TABLE processor_tasks ALTER COLUMN deletion_id DROP NOT NULL;
ALTER TABLE processor_tasks ADD COLUMN child_id UUID;
UPDATE processor_tasks t SET child_id = d.child_id FROM deletions d WHERE d.id = t.deletion_id;
ALTER TABLE processor_tasks ALTER COLUMN child_id SET NOT NULL;
CREATE INDEX processor_tasks_child ON processor_tasks(child_id);
