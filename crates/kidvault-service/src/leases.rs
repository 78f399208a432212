//! Background work shared by many nodes. Work on items (deliveries, notices) is
//! claimed item by item in the store; work that runs as a whole (the deletion
//! runner, the sweeps, checkpoint signing) is done only by the node holding its
//! named lease. The holder renews it as it works; a node that dies loses it when
//! it expires (`lease_ttl`), and the next node to ask takes over.

use kidvault_domain::Timestamp;

use crate::{Result, Vault};

/// The deletion runner's lease.
pub const DELETIONS: &str = "deletions";
/// The retention and dormancy sweeps' lease.
pub const SWEEPS: &str = "sweeps";
/// Periodic checkpoint signing's lease.
pub const CHECKPOINTS: &str = "checkpoints";

impl Vault {
    /// This process's identity as a lease holder (random per start).
    pub fn node_id(&self) -> uuid::Uuid {
        self.node
    }

    /// Takes or renews the lease on `work` until `now + lease_ttl`; whether this
    /// node holds it.
    pub async fn hold_lease(&self, work: &str, now: Timestamp) -> Result<bool> {
        Ok(self.store.acquire_lease(work, self.node, now, now + self.config.lease_ttl).await?)
    }

    /// Gives up this node's leases (at shutdown: another node takes over at once).
    /// At a clean shutdown: the item keys made ahead and not used go.
    pub async fn release_unused_keys(&self) {
        if let Err(e) = self.keys.release_pool().await {
            tracing::warn!(error = %e, "could not destroy the unused item keys made ahead");
        }
    }

    pub async fn release_leases(&self) {
        for work in [DELETIONS, SWEEPS, CHECKPOINTS] {
            if let Err(e) = self.store.release_lease(work, self.node).await {
                tracing::warn!(lease = work, error = %e, "could not release a lease; it will expire");
            }
        }
    }
}

/// `now` advanced by the time since `started` (monotonic): the wall time a long
/// run renews its lease at, without reading the clock deep in the run.
pub(crate) fn later(now: Timestamp, started: std::time::Instant) -> Timestamp {
    now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default()
}
