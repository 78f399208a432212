//! The data store on PostgreSQL: its executor (the pool, SERIALIZABLE
//! transactions retried on conflict). [`kidvault_store::Store`] itself is the
//! shared SQL's ([`kidvault_store::sql`]).

use std::sync::Arc;

use kidvault_store::sql::backend::StoreBackend;
use kidvault_store::Result;

use crate::db::PgDb;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/store_0001_init.sql")),
    (2, include_str!("../migrations/store_0002_sign_in_failures.sql")),
    (3, include_str!("../migrations/store_0003_deployment.sql")),
    (4, include_str!("../migrations/store_0004_disclosures.sql")),
    (5, include_str!("../migrations/store_0005_datasets.sql")),
    (6, include_str!("../migrations/store_0006_staff_access.sql")),
    (7, include_str!("../migrations/store_0007_sealed_justification.sql")),
    (8, include_str!("../migrations/store_0008_time_zone.sql")),
    (9, include_str!("../migrations/store_0009_keep_recordings.sql")),
    (10, include_str!("../migrations/store_0010_device_codes.sql")),
    (11, include_str!("../migrations/store_0011_session_labels.sql")),
    (12, include_str!("../migrations/store_0012_child_major_datasets.sql")),
    (13, include_str!("../migrations/store_0013_guardian_language.sql")),
    (14, include_str!("../migrations/store_0014_pending_sign_ups.sql")),
];

/// The data store on a PostgreSQL database (schema `public`).
#[derive(Debug, Clone)]
pub struct PgStore {
    db: Arc<PgDb>,
}

impl PgStore {
    /// Connects to `url` and migrates the schema. Blocking: call before serving,
    /// or from a blocking thread.
    pub fn open(url: &str, max_connections: usize) -> Result<Self> {
        Ok(Self { db: Arc::new(PgDb::open(url, max_connections, "public", MIGRATIONS)?) })
    }

    /// Transactions run again after a serialization failure since opening.
    pub fn retries(&self) -> u64 {
        self.db.retries()
    }
}

crate::db::pg_executor!(PgStore);

impl StoreBackend for PgStore {}
