//! A full disk, answered honestly. When a write meets a full store, the node
//! enters the *storage full* state: new collection is refused up front with
//! `507 insufficient_storage` (it would only fail, and it would eat the room
//! left), the space reserve (a ballast file set aside on the data volume at
//! start, see [`SpaceReserve`]) is given back so that what must keep working
//! still can (a guardian's reads and exports, which record their access;
//! deletions, which write their steps and receipts), and `/healthz` says
//! `degraded`. Every so often a new collection attempt checks whether room has
//! come back; if so the reserve is set aside again and collection resumes.
//!
//! A damaged store (a bad disk, a torn copy) is found at start, by a periodic
//! check while serving ([`Vault::check_integrity`]), or by any request that
//! meets a damaged page; from then on `/healthz` answers `503 store_damaged`
//! until the node restarts on a restored store.

use std::sync::Mutex;

use kidvault_domain::Timestamp;

use crate::{Result, ServiceError, Vault};

/// Room set aside on the data volume, released when the disk fills.
pub trait SpaceReserve: Send + Sync + std::fmt::Debug {
    /// Gives the reserved room back to the volume.
    fn release(&self);
    /// Sets the room aside again if the volume has enough free space now;
    /// says whether it did (then the full state ends).
    fn restore(&self) -> bool;
}

/// How often, while full, a collection attempt checks for room again.
const RECHECK: chrono::Duration = chrono::Duration::seconds(10);

#[derive(Debug, Default)]
pub(crate) struct Storage {
    /// Since when the store has been full, and when room was last checked.
    full: Mutex<Option<(Timestamp, Timestamp)>>,
    reserve: std::sync::OnceLock<std::sync::Arc<dyn SpaceReserve>>,
    /// Since when the store has been found damaged, and what was found.
    damaged: Mutex<Option<(Timestamp, String)>>,
}

impl Vault {
    /// The space reserve of an embedded deployment (set once, at start).
    pub fn set_space_reserve(&self, reserve: std::sync::Arc<dyn SpaceReserve>) {
        let _ = self.storage.reserve.set(reserve);
    }

    /// A write met a full store: enter the full state and release the reserve.
    pub fn storage_full(&self, now: Timestamp) {
        let mut full = self.storage.full.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if full.is_none() {
            tracing::error!("storage is full: new collection is refused until there is room again");
            *full = Some((now, now));
            if let Some(r) = self.storage.reserve.get() {
                r.release();
            }
        }
    }

    /// Since when storage has been full, if it is (for `/healthz`).
    pub fn storage_full_since(&self) -> Option<Timestamp> {
        self.storage.full.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map(|(since, _)| since)
    }

    /// New collection may go ahead: refused while storage is full, except
    /// that every [`RECHECK`] an attempt looks for room again.
    pub(crate) fn admit_collection(&self, now: Timestamp) -> Result<()> {
        let mut full = self.storage.full.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((since, checked)) = *full else { return Ok(()) };
        if now - checked >= RECHECK {
            let room = self.storage.reserve.get().is_none_or(|r| r.restore());
            if room {
                tracing::info!("storage has room again: collection resumes");
                *full = None;
                return Ok(());
            }
            *full = Some((since, now));
        }
        Err(ServiceError::InsufficientStorage("refused while storage is full".into()))
    }
}

impl Vault {
    /// Checks the data store's and the keystore's files for damage; a damaged
    /// store is recorded (see [`Vault::store_damaged`]) and reported as
    /// [`ServiceError::Damaged`].
    pub async fn check_integrity(&self, now: Timestamp) -> Result<()> {
        let found = match self.store.check_integrity().await {
            Ok(()) => self.keys.keystore().check_integrity().await,
            e => e,
        };
        match found.map_err(ServiceError::from) {
            Err(ServiceError::Damaged(detail)) => {
                self.store_damaged(now, &detail);
                Err(ServiceError::Damaged(detail))
            }
            other => other,
        }
    }

    /// A store was found damaged: logged once, and `/healthz` says so from now on.
    pub fn store_damaged(&self, now: Timestamp, detail: &str) {
        let mut damaged = self.storage.damaged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if damaged.is_none() {
            tracing::error!(%detail, "the data store is damaged: restore it from a backup (`kidvault restore`)");
            *damaged = Some((now, detail.to_owned()));
        }
    }

    /// Since when a store has been found damaged, if it has (for `/healthz`).
    pub fn damaged_since(&self) -> Option<Timestamp> {
        self.storage.damaged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(|(since, _)| *since)
    }
}
