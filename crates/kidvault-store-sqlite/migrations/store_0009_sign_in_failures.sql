-- Failed sign-ins, for throttling shared by every node on the store. A key is an
-- opaque hash of an account's e-mail or a client address, never the value itself;
-- rows older than the throttle's window are deleted as keys fail again and by the
-- hourly sweep. Not copied by migrate-store: it is transient state.
CREATE TABLE sign_in_failures (
    key BLOB NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_key_at ON sign_in_failures(key, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures(at);
