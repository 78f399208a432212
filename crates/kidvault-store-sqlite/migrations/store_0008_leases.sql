-- Named leases on background work (the deletion runner, sweeps, checkpoint
-- signing): one holder at a time across every node sharing the store; a holder
-- that dies loses its lease when `until` passes, and another node takes over.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder BLOB NOT NULL,
    until INTEGER NOT NULL
);
