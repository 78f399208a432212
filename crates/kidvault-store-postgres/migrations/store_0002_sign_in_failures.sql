-- Failed sign-ins, for throttling shared by every node (see the SQLite migration
-- store_0009_sign_in_failures.sql): opaque key hashes and times only.
CREATE TABLE sign_in_failures (
    key BYTEA NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_key_at ON sign_in_failures(key, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures(at);
