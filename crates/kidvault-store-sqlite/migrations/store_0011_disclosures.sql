-- Use controls. Each processor is registered for one purpose (integral,
-- third_party, training); processors registered before purposes existed only ever
-- received deletion notices, and are integral.
ALTER TABLE processors ADD COLUMN purpose TEXT NOT NULL DEFAULT 'integral';

-- What each processor received: one row per item sent, with the consent it was
-- sent under. `recall_task_id` is the task that asked the processor to delete it
-- after the parent withdrew the purpose's consent. Rows of a deleted child go
-- with the child; the ledger keeps the disclosure entries (ids and counts).
CREATE TABLE disclosures (
    processor_id BLOB NOT NULL REFERENCES processors(id),
    item_id BLOB NOT NULL,
    child_id BLOB NOT NULL,
    category TEXT NOT NULL,
    consent_id BLOB NOT NULL,
    disclosed_at INTEGER NOT NULL,
    recall_task_id BLOB,
    PRIMARY KEY (processor_id, item_id)
);
CREATE INDEX disclosures_child ON disclosures(child_id, processor_id);
CREATE INDEX disclosures_unrecalled ON disclosures(processor_id, child_id) WHERE recall_task_id IS NULL;

-- A processor task is now about a child: a deletion's part (deletion_id set) or a
-- recall of what was disclosed (deletion_id NULL). SQLite cannot relax NOT NULL
-- in place, so the table is rebuilt.
CREATE TABLE processor_tasks_v2 (
    id BLOB PRIMARY KEY,
    deletion_id BLOB REFERENCES deletions(id),
    child_id BLOB NOT NULL,
    processor_id BLOB NOT NULL REFERENCES processors(id),
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    deadline INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    acknowledged_at INTEGER,
    acknowledged_via TEXT,
    last_error TEXT
);
INSERT INTO processor_tasks_v2 (id, deletion_id, child_id, processor_id, state, payload, attempts, next_attempt_at,
        deadline, created_at, delivered_at, acknowledged_at, acknowledged_via, last_error)
    SELECT t.id, t.deletion_id, d.child_id, t.processor_id, t.state, t.payload, t.attempts, t.next_attempt_at,
        t.deadline, t.created_at, t.delivered_at, t.acknowledged_at, t.acknowledged_via, t.last_error
    FROM processor_tasks t JOIN deletions d ON d.id = t.deletion_id;
DROP TABLE processor_tasks;
ALTER TABLE processor_tasks_v2 RENAME TO processor_tasks;
CREATE INDEX processor_tasks_due ON processor_tasks(next_attempt_at) WHERE state = 'pending';
CREATE INDEX processor_tasks_deletion ON processor_tasks(deletion_id);
CREATE INDEX processor_tasks_open ON processor_tasks(deadline) WHERE state <> 'acknowledged';
CREATE INDEX processor_tasks_child ON processor_tasks(child_id);
