//! The storage conformance suite against PostgreSQL (store and keystore; blobs in
//! a local directory), one fresh database per case on the server that
//! `KIDVAULT_TEST_DATABASE` names. Without it, the cases are skipped.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kidvault_store::{BlobStore, Keystore, LocalBlobStore, Store};
use kidvault_store_postgres::{PgKeystore, PgStore};

type Backends = (tempfile::TempDir, Arc<dyn Store>, Arc<dyn Keystore>, Arc<dyn BlobStore>);

async fn postgres() -> Option<Backends> {
    let Some(url) = kidvault_store_postgres::testing::database().await else {
        eprintln!("skipped: KIDVAULT_TEST_DATABASE names no PostgreSQL server");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, keys) =
        tokio::task::spawn_blocking(move || (PgStore::open(&url, 8).unwrap(), PgKeystore::open(&url, 4).unwrap()))
            .await
            .unwrap();
    let blobs = LocalBlobStore::open(&dir.path().join("blobs")).unwrap();
    Some((dir, Arc::new(store), Arc::new(keys), Arc::new(blobs)))
}

kidvault_store::store_conformance_tests!(postgres());
