//! The keystore on its own SQLite file, apart from the data store: its
//! executor. [`kidvault_store::Keystore`] itself is the shared SQL's ([`kidvault_store::sql`]).

use std::path::Path;

use crate::Db;
use kidvault_store::sql::backend::KeystoreBackend;
use kidvault_store::Result;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/keystore_0001_init.sql")),
    (2, include_str!("../migrations/keystore_0002_item_keys.sql")),
    (3, include_str!("../migrations/keystore_0003_deployment.sql")),
    (4, include_str!("../migrations/keystore_0004_seal_generations.sql")),
];

#[derive(Debug)]
pub struct SqliteKeystore {
    db: Db,
}

impl SqliteKeystore {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { db: Db::open(path, MIGRATIONS)? })
    }
}

crate::db_executor!(SqliteKeystore);

impl KeystoreBackend for SqliteKeystore {}
