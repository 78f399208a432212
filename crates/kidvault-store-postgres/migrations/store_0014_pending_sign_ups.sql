-- Sign-ups waiting for the link e-mailed to their address, so that signing up
-- never tells a stranger whether an address already has an account: the
-- account is created only when the link is followed. Only the link's hash is
-- kept, with the password already hashed.
CREATE TABLE pending_sign_ups (
    token_hash BYTEA PRIMARY KEY,
    guardian_id UUID NOT NULL,
    household_id UUID NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    time_zone TEXT,
    language TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_sign_ups_expiry ON pending_sign_ups(expires_at);
