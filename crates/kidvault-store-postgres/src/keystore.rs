//! [`Keystore`] on PostgreSQL, in its own schema `kidvault_keys` (see the crate docs
//! for what that means for backups and crypto-shredding).

use std::sync::Arc;

use async_trait::async_trait;
use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_domain::Timestamp;
use kidvault_store::{ItemKey, Keystore, Result};

use crate::db::{conflict_if_unique, PgDb};
use crate::rows::{ts_to_sql, Get};

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

#[async_trait]
impl Keystore for PgKeystore {
    async fn insert_child_key(&self, child: ChildId, epoch: u32, wrapped: &[u8], at: Timestamp) -> Result<()> {
        let wrapped = wrapped.to_vec();
        self.db
            .write(move |tx| {
                let inserted = tx.exec(
                    "INSERT INTO kidvault_keys.child_keys (child_id, epoch, wrapped, created_at) VALUES ($1, $2, $3, $4)",
                    &[&child.0, &i64::from(epoch), &wrapped, &ts_to_sql(at)],
                );
                conflict_if_unique(inserted, || format!("child key epoch {epoch} exists"))?;
                Ok(())
            })
            .await
    }

    async fn child_key(&self, child: ChildId, epoch: u32) -> Result<Option<Vec<u8>>> {
        self.db
            .read(move |tx| {
                tx.opt(
                    "SELECT wrapped FROM kidvault_keys.child_keys WHERE child_id = $1 AND epoch = $2",
                    &[&child.0, &i64::from(epoch)],
                )?
                .map(|r| r.val("wrapped"))
                .transpose()
            })
            .await
    }

    async fn latest_child_key(&self, child: ChildId) -> Result<Option<(u32, Vec<u8>)>> {
        self.db
            .read(move |tx| {
                tx.opt(
                    "SELECT epoch, wrapped FROM kidvault_keys.child_keys WHERE child_id = $1 ORDER BY epoch DESC LIMIT 1",
                    &[&child.0],
                )?
                .map(|r| Ok((r.epoch("epoch")?, r.val("wrapped")?)))
                .transpose()
            })
            .await
    }

    async fn destroy_child_keys(&self, child: ChildId) -> Result<u64> {
        self.db
            .write(move |tx| {
                tx.exec("DELETE FROM kidvault_keys.item_keys WHERE child_id = $1", &[&child.0])?;
                tx.exec("DELETE FROM kidvault_keys.child_keys WHERE child_id = $1", &[&child.0])
            })
            .await
    }

    async fn put_item_keys(&self, keys: &[ItemKey]) -> Result<()> {
        let items: Vec<uuid::Uuid> = keys.iter().map(|k| k.item.0).collect();
        let children: Vec<uuid::Uuid> = keys.iter().map(|k| k.child.0).collect();
        let epochs: Vec<i64> = keys.iter().map(|k| i64::from(k.epoch)).collect();
        let wrapped: Vec<Vec<u8>> = keys.iter().map(|k| k.wrapped.clone()).collect();
        self.db
            .write(move |tx| {
                tx.exec(
                    "INSERT INTO kidvault_keys.item_keys (item_id, child_id, epoch, wrapped)
                     SELECT * FROM unnest($1::UUID[], $2::UUID[], $3::BIGINT[], $4::BYTEA[])
                     ON CONFLICT (item_id) DO UPDATE SET epoch = excluded.epoch, wrapped = excluded.wrapped",
                    &[&items, &children, &epochs, &wrapped],
                )?;
                Ok(())
            })
            .await
    }

    async fn item_key(&self, item: ItemId) -> Result<Option<(u32, Vec<u8>)>> {
        self.db
            .read(move |tx| {
                tx.opt("SELECT epoch, wrapped FROM kidvault_keys.item_keys WHERE item_id = $1", &[&item.0])?
                    .map(|r| Ok((r.epoch("epoch")?, r.val("wrapped")?)))
                    .transpose()
            })
            .await
    }

    async fn destroy_item_keys(&self, items: &[ItemId]) -> Result<u64> {
        let items: Vec<uuid::Uuid> = items.iter().map(|i| i.0).collect();
        self.db.write(move |tx| tx.exec("DELETE FROM kidvault_keys.item_keys WHERE item_id = ANY($1)", &[&items])).await
    }

    /// PostgreSQL keeps a deleted row's bytes in the table file until VACUUM
    /// reuses the space, and in WAL segments until they are recycled: kidvault
    /// cannot remove them, and says so (README, "Erasure on PostgreSQL").
    async fn scrub(&self) -> Result<()> {
        Ok(())
    }

    fn scrubs_its_files(&self) -> bool {
        false
    }

    async fn deployment_binding(&self) -> Result<Option<String>> {
        self.db.deployment_binding(KEYSTORE_SCHEMA).await
    }

    async fn bind_deployment(&self, binding: &str) -> Result<String> {
        self.db.bind_deployment(KEYSTORE_SCHEMA, binding).await
    }
}
