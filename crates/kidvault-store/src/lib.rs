//! # kidvault-store
//!
//! Storage behind three traits, so the service never sees a backend:
//! - [`Store`]: households, guardians, sessions, children, consents, devices, item
//!   metadata and lineage, the access log. Child content arrives here already sealed.
//! - [`Keystore`]: wrapped child keys, per epoch, kept in its own file apart from the
//!   data store: a backup of the data directory holds no child key, and destroying a
//!   key here makes every copy of that child's data unreadable.
//! - [`BlobStore`]: large ciphertext (audio), addressed by an opaque [`BlobLocator`].
//!
//! [`sql`] implements `Store` and `Keystore` once, in SQL, for every SQL
//! backend (`kidvault-store-sqlite`, the embedded default;
//! `kidvault-store-postgres`); a backend supplies only how transactions run.
//! [`local_blob`] is the embedded `BlobStore` (append-only segment files, one
//! `fdatasync` per batch). The [`conformance`] suite states what every backend
//! must do.
//!
//! Invariant: nothing in this crate ever receives plaintext child content.

pub mod audit;
pub mod batch;
/// What every backend must do (for backends' tests: the `testing` feature).
#[cfg(feature = "testing")]
pub mod conformance;
pub mod local_blob;
pub mod model;
pub mod sql;
mod traits;

pub use local_blob::LocalBlobStore;
pub use model::*;
pub use traits::{BlobStore, Keystore, Store};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Lineage(#[from] kidvault_domain::lineage::LineageError),
    /// Data sealed under a child-key epoch that a rotation has retired: re-seal
    /// under the current key and retry.
    #[error("sealed under a retired key epoch")]
    StaleKeyEpoch,
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The disk (or the database's quota) is full: nothing was written.
    #[error("storage is full: {0}")]
    Full(String),
    /// The store cannot be reached now (a database restarting, a connection
    /// lost); the operation did not happen and may be tried again.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

impl From<kidvault_ledger::LedgerError> for StoreError {
    fn from(e: kidvault_ledger::LedgerError) -> Self {
        match e {
            kidvault_ledger::LedgerError::OutOfRange { .. } | kidvault_ledger::LedgerError::BadRange { .. } => {
                StoreError::NotFound
            }
            kidvault_ledger::LedgerError::MissingNode { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        if is_full(&e) {
            StoreError::Full(e.to_string())
        } else {
            StoreError::Backend(e.to_string())
        }
    }
}

/// The test server a test run names in `var` (`KIDVAULT_TEST_DATABASE`,
/// `KIDVAULT_TEST_S3`), or `None` when this run does not test that backend. A
/// run that asked for the backend (`KIDVAULT_REQUIRE_BACKENDS=postgres,s3`, set
/// by scripts/test for its second run) fails here instead of skipping.
pub fn test_server(var: &str, backend: &str) -> Option<String> {
    let value = std::env::var(var).ok().filter(|v| !v.is_empty() && v != "sqlite");
    let required = std::env::var("KIDVAULT_REQUIRE_BACKENDS")
        .is_ok_and(|v| v.split(',').any(|b| b.trim().eq_ignore_ascii_case(backend)));
    assert!(value.is_some() || !required, "this run requires the {backend} backend, but {var} names no server");
    value
}

/// Whether an I/O error says the disk or the user's quota is full.
pub fn is_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
        || e.raw_os_error() == Some(28) // ENOSPC
        || e.raw_os_error() == Some(122) // EDQUOT
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that meets ENOSPC is `Full`, not a generic failure: the API
    /// answers it `507 insufficient_storage`.
    #[test]
    fn a_full_disk_is_told_apart_from_other_failures() {
        let enospc = std::io::Error::from_raw_os_error(28);
        assert!(matches!(StoreError::from(enospc), StoreError::Full(_)));
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(matches!(StoreError::from(other), StoreError::Backend(_)));
    }
}
