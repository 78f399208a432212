-- Pairing a device as TVs do it (RFC 8628, device authorization grant): the
-- device asks for a code pair, shows the short user code, and polls with the
-- device code while a guardian enters the user code in the portal and picks
-- the child. Only hashes of the device code and of the token it will receive
-- are kept; the device row is created when the guardian approves, and the
-- token itself is computed from the device code when the device collects it.
CREATE TABLE device_codes (
    code_hash BYTEA PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_poll_at BIGINT,
    device_id UUID,
    approved_at BIGINT,
    claimed_at BIGINT
);
CREATE INDEX device_codes_expiry ON device_codes(expires_at);
