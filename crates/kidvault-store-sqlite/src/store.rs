//! The data store on SQLite: its executor (the [`Db`]) and its ledger proof
//! readers. [`kidvault_store::Store`] itself is the shared SQL's ([`kidvault_store::sql`]).

use std::path::Path;

use std::future::Future;

use kidvault_ledger::Hash;

use crate::{ledger as mapped, Db};
use kidvault_store::model::StoredEntry;
use kidvault_store::sql::backend::StoreBackend;
use kidvault_store::sql::ledger;
use kidvault_store::Result;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/store_0001_init.sql")),
    (2, include_str!("../migrations/store_0002_notices.sql")),
    (3, include_str!("../migrations/store_0003_invites.sql")),
    (4, include_str!("../migrations/store_0004_pending_consents.sql")),
    (5, include_str!("../migrations/store_0005_totp.sql")),
    (6, include_str!("../migrations/store_0006_dormancy.sql")),
    (7, include_str!("../migrations/store_0007_ledger_tiles.sql")),
    (8, include_str!("../migrations/store_0008_leases.sql")),
    (9, include_str!("../migrations/store_0009_sign_in_failures.sql")),
    (10, include_str!("../migrations/store_0010_deployment.sql")),
    (11, include_str!("../migrations/store_0011_disclosures.sql")),
    (12, include_str!("../migrations/store_0012_datasets.sql")),
    (13, include_str!("../migrations/store_0013_staff_access.sql")),
    (14, include_str!("../migrations/store_0014_sealed_justification.sql")),
    (15, include_str!("../migrations/store_0015_time_zone.sql")),
    (16, include_str!("../migrations/store_0016_keep_recordings.sql")),
    (17, include_str!("../migrations/store_0017_device_codes.sql")),
    (18, include_str!("../migrations/store_0018_session_labels.sql")),
];

/// The embedded data store: one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    db: Db,
    /// The ledger's upper subtree hashes, for fast proofs.
    upper: crate::upper::UpperNodes,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { db: Db::open(path, MIGRATIONS)?, upper: Default::default() })
    }
}

crate::db_executor!(SqliteStore);

/// The ledger's proofs and entries are read through connections that map the
/// file (see [`crate::Role::Mapped`]), the upper tree from memory.
impl StoreBackend for SqliteStore {
    fn ledger_hashes(&self, ranges: Vec<(u64, u64)>) -> impl Future<Output = Result<Vec<Hash>>> + Send {
        std::future::ready(self.db.lookup_mapped(|c| mapped::hashes_of(c, &self.upper, &ranges)).map_err(Into::into))
    }

    fn ledger_entry(&self, index: u64) -> impl Future<Output = Result<Option<StoredEntry>>> + Send {
        std::future::ready(self.db.lookup_mapped_tx(move |tx| ledger::entry(tx, index)).map_err(Into::into))
    }
}
