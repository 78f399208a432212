-- The seal chain's generations in use (see kidvault_crypto::chain): every
-- keystore row is sealed under one of them; a generation is forgotten (its row
-- deleted here, its key stepped past in every node's chain file) once no row
-- uses it and the backup window since it was replaced has passed.
CREATE TABLE kidvault_keys.seal_generations (
    generation BIGINT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    began_at BIGINT NOT NULL,
    completed_at BIGINT
);
