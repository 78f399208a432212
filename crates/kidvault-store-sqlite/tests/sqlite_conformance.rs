//! The storage conformance suite against the embedded backends (SQLite store and
//! keystore, local-directory blob store).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kidvault_store::{BlobStore, Keystore, LocalBlobStore, Store};
use kidvault_store_sqlite::{SqliteKeystore, SqliteStore};

async fn embedded() -> Option<(tempfile::TempDir, Arc<dyn Store>, Arc<dyn Keystore>, Arc<dyn BlobStore>)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("data/kidvault.db")).unwrap();
    let keys = SqliteKeystore::open(&dir.path().join("keys/keystore.db")).unwrap();
    let blobs = LocalBlobStore::open(&dir.path().join("data/blobs")).unwrap();
    Some((dir, Arc::new(store), Arc::new(keys), Arc::new(blobs)))
}

kidvault_store::store_conformance_tests!(embedded());
