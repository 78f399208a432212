//! [`Keystore`] on its own SQLite file, apart from the data store.

use std::path::Path;

use async_trait::async_trait;
use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_domain::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::{ts_to_sql, Db};
use crate::{ItemKey, Keystore, Result, StoreError};

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

#[async_trait]
impl Keystore for SqliteKeystore {
    async fn insert_child_key(&self, child: ChildId, epoch: u32, wrapped: &[u8], at: Timestamp) -> Result<()> {
        let wrapped = wrapped.to_vec();
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT INTO child_keys (child_id, epoch, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![child.as_bytes(), epoch, wrapped, ts_to_sql(at)],
                )
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                        StoreError::Conflict(format!("child key epoch {epoch} exists"))
                    }
                    e => e.into(),
                })?;
                Ok(())
            })
            .await
    }

    async fn child_key(&self, child: ChildId, epoch: u32) -> Result<Option<Vec<u8>>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached("SELECT wrapped FROM child_keys WHERE child_id = ?1 AND epoch = ?2")?
                    .query_row(params![child.as_bytes(), epoch], |r| r.get(0))
                    .optional()?)
            })
            .await
    }

    async fn latest_child_key(&self, child: ChildId) -> Result<Option<(u32, Vec<u8>)>> {
        self.db
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT epoch, wrapped FROM child_keys WHERE child_id = ?1 ORDER BY epoch DESC LIMIT 1",
                )?
                .query_row([child.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
            })
            .await
    }

    async fn destroy_child_keys(&self, child: ChildId) -> Result<u64> {
        self.db
            .write(move |c| {
                c.execute("DELETE FROM item_keys WHERE child_id = ?1", [child.as_bytes()])?;
                Ok(c.execute("DELETE FROM child_keys WHERE child_id = ?1", [child.as_bytes()])? as u64)
            })
            .await
    }

    async fn put_item_keys(&self, keys: &[ItemKey]) -> Result<()> {
        let keys = keys.to_vec();
        self.db
            .write(move |c| {
                let mut stmt = c.prepare_cached(
                    "INSERT INTO item_keys (item_id, child_id, epoch, wrapped) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (item_id) DO UPDATE SET epoch = excluded.epoch, wrapped = excluded.wrapped",
                )?;
                for k in &keys {
                    stmt.execute(params![k.item.as_bytes(), k.child.as_bytes(), k.epoch, k.wrapped])?;
                }
                Ok(())
            })
            .await
    }

    async fn item_key(&self, item: ItemId) -> Result<Option<(u32, Vec<u8>)>> {
        // A point lookup by primary key: served inline (see `Db::lookup`).
        self.db.lookup(move |c| {
            Ok(c.prepare_cached("SELECT epoch, wrapped FROM item_keys WHERE item_id = ?1")?
                .query_row([item.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
    }

    async fn destroy_item_keys(&self, items: &[ItemId]) -> Result<u64> {
        let items = items.to_vec();
        self.db
            .write(move |c| {
                let mut stmt = c.prepare_cached("DELETE FROM item_keys WHERE item_id = ?1")?;
                let mut n = 0;
                for i in &items {
                    n += stmt.execute([i.as_bytes()])? as u64;
                }
                Ok(n)
            })
            .await
    }

    async fn scrub(&self) -> Result<()> {
        self.db.scrub().await
    }

    fn scrubs_its_files(&self) -> bool {
        true
    }

    async fn deployment_binding(&self) -> Result<Option<String>> {
        self.db.deployment_binding().await
    }

    async fn bind_deployment(&self, binding: &str) -> Result<String> {
        self.db.bind_deployment(binding).await
    }
}
