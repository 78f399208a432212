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
//! Backends: [`sqlite`] (embedded default: WAL, one writer thread that commits
//! concurrent requests together, read connections in parallel) and
//! [`local_blob`] (append-only segment files, one `fdatasync` per batch). The
//! [`conformance`] suite states what every backend must do; a PostgreSQL backend
//! runs the same suite.
//!
//! Invariant: nothing in this crate ever receives plaintext child content.

pub mod audit;
mod batch;
pub mod conformance;
pub mod local_blob;
pub mod model;
pub mod sqlite;
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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
