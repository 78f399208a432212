//! The S3 blob store against a real S3-compatible server (moto, started by
//! scripts/test) named by `KIDVAULT_TEST_S3=http://HOST:PORT`; skipped without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bytes::Bytes;
use kidvault_blob_s3::{S3BlobStore, S3Location};
use kidvault_store::{BlobStore, StoreError};

/// A store on a fresh bucket of its own (`kvtest-*`, which scripts/test counts).
async fn fresh(versioned: bool) -> Option<S3BlobStore> {
    let Some(endpoint) = kidvault_store::test_server("KIDVAULT_TEST_S3", "s3") else {
        eprintln!("skipped: KIDVAULT_TEST_S3 names no S3-compatible server");
        return None;
    };
    let bucket = format!("kvtest-{}", uuid::Uuid::now_v7().simple());
    let store = S3BlobStore::from_env(S3Location::parse(&format!("s3://{bucket}/kv?endpoint={endpoint}")).unwrap())
        .expect("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the test server");
    store.create_bucket().await.unwrap_or_else(|e| panic!("KIDVAULT_TEST_S3={endpoint} cannot be used: {e}"));
    if versioned {
        store.enable_versioning().await.unwrap();
    }
    Some(store)
}

/// The conformance suite's blob case, on S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_round_trip_and_delete_on_s3() {
    let Some(blobs) = fresh(false).await else { return };
    let dir = tempfile_dir();
    let store = kidvault_store_sqlite::SqliteStore::open(&dir.join("kidvault.db")).unwrap();
    let keys = kidvault_store_sqlite::SqliteKeystore::open(&dir.join("keystore.db")).unwrap();
    kidvault_store::conformance::blobs_round_trip_and_delete(Arc::new(store), Arc::new(keys), Arc::new(blobs)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// On a versioned bucket a plain DELETE keeps the bytes as an older version;
/// the store's deletion leaves no version and no delete marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_blob_removes_every_version_of_it() {
    let Some(blobs) = fresh(true).await else { return };
    let id = uuid::Uuid::now_v7();
    let first = blobs.put(id, Bytes::from_static(b"first ciphertext")).await.unwrap();
    let second = blobs.put(id, Bytes::from_static(b"second ciphertext")).await.unwrap();
    assert_eq!(first, second);
    let key = blobs.key_of(&first).unwrap();
    assert_eq!(blobs.versions(&key).await.unwrap().len(), 2, "two versions kept by the bucket");
    assert_eq!(blobs.get(&first).await.unwrap(), Bytes::from_static(b"second ciphertext"));

    blobs.delete(&first).await.unwrap();
    assert!(blobs.versions(&key).await.unwrap().is_empty(), "no version, no delete marker left");
    assert!(matches!(blobs.get(&first).await, Err(StoreError::NotFound)));
    // Deleting again (a retried step) is fine.
    blobs.delete(&first).await.unwrap();
    // Another store's locator is refused, not guessed at.
    let foreign = kidvault_store::BlobLocator("seg-1:0:16".into());
    assert!(matches!(blobs.get(&foreign).await, Err(StoreError::Corrupt(_))));
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kidvault-s3-test-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
