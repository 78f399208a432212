//! [`Keystore`] on its own SQLite file, apart from the data store.

use std::path::Path;

use async_trait::async_trait;
use kidvault_domain::ids::ChildId;
use kidvault_domain::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::{ts_to_sql, Db};
use crate::{Keystore, Result, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/keystore_0001_init.sql"))];

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
            .write(move |c| Ok(c.execute("DELETE FROM child_keys WHERE child_id = ?1", [child.as_bytes()])? as u64))
            .await
    }

    async fn destroy_child_keys_below(&self, child: ChildId, epoch: u32) -> Result<u64> {
        self.db
            .write(move |c| {
                Ok(c.execute(
                    "DELETE FROM child_keys WHERE child_id = ?1 AND epoch < ?2",
                    params![child.as_bytes(), epoch],
                )? as u64)
            })
            .await
    }
}
