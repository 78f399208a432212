-- kidvault data store on PostgreSQL (and Citus, CockroachDB, YugabyteDB), version 1.
-- The same tables as the embedded SQLite store (see kidvault-store/src/migrations),
-- in portable SQL: UUID keys, BIGINT Unix microseconds for times, BYTEA for sealed
-- values and hashes. Child content is only ever stored sealed.
CREATE TABLE households (
    id UUID PRIMARY KEY,
    created_at BIGINT NOT NULL,
    closing_at BIGINT
);
CREATE TABLE guardians (
    id UUID PRIMARY KEY,
    household_id UUID NOT NULL REFERENCES households(id),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX guardians_household ON guardians(household_id);
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    guardian_id UUID NOT NULL REFERENCES guardians(id),
    household_id UUID NOT NULL REFERENCES households(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_guardian ON sessions(guardian_id, created_at);
CREATE INDEX sessions_household ON sessions(household_id);
CREATE TABLE children (
    id UUID PRIMARY KEY,
    household_id UUID NOT NULL REFERENCES households(id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_active_at BIGINT,
    key_epoch BIGINT NOT NULL DEFAULT 1,
    profile_epoch BIGINT NOT NULL,
    profile_key BYTEA NOT NULL,
    profile BYTEA NOT NULL,
    dormant_at BIGINT,
    dormancy_deletion_at BIGINT,
    reminded_at BIGINT,
    keep_when_dormant_at BIGINT
);
CREATE INDEX children_household ON children(household_id, created_at);
-- Each sweep reads only what is due, through these partial indexes.
CREATE INDEX children_activity ON children((COALESCE(last_active_at, created_at)))
    WHERE status = 'active' AND dormant_at IS NULL AND keep_when_dormant_at IS NULL;
CREATE INDEX children_dormant ON children(dormancy_deletion_at) WHERE dormant_at IS NOT NULL;
CREATE INDEX children_pending ON children(created_at) WHERE status = 'pending_consent';
CREATE TABLE consents (
    id UUID PRIMARY KEY,
    child_id UUID NOT NULL REFERENCES children(id),
    guardian_id UUID NOT NULL REFERENCES guardians(id),
    method TEXT NOT NULL,
    evidence_ref TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    granted_at BIGINT NOT NULL
);
CREATE INDEX consents_child ON consents(child_id, granted_at);
CREATE TABLE consent_scopes (
    consent_id UUID NOT NULL REFERENCES consents(id),
    child_id UUID NOT NULL REFERENCES children(id),
    scope TEXT NOT NULL,
    withdrawn_at BIGINT,
    PRIMARY KEY (consent_id, scope)
);
CREATE INDEX consent_scopes_child ON consent_scopes(child_id, scope);
CREATE TABLE devices (
    id UUID PRIMARY KEY,
    household_id UUID NOT NULL REFERENCES households(id),
    child_id UUID NOT NULL REFERENCES children(id),
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    name_epoch BIGINT NOT NULL,
    name_key BYTEA NOT NULL,
    name BYTEA NOT NULL
);
CREATE INDEX devices_child ON devices(child_id);
CREATE TABLE items (
    id UUID PRIMARY KEY,
    child_id UUID NOT NULL REFERENCES children(id),
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    state TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    device_id UUID REFERENCES devices(id),
    size BIGINT NOT NULL,
    key_epoch BIGINT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    inline_content BYTEA,
    blob_locator TEXT,
    CHECK ((inline_content IS NULL) <> (blob_locator IS NULL))
);
CREATE INDEX items_child_time ON items(child_id, recorded_at, id);
CREATE INDEX items_kind_time ON items(kind, recorded_at, child_id) WHERE state = 'live';
CREATE TABLE item_edges (
    item_id UUID NOT NULL REFERENCES items(id),
    source_id UUID NOT NULL REFERENCES items(id),
    PRIMARY KEY (item_id, source_id)
);
CREATE INDEX item_edges_source ON item_edges(source_id);

-- The ledger. `ledger_head` is one row holding the log's size: every append locks
-- it first, so appends from any number of nodes are totally ordered (no gaps, no
-- forks). Levels 0-5 of each complete 64-leaf block live in its tile; higher
-- subtree hashes are rows of ledger_nodes.
CREATE TABLE ledger_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO ledger_head (id, size) VALUES (1, 0);
CREATE TABLE ledger_entries (
    idx BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    household TEXT,
    child TEXT,
    body BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE INDEX ledger_entries_child ON ledger_entries(child, idx);
CREATE TABLE ledger_nodes (
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE ledger_tiles (
    block BIGINT PRIMARY KEY,
    hashes BYTEA NOT NULL
);
CREATE TABLE ledger_checkpoints (
    size BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    note TEXT NOT NULL
);

-- Deletions: a durable state machine per request. No foreign key to children: a
-- deletion outlives the child it deleted.
CREATE TABLE deletions (
    id UUID PRIMARY KEY,
    household_id UUID NOT NULL,
    child_id UUID NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    scope TEXT NOT NULL,
    step TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    rotation_epoch BIGINT,
    summary TEXT,
    ledger_index BIGINT
);
CREATE INDEX deletions_step ON deletions(step, requested_at);
CREATE INDEX deletions_household ON deletions(household_id, requested_at);
CREATE TABLE deletion_items (
    deletion_id UUID NOT NULL REFERENCES deletions(id),
    item_id UUID NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    blob_locator TEXT,
    PRIMARY KEY (deletion_id, item_id)
);

CREATE TABLE staff (
    id UUID PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE processors (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    categories TEXT NOT NULL,
    secret_wrapped BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);
-- `next_attempt_at` doubles as the lease (claimed with FOR UPDATE SKIP LOCKED).
CREATE TABLE processor_tasks (
    id UUID PRIMARY KEY,
    deletion_id UUID NOT NULL REFERENCES deletions(id),
    processor_id UUID NOT NULL REFERENCES processors(id),
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    deadline BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    acknowledged_at BIGINT,
    acknowledged_via TEXT,
    last_error TEXT
);
CREATE INDEX processor_tasks_due ON processor_tasks(next_attempt_at) WHERE state = 'pending';
CREATE INDEX processor_tasks_deletion ON processor_tasks(deletion_id);
CREATE INDEX processor_tasks_open ON processor_tasks(deadline) WHERE state <> 'acknowledged';

CREATE TABLE notices (
    id UUID PRIMARY KEY,
    household_id UUID NOT NULL,
    guardian_id UUID NOT NULL,
    email TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    delivered_at BIGINT,
    delivered_via TEXT,
    last_error TEXT
);
CREATE INDEX notices_due ON notices(next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX notices_guardian ON notices(guardian_id, created_at);
CREATE INDEX notices_household ON notices(household_id);

CREATE TABLE invites (
    token_hash BYTEA PRIMARY KEY,
    household_id UUID NOT NULL REFERENCES households(id),
    invited_by UUID NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by UUID
);
CREATE INDEX invites_household ON invites(household_id);
CREATE TABLE pending_consents (
    token_hash BYTEA PRIMARY KEY,
    child_id UUID NOT NULL,
    guardian_id UUID NOT NULL,
    consent TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    confirmed_at BIGINT
);
CREATE INDEX pending_consents_child ON pending_consents(child_id);
CREATE TABLE guardian_totp (
    guardian_id UUID PRIMARY KEY REFERENCES guardians(id),
    secret_wrapped BYTEA NOT NULL,
    enabled_at BIGINT,
    last_step BIGINT
);
CREATE TABLE recovery_codes (
    guardian_id UUID NOT NULL REFERENCES guardians(id),
    code_hash BYTEA NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (guardian_id, code_hash)
);

-- Named leases on background work (the deletion runner, sweeps, checkpoint
-- signing): one holder at a time across every node; an expired lease is taken over.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder UUID NOT NULL,
    until BIGINT NOT NULL
);
