-- The notice outbox: one row per notice per guardian, written in the same
-- transaction as the event that causes it. `next_attempt_at` doubles as the
-- delivery lease (as on processor_tasks); it is NULL once delivered.
CREATE TABLE notices (
    id BLOB PRIMARY KEY,
    household_id BLOB NOT NULL,
    guardian_id BLOB NOT NULL,
    email TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    delivered_at INTEGER,
    delivered_via TEXT,
    last_error TEXT
);
CREATE INDEX notices_due ON notices(next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX notices_guardian ON notices(guardian_id, created_at);
CREATE INDEX notices_household ON notices(household_id);
