//! The keystore on its own SQLite file, apart from the data store: its
//! executor. [`crate::Keystore`] itself is the shared SQL's ([`crate::sql`]).

use std::path::Path;

use std::future::Future;

use super::Db;
use crate::sql::backend::{KeystoreBackend, SqlExecutor};
use crate::sql::{Tx, R};
use crate::Result;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/keystore_0001_init.sql")),
    (2, include_str!("../migrations/keystore_0002_item_keys.sql")),
    (3, include_str!("../migrations/keystore_0003_deployment.sql")),
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

impl SqlExecutor for SqliteKeystore {
    fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        self.db.write_tx(f)
    }

    fn read<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        self.db.read_tx(f)
    }

    fn lookup<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        std::future::ready(self.db.lookup_tx(f))
    }

    fn scrub(&self) -> impl Future<Output = Result<()>> + Send {
        self.db.scrub()
    }

    fn scrubs_its_files(&self) -> bool {
        true
    }
}

impl KeystoreBackend for SqliteKeystore {}
