-- The deployment this data store belongs to (one row; see the SQLite migration).
CREATE TABLE deployment (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    binding TEXT NOT NULL
);
