-- The deployment this store belongs to (one row): its id, and for the data store
-- the fingerprints of the keys it was created with. A store and keys of
-- different deployments refuse to start together.
CREATE TABLE deployment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    binding TEXT NOT NULL
);
