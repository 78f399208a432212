-- Invitations to join a household as another guardian: single use, expiring.
-- Only the token's SHA-256 is kept.
CREATE TABLE invites (
    token_hash BLOB PRIMARY KEY,
    household_id BLOB NOT NULL REFERENCES households(id),
    invited_by BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by BLOB
);
CREATE INDEX invites_household ON invites(household_id);
