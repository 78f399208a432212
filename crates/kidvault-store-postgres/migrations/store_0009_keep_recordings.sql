-- A parent's auto-delete choice for a child's recordings: NULL keeps them as
-- long as the written retention policy allows, 0 keeps none (the device must
-- use the ephemeral path), n keeps each n days. Never longer than the policy:
-- the service refuses a longer choice, and the sweep applies the shorter of
-- the two. Only children with a choice are in the index the sweep reads.
ALTER TABLE children ADD COLUMN keep_recordings_days BIGINT;
CREATE INDEX children_keep_recordings ON children(keep_recordings_days) WHERE keep_recordings_days IS NOT NULL;
