-- The deployment this keystore belongs to (one row).
CREATE TABLE kidvault_keys.deployment (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    binding TEXT NOT NULL
);
