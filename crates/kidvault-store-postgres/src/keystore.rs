//! [`Keystore`] on PostgreSQL, in its own schema `kidvault_keys` (see the crate docs
//! for what that means for backups and crypto-shredding).

use std::sync::Arc;

use std::future::Future;

use kidvault_store::sql::backend::{KeystoreBackend, SqlExecutor};
use kidvault_store::sql::{Tx, R};
use kidvault_store::Result;

use crate::db::PgDb;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/keystore_0001_init.sql")),
    (2, include_str!("../migrations/keystore_0002_item_keys.sql")),
    (3, include_str!("../migrations/keystore_0003_deployment.sql")),
];

/// The schema holding the wrapped child keys.
pub const KEYSTORE_SCHEMA: &str = "kidvault_keys";

#[derive(Debug, Clone)]
pub struct PgKeystore {
    db: Arc<PgDb>,
}

impl PgKeystore {
    /// Connects to `url` and migrates the `kidvault_keys` schema. Blocking.
    pub fn open(url: &str, max_connections: usize) -> Result<Self> {
        Ok(Self { db: Arc::new(PgDb::open(url, max_connections, KEYSTORE_SCHEMA, MIGRATIONS)?) })
    }
}

impl SqlExecutor for PgKeystore {
    fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        self.db.write(move |tx| Ok(f(tx)?))
    }

    fn read<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        self.db.read(move |tx| Ok(f(tx)?))
    }

    /// As for the data store: see [`crate::PgStore`]'s scrub.
    fn scrub(&self) -> impl Future<Output = Result<()>> + Send {
        std::future::ready(Ok(()))
    }

    fn scrubs_its_files(&self) -> bool {
        false
    }
}

impl KeystoreBackend for PgKeystore {}
