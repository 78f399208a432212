-- Retention sweeps. Dormancy per child: when the profile became dormant (and the
-- guardians were told), when it will be deleted, when they were reminded, and a
-- guardian's choice to keep it (with its time). New activity clears dormancy.
ALTER TABLE children ADD COLUMN dormant_at INTEGER;
ALTER TABLE children ADD COLUMN dormancy_deletion_at INTEGER;
ALTER TABLE children ADD COLUMN reminded_at INTEGER;
ALTER TABLE children ADD COLUMN keep_when_dormant_at INTEGER;

-- Each sweep reads only what is due, through these.
CREATE INDEX children_activity ON children(COALESCE(last_active_at, created_at))
    WHERE status = 'active' AND dormant_at IS NULL AND keep_when_dormant_at IS NULL;
CREATE INDEX children_dormant ON children(dormancy_deletion_at) WHERE dormant_at IS NOT NULL;
CREATE INDEX children_pending ON children(created_at) WHERE status = 'pending_consent';
CREATE INDEX items_kind_time ON items(kind, recorded_at, child_id) WHERE state = 'live';
