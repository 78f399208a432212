-- kidvault data store, version 1. Ids are 16-byte UUIDs; times are Unix microseconds.
-- Child data (names, item content) is only ever stored sealed (see kidvault-crypto).
CREATE TABLE households (
    id BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL,
    -- Set when a guardian closes the account: no new children; once every child's
    -- deletion completes, the guardians, sessions and this row are purged.
    closing_at INTEGER
);
CREATE TABLE guardians (
    id BLOB PRIMARY KEY,
    household_id BLOB NOT NULL REFERENCES households(id),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX guardians_household ON guardians(household_id);
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    guardian_id BLOB NOT NULL REFERENCES guardians(id),
    household_id BLOB NOT NULL REFERENCES households(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE children (
    id BLOB PRIMARY KEY,
    household_id BLOB NOT NULL REFERENCES households(id),
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_active_at INTEGER,
    -- The child key's current epoch: new data is sealed under it, and only it.
    key_epoch INTEGER NOT NULL DEFAULT 1,
    profile_epoch INTEGER NOT NULL,
    profile_key BLOB NOT NULL,
    profile BLOB NOT NULL
);
CREATE INDEX children_household ON children(household_id, created_at);
CREATE TABLE consents (
    id BLOB PRIMARY KEY,
    child_id BLOB NOT NULL REFERENCES children(id),
    guardian_id BLOB NOT NULL REFERENCES guardians(id),
    method TEXT NOT NULL,
    evidence_ref TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    granted_at INTEGER NOT NULL
);
CREATE INDEX consents_child ON consents(child_id, granted_at);
CREATE TABLE consent_scopes (
    consent_id BLOB NOT NULL REFERENCES consents(id),
    child_id BLOB NOT NULL REFERENCES children(id),
    scope TEXT NOT NULL,
    withdrawn_at INTEGER,
    PRIMARY KEY (consent_id, scope)
);
CREATE INDEX consent_scopes_child ON consent_scopes(child_id, scope);
CREATE TABLE devices (
    id BLOB PRIMARY KEY,
    household_id BLOB NOT NULL REFERENCES households(id),
    child_id BLOB NOT NULL REFERENCES children(id),
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    name_epoch INTEGER NOT NULL,
    name_key BLOB NOT NULL,
    name BLOB NOT NULL
);
CREATE INDEX devices_child ON devices(child_id);
CREATE TABLE items (
    id BLOB PRIMARY KEY,
    child_id BLOB NOT NULL REFERENCES children(id),
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    state TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    device_id BLOB REFERENCES devices(id),
    size INTEGER NOT NULL,
    key_epoch INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL,
    inline_content BLOB,
    blob_locator TEXT,
    CHECK ((inline_content IS NULL) <> (blob_locator IS NULL))
);
CREATE INDEX items_child_time ON items(child_id, recorded_at);
CREATE TABLE item_edges (
    item_id BLOB NOT NULL REFERENCES items(id),
    source_id BLOB NOT NULL REFERENCES items(id),
    PRIMARY KEY (item_id, source_id)
);
CREATE INDEX item_edges_source ON item_edges(source_id);
-- The ledger (kidvault-ledger): entries in log order, the hashes of every complete
-- subtree, and signed checkpoints. Entries hold ids, counts and hashes, never child
-- content. household/child are copied out of the entry body (child is indexed for a
-- child's activity; an entry's household is checked after fetching it by index).
CREATE TABLE ledger_entries (
    idx INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    household TEXT,
    child TEXT,
    body BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
);
CREATE INDEX ledger_entries_child ON ledger_entries(child, idx);
CREATE TABLE ledger_nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE ledger_checkpoints (
    size INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    note TEXT NOT NULL
);
-- Deletions: a durable state machine per request (see kidvault_domain::deletion).
-- No foreign key to children: a deletion outlives the child it deleted. Its items'
-- ids, kinds and categories stay as the proof of what was deleted; nothing else.
CREATE TABLE deletions (
    id BLOB PRIMARY KEY,
    household_id BLOB NOT NULL,
    child_id BLOB NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    scope TEXT NOT NULL,
    step TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    rotation_epoch INTEGER,
    summary TEXT,
    ledger_index INTEGER
);
CREATE INDEX deletions_step ON deletions(step, requested_at);
CREATE INDEX deletions_household ON deletions(household_id, requested_at);
CREATE TABLE deletion_items (
    deletion_id BLOB NOT NULL REFERENCES deletions(id),
    item_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    blob_locator TEXT,
    PRIMARY KEY (deletion_id, item_id)
);

-- Staff principals, created from the CLI. Tokens are stored hashed.
CREATE TABLE staff (
    id BLOB PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Downstream processors. The webhook secret is stored wrapped by the root key.
CREATE TABLE processors (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    categories TEXT NOT NULL,
    secret_wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

-- One processor's part of one deletion. `next_attempt_at` doubles as the lease:
-- claiming a task moves it past the claim's lease, so it is due again only if the
-- claimant died without recording the attempt.
CREATE TABLE processor_tasks (
    id BLOB PRIMARY KEY,
    deletion_id BLOB NOT NULL REFERENCES deletions(id),
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
CREATE INDEX processor_tasks_due ON processor_tasks(next_attempt_at) WHERE state = 'pending';
CREATE INDEX processor_tasks_deletion ON processor_tasks(deletion_id);
CREATE INDEX processor_tasks_open ON processor_tasks(deadline) WHERE state <> 'acknowledged';
