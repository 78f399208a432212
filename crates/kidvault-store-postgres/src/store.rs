//! [`Store`] on PostgreSQL: children, consents, devices and items here; the rest
//! in the sibling modules, one transaction body per function.

use std::sync::Arc;

use async_trait::async_trait;
use kidvault_domain::consent::{Consent, ConsentMethod, ConsentScope, ScopeGrant};
use kidvault_domain::deletion::{DeletionScope, DeletionStep};
use kidvault_domain::entities::{Child, ChildStatus, Device};
use kidvault_domain::ids::*;
use kidvault_domain::item::{DataCategory, ItemKind, ItemMeta, ItemState};
use kidvault_domain::lineage::{check_derivation, SourceView};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_ledger::Hash;
use kidvault_store::model::*;
use kidvault_store::{Result, Store, StoreError};
use postgres::Row;

use crate::db::{conflict_if_unique, PgDb, Tx, E, R};
use crate::rows::{corrupt, limit, ts_to_sql, Get};
use crate::{deletions, downstream, ledger, sweeps};
use kidvault_store::sql::{accounts, outbox};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/store_0001_init.sql")),
    (2, include_str!("../migrations/store_0002_sign_in_failures.sql")),
    (3, include_str!("../migrations/store_0003_deployment.sql")),
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

pub(crate) const CHILD_COLS: &str =
    "id, household_id, status, created_at, last_active_at, profile_epoch, profile_key, profile";

fn child_row(r: &Row) -> R<ChildRecord> {
    Ok(ChildRecord {
        child: Child {
            id: r.id("id")?,
            household_id: r.id("household_id")?,
            status: r.parsed("status", ChildStatus::parse)?,
            created_at: r.ts("created_at")?,
            last_active_at: r.opt_ts("last_active_at")?,
        },
        profile: Sealed {
            epoch: r.epoch("profile_epoch")?,
            wrapped_key: r.val("profile_key")?,
            ciphertext: r.val("profile")?,
        },
    })
}

const DEVICE_COLS: &str = "id, household_id, child_id, token_hash, created_at, revoked_at, name_epoch, name_key, name";

fn device_row(r: &Row) -> R<DeviceRecord> {
    Ok(DeviceRecord {
        device: Device {
            id: r.id("id")?,
            household_id: r.id("household_id")?,
            child_id: r.id("child_id")?,
            created_at: r.ts("created_at")?,
            revoked_at: r.opt_ts("revoked_at")?,
        },
        name: Sealed { epoch: r.epoch("name_epoch")?, wrapped_key: r.val("name_key")?, ciphertext: r.val("name")? },
        token_hash: r.hash32("token_hash")?,
    })
}

fn query_child(tx: &mut Tx<'_>, child: ChildId) -> R<Option<ChildRecord>> {
    tx.opt(&format!("SELECT {CHILD_COLS} FROM children WHERE id = $1"), &[&child.0])?
        .as_ref()
        .map(child_row)
        .transpose()
}

fn query_consents(tx: &mut Tx<'_>, child: ChildId) -> R<Vec<Consent>> {
    let rows = tx.rows(
        "SELECT id, child_id, guardian_id, method, evidence_ref, notice_version, granted_at
         FROM consents WHERE child_id = $1 ORDER BY granted_at, id",
        &[&child.0],
    )?;
    let mut consents = rows
        .iter()
        .map(|r| {
            Ok(Consent {
                id: r.id("id")?,
                child_id: r.id("child_id")?,
                guardian_id: r.id("guardian_id")?,
                method: r.parsed("method", ConsentMethod::parse)?,
                evidence_ref: r.val("evidence_ref")?,
                notice_version: r.val("notice_version")?,
                granted_at: r.ts("granted_at")?,
                scopes: Vec::new(),
            })
        })
        .collect::<R<Vec<_>>>()?;
    for r in tx.rows(
        "SELECT consent_id, scope, withdrawn_at FROM consent_scopes WHERE child_id = $1 ORDER BY scope",
        &[&child.0],
    )? {
        let consent_id: ConsentId = r.id("consent_id")?;
        let grant =
            ScopeGrant { scope: r.parsed("scope", ConsentScope::parse)?, withdrawn_at: r.opt_ts("withdrawn_at")? };
        if let Some(c) = consents.iter_mut().find(|c| c.id == consent_id) {
            c.scopes.push(grant);
        }
    }
    Ok(consents)
}

pub(crate) const ITEM_COLS: &str = "id, child_id, kind, category, state, recorded_at, received_at, device_id, size,
    key_epoch, wrapped_key, inline_content, blob_locator";

pub(crate) fn item_row(tx: &mut Tx<'_>, r: &Row) -> R<ItemRecord> {
    let item_id: ItemId = r.id("id")?;
    let inline: Option<Vec<u8>> = r.val("inline_content")?;
    let locator: Option<String> = r.val("blob_locator")?;
    let content = match (inline, locator) {
        (Some(c), None) => StoredContent::Inline(c),
        (None, Some(l)) => StoredContent::Blob(BlobLocator(l)),
        _ => return Err(corrupt("item content")),
    };
    let derived_from = tx
        .rows("SELECT source_id FROM item_edges WHERE item_id = $1 ORDER BY source_id", &[&item_id.0])?
        .iter()
        .map(|e| e.id("source_id"))
        .collect::<R<Vec<ItemId>>>()?;
    Ok(ItemRecord {
        meta: ItemMeta {
            id: item_id,
            child_id: r.id("child_id")?,
            kind: r.parsed("kind", ItemKind::parse)?,
            category: r.parsed("category", DataCategory::parse)?,
            state: r.parsed("state", ItemState::parse)?,
            recorded_at: r.ts("recorded_at")?,
            received_at: r.ts("received_at")?,
            device_id: r.val::<Option<uuid::Uuid>>("device_id")?.map(DeviceId),
            derived_from,
            size: u64::try_from(r.val::<i64>("size")?).map_err(|_| corrupt("size"))?,
        },
        key_epoch: r.epoch("key_epoch")?,
        wrapped_key: r.val("wrapped_key")?,
        content,
    })
}

/// Data sealed under a key epoch that a rotation has since retired is refused.
pub(crate) fn require_current_epoch(tx: &mut Tx<'_>, child: ChildId, epoch: u32) -> R<()> {
    let current = tx.opt("SELECT key_epoch FROM children WHERE id = $1", &[&child.0])?;
    if current.is_some_and(|r| r.get::<_, i64>(0) != i64::from(epoch)) {
        return Err(E::Store(StoreError::StaleKeyEpoch));
    }
    Ok(())
}

fn insert_item_tx(tx: &mut Tx<'_>, item: &ItemRecord) -> R<()> {
    let m = &item.meta;
    // Lineage is checked against what the store holds *now*, inside the write.
    let mut found = Vec::with_capacity(m.derived_from.len());
    for src in &m.derived_from {
        if let Some(r) = tx.opt("SELECT child_id, state FROM items WHERE id = $1", &[&src.0])? {
            found.push(SourceView {
                id: *src,
                child_id: r.id("child_id")?,
                state: r.parsed("state", ItemState::parse)?,
            });
        }
    }
    check_derivation(m.child_id, m.kind, &m.derived_from, &found)?;
    require_current_epoch(tx, m.child_id, item.key_epoch)?;
    let (inline, locator) = match &item.content {
        StoredContent::Inline(c) => (Some(c.as_slice()), None),
        StoredContent::Blob(l) => (None, Some(l.0.as_str())),
    };
    let inserted = tx.exec(
        "INSERT INTO items (id, child_id, kind, category, state, recorded_at, received_at, device_id, size,
            key_epoch, wrapped_key, inline_content, blob_locator)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &m.id.0,
            &m.child_id.0,
            &m.kind.as_str(),
            &m.category.as_str(),
            &m.state.as_str(),
            &ts_to_sql(m.recorded_at),
            &ts_to_sql(m.received_at),
            &m.device_id.map(|d| d.0),
            &i64::try_from(m.size).map_err(|_| corrupt("size"))?,
            &i64::from(item.key_epoch),
            &item.wrapped_key,
            &inline,
            &locator,
        ],
    );
    conflict_if_unique(inserted, || format!("item {} exists", m.id))?;
    for src in &m.derived_from {
        tx.exec("INSERT INTO item_edges (item_id, source_id) VALUES ($1, $2)", &[&m.id.0, &src.0])?;
    }
    // Activity at one-minute resolution; activity ends dormancy.
    tx.exec(
        "UPDATE children SET last_active_at = $2, dormant_at = NULL, dormancy_deletion_at = NULL, reminded_at = NULL
         WHERE id = $1 AND (last_active_at IS NULL OR last_active_at <= $2::BIGINT - 60000000)",
        &[&m.child_id.0, &ts_to_sql(m.received_at)],
    )?;
    Ok(())
}

/// Maps rows with `f`.
pub(crate) fn map<T>(rows: &[Row], f: impl Fn(&Row) -> R<T>) -> R<Vec<T>> {
    rows.iter().map(f).collect()
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        self.db.read(|tx| tx.one("SELECT 1", &[]).map(|_| ())).await
    }

    async fn create_household(&self, household: HouseholdId, g: &GuardianRecord) -> Result<()> {
        let g = g.clone();
        self.db.write(move |tx| Ok(accounts::create_household(tx, household, &g)?)).await
    }

    async fn guardian_by_email(&self, email: &str) -> Result<Option<GuardianRecord>> {
        let email = email.to_owned();
        self.db.read(move |tx| Ok(accounts::guardian_by_email(tx, &email)?)).await
    }

    async fn create_session(&self, s: &SessionRecord) -> Result<()> {
        let s = s.clone();
        self.db.write(move |tx| Ok(accounts::create_session(tx, &s)?)).await
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>> {
        let h = *token_hash;
        self.db.read(move |tx| Ok(accounts::session(tx, &h)?)).await
    }

    async fn create_child(&self, r: &ChildRecord) -> Result<()> {
        let r = r.clone();
        self.db
            .write(move |tx| {
                let closing = tx.opt("SELECT closing_at FROM households WHERE id = $1", &[&r.child.household_id.0])?;
                if closing.is_some_and(|row| row.get::<_, Option<i64>>(0).is_some()) {
                    return Err(E::Store(StoreError::Conflict("the household is closing".into())));
                }
                tx.exec(
                    &format!("INSERT INTO children ({CHILD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
                    &[
                        &r.child.id.0,
                        &r.child.household_id.0,
                        &r.child.status.as_str(),
                        &ts_to_sql(r.child.created_at),
                        &r.child.last_active_at.map(ts_to_sql),
                        &i64::from(r.profile.epoch),
                        &r.profile.wrapped_key,
                        &r.profile.ciphertext,
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn child(&self, child: ChildId) -> Result<Option<ChildRecord>> {
        self.db.read(move |tx| query_child(tx, child)).await
    }

    async fn children_of(&self, household: HouseholdId) -> Result<Vec<ChildRecord>> {
        self.db
            .read(move |tx| {
                let rows = tx.rows(
                    &format!("SELECT {CHILD_COLS} FROM children WHERE household_id = $1 ORDER BY created_at, id"),
                    &[&household.0],
                )?;
                map(&rows, child_row)
            })
            .await
    }

    async fn record_consent(&self, consent: &Consent, entry: &NewEntry) -> Result<()> {
        let (k, entry) = (consent.clone(), entry.clone());
        self.db
            .write(move |tx| {
                accounts::insert_consent(tx, &k)?;
                ledger::append(tx, std::slice::from_ref(&entry))?;
                Ok(())
            })
            .await
    }

    async fn consents_of(&self, child: ChildId) -> Result<Vec<Consent>> {
        self.db.read(move |tx| query_consents(tx, child)).await
    }

    async fn withdraw_scope(
        &self,
        child: ChildId,
        scope: ConsentScope,
        at: Timestamp,
        entry: &NewEntry,
    ) -> Result<u64> {
        let entry = entry.clone();
        self.db
            .write(move |tx| {
                let n = tx.exec(
                    "UPDATE consent_scopes SET withdrawn_at = $3
                     WHERE child_id = $1 AND scope = $2 AND withdrawn_at IS NULL",
                    &[&child.0, &scope.as_str(), &ts_to_sql(at)],
                )?;
                if n > 0 {
                    ledger::append(tx, std::slice::from_ref(&entry))?;
                }
                Ok(n)
            })
            .await
    }

    async fn create_device(&self, d: &DeviceRecord) -> Result<()> {
        let d = d.clone();
        self.db
            .write(move |tx| {
                require_current_epoch(tx, d.device.child_id, d.name.epoch)?;
                tx.exec(
                    &format!("INSERT INTO devices ({DEVICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
                    &[
                        &d.device.id.0,
                        &d.device.household_id.0,
                        &d.device.child_id.0,
                        &&d.token_hash[..],
                        &ts_to_sql(d.device.created_at),
                        &d.device.revoked_at.map(ts_to_sql),
                        &i64::from(d.name.epoch),
                        &d.name.wrapped_key,
                        &d.name.ciphertext,
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn device(&self, device: DeviceId) -> Result<Option<DeviceRecord>> {
        self.db
            .read(move |tx| {
                tx.opt(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1"), &[&device.0])?
                    .as_ref()
                    .map(device_row)
                    .transpose()
            })
            .await
    }

    async fn revoke_device(&self, device: DeviceId, at: Timestamp) -> Result<bool> {
        self.db
            .write(move |tx| {
                let n = tx.exec(
                    "UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&device.0, &ts_to_sql(at)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn devices_of(&self, child: ChildId) -> Result<Vec<DeviceRecord>> {
        self.db
            .read(move |tx| {
                let rows = tx.rows(
                    &format!("SELECT {DEVICE_COLS} FROM devices WHERE child_id = $1 ORDER BY created_at, id"),
                    &[&child.0],
                )?;
                map(&rows, device_row)
            })
            .await
    }

    async fn ingest_context(&self, token_hash: &[u8; 32]) -> Result<Option<IngestContext>> {
        let h = *token_hash;
        self.db
            .read(move |tx| {
                let Some(row) =
                    tx.opt(&format!("SELECT {DEVICE_COLS} FROM devices WHERE token_hash = $1"), &[&&h[..]])?
                else {
                    return Ok(None);
                };
                let device = device_row(&row)?;
                let child = query_child(tx, device.device.child_id)?.ok_or_else(|| corrupt("device without child"))?;
                let consents = query_consents(tx, device.device.child_id)?;
                Ok(Some(IngestContext { device, child, consents }))
            })
            .await
    }

    async fn insert_item(&self, item: &ItemRecord) -> Result<()> {
        let item = item.clone();
        self.db.write(move |tx| insert_item_tx(tx, &item)).await
    }

    async fn blob_items(&self, after: Option<ItemId>, limit: u32) -> Result<Vec<(ItemId, BlobLocator)>> {
        let after = after.map_or(uuid::Uuid::nil(), |a| a.0);
        self.db
            .read(move |tx| {
                let rows = tx.rows(
                    "SELECT id, blob_locator FROM items WHERE blob_locator IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
                    &[&after, &i64::from(limit)],
                )?;
                Ok(rows.iter().map(|r| (ItemId(r.get(0)), BlobLocator(r.get(1)))).collect())
            })
            .await
    }

    async fn relocate_blob(&self, item: ItemId, from: &BlobLocator, to: &BlobLocator) -> Result<bool> {
        let (from, to) = (from.0.clone(), to.0.clone());
        self.db
            .write(move |tx| {
                let n = tx.exec(
                    "UPDATE items SET blob_locator = $3 WHERE id = $1 AND blob_locator = $2",
                    &[&item.0, &from, &to],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn item(&self, item: ItemId) -> Result<Option<ItemRecord>> {
        self.db
            .read(move |tx| match tx.opt(&format!("SELECT {ITEM_COLS} FROM items WHERE id = $1"), &[&item.0])? {
                Some(r) => item_row(tx, &r).map(Some),
                None => Ok(None),
            })
            .await
    }

    async fn list_items(&self, child: ChildId, f: &ItemFilter) -> Result<Vec<ItemMeta>> {
        let f = f.clone();
        self.db
            .read(move |tx| {
                let (after_t, after_id) = match f.after {
                    Some((t, id)) => (Some(ts_to_sql(t)), Some(id.0)),
                    None => (None, None),
                };
                let rows = tx.rows(
                    &format!(
                        "SELECT {ITEM_COLS} FROM items
                         WHERE child_id = $1 AND state = 'live'
                           AND ($2::TEXT IS NULL OR kind = $2)
                           AND ($3::BIGINT IS NULL OR recorded_at >= $3)
                           AND ($4::BIGINT IS NULL OR recorded_at < $4)
                           AND ($5::BIGINT IS NULL OR recorded_at < $5 OR (recorded_at = $5 AND id < $6))
                         ORDER BY recorded_at DESC, id DESC
                         LIMIT $7"
                    ),
                    &[
                        &child.0,
                        &f.kind.map(|k| k.as_str()),
                        &f.from.map(ts_to_sql),
                        &f.to.map(ts_to_sql),
                        &after_t,
                        &after_id,
                        &limit(f.limit),
                    ],
                )?;
                rows.iter().map(|r| item_row(tx, r).map(|i| i.meta)).collect()
            })
            .await
    }

    async fn derived_from(&self, item: ItemId) -> Result<Vec<ItemId>> {
        self.db
            .read(move |tx| {
                let rows =
                    tx.rows("SELECT item_id FROM item_edges WHERE source_id = $1 ORDER BY item_id", &[&item.0])?;
                map(&rows, |r| r.id("item_id"))
            })
            .await
    }

    async fn append_entries(&self, entries: &[NewEntry]) -> Result<Vec<u64>> {
        let entries = entries.to_vec();
        self.db.write(move |tx| ledger::append(tx, &entries)).await
    }

    async fn ledger_size(&self) -> Result<u64> {
        self.db.read(ledger::size).await
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<StoredEntry>> {
        self.db.read(move |tx| ledger::entry(tx, index)).await
    }

    async fn child_entries(&self, child: ChildId, kind: Option<EntryKind>) -> Result<Vec<StoredEntry>> {
        self.db.read(move |tx| ledger::child_entries(tx, child, kind)).await
    }

    async fn ledger_root(&self, size: u64) -> Result<Hash> {
        if size == 0 {
            return Ok(kidvault_ledger::hash::empty_root());
        }
        self.db.read(move |tx| Ok(ledger::hashes_of(tx, &[(0, size)])?[0])).await
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        let ranges = kidvault_ledger::tree::inclusion_ranges(index, size)?;
        self.db.read(move |tx| ledger::hashes_of(tx, &ranges)).await
    }

    async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>> {
        let ranges = kidvault_ledger::tree::consistency_ranges(from, to)?;
        self.db.read(move |tx| ledger::hashes_of(tx, &ranges)).await
    }

    async fn save_checkpoint(&self, size: u64, at: Timestamp, note: &str) -> Result<()> {
        let note = note.to_owned();
        self.db.write(move |tx| ledger::save_checkpoint(tx, size, at, &note)).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        self.db.read(ledger::latest_checkpoint).await
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<String>> {
        self.db.read(move |tx| ledger::checkpoint_at(tx, size)).await
    }

    async fn create_deletion(&self, d: &DeletionRecord) -> Result<()> {
        let d = d.clone();
        self.db.write(move |tx| deletions::create(tx, &d)).await
    }

    async fn deletion(&self, id: DeletionId) -> Result<Option<DeletionRecord>> {
        self.db.read(move |tx| deletions::get(tx, id)).await
    }

    async fn open_deletions(&self) -> Result<Vec<DeletionRecord>> {
        self.db.read(deletions::open).await
    }

    async fn resolve_deletion(&self, id: DeletionId, at: Timestamp) -> Result<u64> {
        self.db.write(move |tx| deletions::resolve(tx, id, at)).await
    }

    async fn shred_deletion_items(&self, id: DeletionId, at: Timestamp) -> Result<()> {
        self.db.write(move |tx| deletions::shred_items(tx, id, at)).await
    }

    async fn set_deletion_step(&self, id: DeletionId, step: DeletionStep, at: Timestamp) -> Result<()> {
        self.db.write(move |tx| deletions::set_step(tx, id, step, at)).await
    }

    async fn set_rotation_epoch(&self, id: DeletionId, epoch: u32) -> Result<()> {
        self.db.write(move |tx| deletions::set_rotation_epoch(tx, id, epoch)).await
    }

    async fn legacy_item_keys(&self, limit: u32) -> Result<Vec<ItemKey>> {
        self.db.read(move |tx| deletions::legacy_item_keys(tx, limit)).await
    }

    async fn clear_legacy_item_keys(&self, keys: &[ItemKey]) -> Result<u64> {
        let keys = keys.to_vec();
        self.db.write(move |tx| deletions::clear_legacy_item_keys(tx, &keys)).await
    }

    /// See [`kidvault_store::Keystore::scrub`] on PostgreSQL: nothing kidvault can do.
    async fn scrub(&self) -> Result<()> {
        Ok(())
    }

    async fn deployment_binding(&self) -> Result<Option<String>> {
        self.db.deployment_binding("public").await
    }

    async fn bind_deployment(&self, binding: &str) -> Result<String> {
        self.db.bind_deployment("public", binding).await
    }

    async fn deletion_items(&self, id: DeletionId) -> Result<Vec<DeletionItem>> {
        self.db.read(move |tx| deletions::items(tx, id)).await
    }

    async fn preview_deletion(&self, child: ChildId, scope: &DeletionScope) -> Result<Vec<(ItemKind, u64)>> {
        let scope = scope.clone();
        self.db.read(move |tx| deletions::preview(tx, child, &scope)).await
    }

    async fn household_deletions(&self, household: HouseholdId, limit: u32) -> Result<Vec<DeletionRecord>> {
        self.db.read(move |tx| deletions::of_household(tx, household, limit)).await
    }

    async fn purge_deletion(&self, id: DeletionId, at: Timestamp) -> Result<()> {
        self.db.write(move |tx| deletions::purge(tx, id, at)).await
    }

    async fn complete_deletion(
        &self,
        id: DeletionId,
        at: Timestamp,
        summary: &str,
        entries: &[NewEntry],
        notices: &[NewNotice],
    ) -> Result<Vec<u64>> {
        let (summary, entries, notices) = (summary.to_owned(), entries.to_vec(), notices.to_vec());
        self.db.write(move |tx| deletions::complete(tx, id, at, &summary, &entries, &notices)).await
    }

    async fn create_staff(&self, staff: &StaffRecord) -> Result<()> {
        let staff = staff.clone();
        self.db.write(move |tx| downstream::create_staff(tx, &staff)).await
    }

    async fn staff_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<StaffRecord>> {
        let h = *token_hash;
        self.db.read(move |tx| downstream::staff_by_token(tx, &h)).await
    }

    async fn create_processor(&self, processor: &ProcessorRecord) -> Result<()> {
        let p = processor.clone();
        self.db.write(move |tx| downstream::create_processor(tx, &p)).await
    }

    async fn processor(&self, id: ProcessorId) -> Result<Option<ProcessorRecord>> {
        self.db.read(move |tx| downstream::processor(tx, id)).await
    }

    async fn processors(&self) -> Result<Vec<ProcessorRecord>> {
        self.db.read(downstream::processors).await
    }

    async fn disable_processor(&self, id: ProcessorId, at: Timestamp) -> Result<bool> {
        self.db.write(move |tx| downstream::disable_processor(tx, id, at)).await
    }

    async fn dispatch_deletion(&self, id: DeletionId, at: Timestamp, tasks: &[TaskRecord]) -> Result<()> {
        let tasks = tasks.to_vec();
        self.db.write(move |tx| downstream::dispatch(tx, id, at, &tasks)).await
    }

    async fn claim_due_tasks(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<TaskRecord>> {
        self.db.write(move |tx| downstream::claim_due(tx, now, lease_until, limit)).await
    }

    async fn record_delivery(&self, task: TaskId, at: Timestamp, outcome: &Delivery) -> Result<()> {
        let outcome = outcome.clone();
        self.db.write(move |tx| downstream::record_delivery(tx, task, at, &outcome)).await
    }

    async fn acknowledge_task(&self, task: TaskId, at: Timestamp, via: &str) -> Result<()> {
        let via = via.to_owned();
        self.db.write(move |tx| downstream::acknowledge(tx, task, at, &via)).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<TaskRecord>> {
        self.db.read(move |tx| downstream::task(tx, id)).await
    }

    async fn deletion_tasks(&self, id: DeletionId) -> Result<Vec<TaskRecord>> {
        self.db.read(move |tx| downstream::deletion_tasks(tx, id)).await
    }

    async fn open_tasks(&self, limit: u32) -> Result<Vec<TaskRecord>> {
        self.db.read(move |tx| downstream::open_tasks(tx, limit)).await
    }

    async fn guardian(&self, id: GuardianId) -> Result<Option<GuardianRecord>> {
        self.db.read(move |tx| Ok(accounts::guardian(tx, id)?)).await
    }

    async fn begin_household_closure(&self, household: HouseholdId, at: Timestamp) -> Result<()> {
        self.db
            .write(move |tx| {
                tx.exec(
                    "UPDATE households SET closing_at = $2 WHERE id = $1 AND closing_at IS NULL",
                    &[&household.0, &ts_to_sql(at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn closing_households(&self) -> Result<Vec<HouseholdId>> {
        self.db
            .read(|tx| {
                let rows =
                    tx.rows("SELECT id FROM households WHERE closing_at IS NOT NULL ORDER BY closing_at, id", &[])?;
                map(&rows, |r| r.id("id"))
            })
            .await
    }

    async fn purge_household(
        &self,
        household: HouseholdId,
        settled_before: Timestamp,
        entry: &NewEntry,
    ) -> Result<bool> {
        let entry = entry.clone();
        self.db.write(move |tx| Ok(accounts::purge_household(tx, household, settled_before, &entry)?)).await
    }

    async fn request_consent_confirmation(&self, pending: &PendingConsent, notice: &NewNotice) -> Result<()> {
        let (p, n) = (pending.clone(), notice.clone());
        self.db.write(move |tx| Ok(accounts::request_consent(tx, &p, &n)?)).await
    }

    async fn pending_consent(&self, token_hash: &[u8; 32]) -> Result<Option<Consent>> {
        let h = *token_hash;
        self.db.read(move |tx| Ok(accounts::pending_consent(tx, &h)?)).await
    }

    async fn confirm_consent(
        &self,
        token_hash: &[u8; 32],
        guardian: GuardianId,
        at: Timestamp,
        entry: &NewEntry,
    ) -> Result<ConfirmOutcome> {
        let (h, entry) = (*token_hash, entry.clone());
        self.db.write(move |tx| Ok(accounts::confirm_consent(tx, &h, guardian, at, &entry)?)).await
    }

    async fn begin_totp(&self, guardian: GuardianId, secret_wrapped: &[u8]) -> Result<()> {
        let w = secret_wrapped.to_vec();
        self.db.write(move |tx| Ok(accounts::begin_totp(tx, guardian, &w)?)).await
    }

    async fn totp(&self, guardian: GuardianId) -> Result<Option<TotpRecord>> {
        self.db.read(move |tx| Ok(accounts::totp(tx, guardian)?)).await
    }

    async fn enable_totp(&self, guardian: GuardianId, at: Timestamp, step: i64, codes: &[[u8; 32]]) -> Result<()> {
        let codes = codes.to_vec();
        self.db.write(move |tx| Ok(accounts::enable_totp(tx, guardian, at, step, &codes)?)).await
    }

    async fn use_totp_step(&self, guardian: GuardianId, step: i64) -> Result<bool> {
        self.db.write(move |tx| Ok(accounts::use_totp_step(tx, guardian, step)?)).await
    }

    async fn use_recovery_code(&self, guardian: GuardianId, code_hash: &[u8; 32], at: Timestamp) -> Result<bool> {
        let h = *code_hash;
        self.db.write(move |tx| Ok(accounts::use_recovery_code(tx, guardian, &h, at)?)).await
    }

    async fn disable_totp(&self, guardian: GuardianId) -> Result<()> {
        self.db.write(move |tx| Ok(accounts::disable_totp(tx, guardian)?)).await
    }

    async fn precise_locations(&self, before: Timestamp, limit: u32) -> Result<Vec<ItemRecord>> {
        self.db
            .read(move |tx| {
                let rows = tx.rows(
                    &format!(
                        "SELECT {ITEM_COLS} FROM items
                         WHERE kind = 'location' AND recorded_at < $1 AND state = 'live'
                           AND category = 'user.location.precise'
                         LIMIT $2"
                    ),
                    &[&ts_to_sql(before), &crate::rows::limit(limit)],
                )?;
                rows.iter().map(|r| item_row(tx, r)).collect()
            })
            .await
    }

    async fn coarsen_location(&self, item: &ItemRecord) -> Result<bool> {
        let item = item.clone();
        self.db
            .write(move |tx| {
                require_current_epoch(tx, item.meta.child_id, item.key_epoch)?;
                let StoredContent::Inline(ciphertext) = &item.content else {
                    return Err(corrupt("location stored as a blob"));
                };
                let n = tx.exec(
                    "UPDATE items SET category = $2, key_epoch = $3, wrapped_key = $4, inline_content = $5, size = $6
                     WHERE id = $1 AND state = 'live' AND category = 'user.location.precise'",
                    &[
                        &item.meta.id.0,
                        &item.meta.category.as_str(),
                        &i64::from(item.key_epoch),
                        &item.wrapped_key,
                        ciphertext,
                        &(item.meta.size as i64),
                    ],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn expired_items(
        &self,
        kind: ItemKind,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |tx| sweeps::expired(tx, kind, before, limit)).await
    }

    async fn abandoned_children(&self, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |tx| sweeps::abandoned(tx, before, limit)).await
    }

    async fn inactive_children(&self, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |tx| sweeps::inactive(tx, before, limit)).await
    }

    async fn mark_dormant(
        &self,
        child: ChildId,
        inactive_before: Timestamp,
        at: Timestamp,
        delete_at: Timestamp,
        entry: &NewEntry,
        notice: &NewNotice,
    ) -> Result<bool> {
        let (e, n) = (entry.clone(), notice.clone());
        self.db.write(move |tx| sweeps::mark_dormant(tx, child, inactive_before, at, delete_at, &e, &n)).await
    }

    async fn dormant_to_remind(&self, by: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |tx| sweeps::to_remind(tx, by, limit)).await
    }

    async fn mark_reminded(&self, child: ChildId, at: Timestamp, notice: &NewNotice) -> Result<bool> {
        let n = notice.clone();
        self.db.write(move |tx| sweeps::mark_reminded(tx, child, at, &n)).await
    }

    async fn dormant_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |tx| sweeps::dormant_due(tx, now, limit)).await
    }

    async fn child_retention(&self, child: ChildId) -> Result<Option<ChildRetention>> {
        self.db.read(move |tx| sweeps::retention_of(tx, child)).await
    }

    async fn set_keep_when_dormant(&self, child: ChildId, keep: bool, at: Timestamp, entry: &NewEntry) -> Result<()> {
        let e = entry.clone();
        self.db.write(move |tx| sweeps::set_keep(tx, child, keep, at, &e)).await
    }

    async fn create_invite(&self, invite: &InviteRecord) -> Result<()> {
        let invite = invite.clone();
        self.db.write(move |tx| Ok(accounts::create_invite(tx, &invite)?)).await
    }

    async fn accept_invite(
        &self,
        token_hash: &[u8; 32],
        guardian: &GuardianRecord,
        at: Timestamp,
    ) -> Result<InviteOutcome> {
        let (h, g) = (*token_hash, guardian.clone());
        self.db.write(move |tx| Ok(accounts::accept_invite(tx, &h, &g, at)?)).await
    }

    async fn sessions_of(&self, guardian: GuardianId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        self.db.read(move |tx| Ok(accounts::sessions_of(tx, guardian, now)?)).await
    }

    async fn revoke_session(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<()> {
        let h = *token_hash;
        self.db
            .write(move |tx| {
                tx.exec(
                    "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
                    &[&&h[..], &ts_to_sql(at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn guardian_ids(&self, household: HouseholdId) -> Result<Vec<GuardianId>> {
        self.db
            .read(move |tx| {
                let rows = tx.rows("SELECT id FROM guardians WHERE household_id = $1 ORDER BY id", &[&household.0])?;
                map(&rows, |r| r.id("id"))
            })
            .await
    }

    async fn claim_due_notices(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<NoticeRecord>> {
        self.db.write(move |tx| Ok(outbox::claim_due(tx, now, lease_until, limit)?)).await
    }

    async fn record_notice_delivery(&self, id: NoticeId, at: Timestamp, outcome: &NoticeDelivery) -> Result<()> {
        let outcome = outcome.clone();
        self.db.write(move |tx| Ok(outbox::record_delivery(tx, id, at, &outcome)?)).await
    }

    async fn notices_for(&self, guardian: GuardianId, limit: u32) -> Result<Vec<NoticeRecord>> {
        self.db.read(move |tx| Ok(outbox::for_guardian(tx, guardian, limit)?)).await
    }

    async fn acquire_lease(&self, name: &str, holder: uuid::Uuid, now: Timestamp, until: Timestamp) -> Result<bool> {
        let name = name.to_owned();
        self.db
            .write(move |tx| {
                let n = tx.exec(
                    "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                     WHERE leases.holder = excluded.holder OR leases.until <= $3",
                    &[&name, &holder, &ts_to_sql(now), &ts_to_sql(until)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn release_lease(&self, name: &str, holder: uuid::Uuid) -> Result<()> {
        let name = name.to_owned();
        self.db
            .write(move |tx| {
                tx.exec("DELETE FROM leases WHERE name = $1 AND holder = $2", &[&name, &holder])?;
                Ok(())
            })
            .await
    }

    async fn record_sign_in_failure(&self, keys: &[[u8; 32]], at: Timestamp, forget_before: Timestamp) -> Result<()> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        self.db
            .write(move |tx| {
                for key in &keys {
                    let (forget_before, at) = (ts_to_sql(forget_before), ts_to_sql(at));
                    tx.exec("DELETE FROM sign_in_failures WHERE key = $1 AND at <= $2", &[key, &forget_before])?;
                    tx.exec("INSERT INTO sign_in_failures (key, at) VALUES ($1, $2)", &[key, &at])?;
                }
                Ok(())
            })
            .await
    }

    async fn sign_in_failures(&self, keys: &[[u8; 32]], since: Timestamp, limit: u32) -> Result<Vec<Vec<Timestamp>>> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        self.db
            .read(move |tx| {
                let mut out = Vec::with_capacity(keys.len());
                for key in &keys {
                    let rows = tx.rows(
                        "SELECT at FROM sign_in_failures WHERE key = $1 AND at > $2 ORDER BY at DESC LIMIT $3",
                        &[key, &ts_to_sql(since), &i64::from(limit)],
                    )?;
                    let mut times = rows.iter().map(|r| r.ts("at")).collect::<R<Vec<_>>>()?;
                    times.reverse();
                    out.push(times);
                }
                Ok(out)
            })
            .await
    }

    async fn clear_sign_in_failures(&self, key: &[u8; 32]) -> Result<()> {
        let key = key.to_vec();
        self.db
            .write(move |tx| {
                tx.exec("DELETE FROM sign_in_failures WHERE key = $1", &[&key])?;
                Ok(())
            })
            .await
    }

    async fn prune_sign_in_failures(&self, before: Timestamp) -> Result<u64> {
        self.db.write(move |tx| tx.exec("DELETE FROM sign_in_failures WHERE at <= $1", &[&ts_to_sql(before)])).await
    }
}
