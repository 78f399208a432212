//! [`Keystore`] on PostgreSQL, in its own schema `kidvault_keys` (see the crate docs
//! for what that means for backups and crypto-shredding).

use std::sync::Arc;

use kidvault_store::sql::backend::KeystoreBackend;
use kidvault_store::Result;

use crate::db::PgDb;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/keystore_0001_init.sql")),
    (2, include_str!("../migrations/keystore_0002_item_keys.sql")),
    (3, include_str!("../migrations/keystore_0003_deployment.sql")),
    (4, include_str!("../migrations/keystore_0004_seal_generations.sql")),
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

crate::db::pg_executor!(PgKeystore);

impl KeystoreBackend for PgKeystore {}
