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
    (19, include_str!("../migrations/store_0019_child_major_datasets.sql")),
    (20, include_str!("../migrations/store_0020_guardian_language.sql")),
    (21, include_str!("../migrations/store_0021_pending_sign_ups.sql")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use kidvault_domain::ids::{ChildId, ConsentId, DatasetId, ItemId, ProcessorId, TaskId};
    use kidvault_store::Store;

    /// Migration 19 rebuilds `disclosures` and `dataset_items` child-major. A
    /// store written before it keeps every row: the snapshot still serves its
    /// items (a deleted one marked removed, a recalled one too), the register
    /// still counts and names its recall, and a row whose item still exists
    /// gains the item's category.
    #[tokio::test]
    async fn snapshots_and_the_register_written_before_migration_19_survive_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kidvault.db");
        let now = chrono::Utc::now();
        let (p, c, k, d) =
            (ProcessorId::generate(now), ChildId::generate(now), ConsentId::generate(now), DatasetId::generate(now));
        let (kept, gone, recalled) = (ItemId::generate(now), ItemId::generate(now), ItemId::generate(now));
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            crate::migrate(&conn, &MIGRATIONS[..18]).unwrap();
            // Only the rows the migration reads (no household, child or consent rows).
            conn.execute_batch("PRAGMA foreign_keys=OFF").unwrap();
            conn.execute(
                "INSERT INTO processors (id, name, url, categories, secret_wrapped, created_at, purpose)
                 VALUES (?1, 'asr', 'http://asr.example/', '[]', x'00', 1, 'training')",
                [p.as_bytes()],
            )
            .unwrap();
            for item in [kept, recalled] {
                conn.execute(
                    "INSERT INTO items (id, child_id, kind, category, state, recorded_at, received_at, size,
                                        key_epoch, wrapped_key, inline_content)
                     VALUES (?1, ?2, 'voice_recording', 'user.biometric.voice', 'live', 10, 10, 1, 1, x'00', x'00')",
                    [item.as_bytes(), c.as_bytes()],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO datasets (id, processor_id, criteria, shards, items, created_at) VALUES (?1, ?2, '{}', 4, 3, 20)",
                [d.as_bytes(), p.as_bytes()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO dataset_children (dataset_id, child_id, shard, consent_id) VALUES (?1, ?2, 1, ?3)",
                [d.as_bytes(), c.as_bytes(), k.as_bytes()],
            )
            .unwrap();
            for (n, item) in [kept, gone, recalled].iter().enumerate() {
                conn.execute(
                    "INSERT INTO dataset_items (dataset_id, item_id, child_id, kind, source_id, recorded_at, shard)
                     VALUES (?1, ?2, ?3, 'voice_recording', NULL, ?4, 1)",
                    rusqlite::params![d.as_bytes(), item.as_bytes(), c.as_bytes(), 10 + n as i64],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO disclosures (processor_id, item_id, child_id, category, consent_id, disclosed_at,
                                              recall_task_id)
                     VALUES (?1, ?2, ?3, 'user.biometric.voice', ?4, 20, ?5)",
                    rusqlite::params![
                        p.as_bytes(),
                        item.as_bytes(),
                        c.as_bytes(),
                        k.as_bytes(),
                        (*item == recalled).then(|| TaskId::generate(now).as_bytes().to_vec())
                    ],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        let items = store.dataset_items(d, None).await.unwrap();
        let removed: Vec<(ItemId, bool)> = items.iter().map(|i| (i.item_id, i.removed)).collect();
        assert_eq!(removed, vec![(kept, false), (gone, true), (recalled, true)]);
        assert_eq!(store.dataset_items(d, Some(1)).await.unwrap().len(), 3, "its shard");
        assert!(store.dataset_items(d, Some(0)).await.unwrap().is_empty(), "another shard");
        let register = store.child_disclosures(c).await.unwrap();
        assert_eq!(register.len(), 1);
        assert_eq!((register[0].items, register[0].recalled), (3, 1));
        let categories: Vec<Option<String>> = store
            .db
            .lookup(|conn| {
                let mut stmt = conn.prepare("SELECT category FROM dataset_items ORDER BY recorded_at")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .unwrap();
        let voice = Some("user.biometric.voice".to_owned());
        assert_eq!(categories, vec![voice.clone(), None, voice]);
    }
}
