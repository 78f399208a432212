//! [`Store`] on SQLite. Hand-written SQL; the schema is in `migrations/`.

use std::path::Path;

use async_trait::async_trait;
use kidvault_domain::consent::{Consent, ConsentMethod, ConsentScope, ScopeGrant};
use kidvault_domain::entities::{Child, ChildStatus, Device};
use kidvault_domain::ids::*;
use kidvault_domain::item::{DataCategory, ItemKind, ItemMeta, ItemState};
use kidvault_domain::lineage::{check_derivation, SourceView};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_ledger::Hash;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{deletions, downstream, ledger, sweeps, ts_from_sql, ts_to_sql, uuid_from_sql, Db};
use crate::model::*;
use crate::sql::{accounts, outbox};
use crate::{Result, Store, StoreError};
use kidvault_domain::deletion::{DeletionScope, DeletionStep};

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
];

/// The embedded data store: one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    db: Db,
    /// The ledger's upper subtree hashes, for fast proofs.
    upper: super::upper::UpperNodes,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { db: Db::open(path, MIGRATIONS)?, upper: Default::default() })
    }
}

fn id<T: From<uuid::Uuid>>(row: &Row<'_>, col: &str) -> Result<T> {
    let raw: Vec<u8> = row.get(col)?;
    Ok(T::from(uuid_from_sql(&raw)?))
}

/// Maps every remaining row.
fn all<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    mut f: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

fn opt_ts(row: &Row<'_>, col: &str) -> Result<Option<Timestamp>> {
    row.get::<_, Option<i64>>(col)?.map(ts_from_sql).transpose()
}

fn ts(row: &Row<'_>, col: &str) -> Result<Timestamp> {
    ts_from_sql(row.get(col)?)
}

fn hash32(row: &Row<'_>, col: &str) -> Result<[u8; 32]> {
    let raw: Vec<u8> = row.get(col)?;
    raw.try_into().map_err(|_| StoreError::Corrupt("hash is not 32 bytes".into()))
}

fn epoch(row: &Row<'_>, col: &str) -> Result<u32> {
    u32::try_from(row.get::<_, i64>(col)?).map_err(|_| StoreError::Corrupt("bad key epoch".into()))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what}"))
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

const CHILD_COLS: &str = "id, household_id, status, created_at, last_active_at, profile_epoch, profile_key, profile";

fn child_row(row: &Row<'_>) -> Result<ChildRecord> {
    let status: String = row.get("status")?;
    Ok(ChildRecord {
        child: Child {
            id: id(row, "id")?,
            household_id: id(row, "household_id")?,
            status: ChildStatus::parse(&status).ok_or_else(|| corrupt("child status"))?,
            created_at: ts(row, "created_at")?,
            last_active_at: opt_ts(row, "last_active_at")?,
        },
        profile: Sealed {
            epoch: epoch(row, "profile_epoch")?,
            wrapped_key: row.get("profile_key")?,
            ciphertext: row.get("profile")?,
        },
    })
}

const DEVICE_COLS: &str = "id, household_id, child_id, token_hash, created_at, revoked_at, name_epoch, name_key, name";

fn device_row(row: &Row<'_>) -> Result<DeviceRecord> {
    Ok(DeviceRecord {
        device: Device {
            id: id(row, "id")?,
            household_id: id(row, "household_id")?,
            child_id: id(row, "child_id")?,
            created_at: ts(row, "created_at")?,
            revoked_at: opt_ts(row, "revoked_at")?,
        },
        name: Sealed {
            epoch: epoch(row, "name_epoch")?,
            wrapped_key: row.get("name_key")?,
            ciphertext: row.get("name")?,
        },
        token_hash: hash32(row, "token_hash")?,
    })
}

fn query_child(conn: &Connection, child: ChildId) -> Result<Option<ChildRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {CHILD_COLS} FROM children WHERE id = ?1"))?;
    let mut rows = stmt.query([child.as_bytes()])?;
    rows.next()?.map(child_row).transpose()
}

fn query_consents(conn: &Connection, child: ChildId) -> Result<Vec<Consent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, child_id, guardian_id, method, evidence_ref, notice_version, granted_at
         FROM consents WHERE child_id = ?1 ORDER BY granted_at, id",
    )?;
    let mut consents = all(&mut stmt, [child.as_bytes()], |row| {
        let method: String = row.get("method")?;
        Ok(Consent {
            id: id(row, "id")?,
            child_id: id(row, "child_id")?,
            guardian_id: id(row, "guardian_id")?,
            method: ConsentMethod::parse(&method).ok_or_else(|| corrupt("consent method"))?,
            evidence_ref: row.get("evidence_ref")?,
            notice_version: row.get("notice_version")?,
            granted_at: ts(row, "granted_at")?,
            scopes: Vec::new(),
        })
    })?;
    let mut stmt = conn.prepare_cached(
        "SELECT consent_id, scope, withdrawn_at FROM consent_scopes WHERE child_id = ?1 ORDER BY scope",
    )?;
    let mut rows = stmt.query([child.as_bytes()])?;
    while let Some(row) = rows.next()? {
        let consent_id: ConsentId = id(row, "consent_id")?;
        let scope: String = row.get("scope")?;
        let grant = ScopeGrant {
            scope: ConsentScope::parse(&scope).ok_or_else(|| corrupt("consent scope"))?,
            withdrawn_at: opt_ts(row, "withdrawn_at")?,
        };
        if let Some(c) = consents.iter_mut().find(|c| c.id == consent_id) {
            c.scopes.push(grant);
        }
    }
    Ok(consents)
}

const ITEM_COLS: &str = "id, child_id, kind, category, state, recorded_at, received_at, device_id, size,
    key_epoch, wrapped_key, inline_content, blob_locator";

fn item_row(conn: &Connection, row: &Row<'_>) -> Result<ItemRecord> {
    let item_id: ItemId = id(row, "id")?;
    let kind: String = row.get("kind")?;
    let category: String = row.get("category")?;
    let state: String = row.get("state")?;
    let device: Option<Vec<u8>> = row.get("device_id")?;
    let inline: Option<Vec<u8>> = row.get("inline_content")?;
    let locator: Option<String> = row.get("blob_locator")?;
    let content = match (inline, locator) {
        (Some(c), None) => StoredContent::Inline(c),
        (None, Some(l)) => StoredContent::Blob(BlobLocator(l)),
        _ => return Err(StoreError::Corrupt("item has no content".into())),
    };
    let mut stmt = conn.prepare_cached("SELECT source_id FROM item_edges WHERE item_id = ?1 ORDER BY source_id")?;
    let derived_from = all(&mut stmt, [item_id.as_bytes()], |e| id(e, "source_id"))?;
    Ok(ItemRecord {
        meta: ItemMeta {
            id: item_id,
            child_id: id(row, "child_id")?,
            kind: ItemKind::parse(&kind).ok_or_else(|| corrupt("item kind"))?,
            category: DataCategory::parse(&category).ok_or_else(|| corrupt("data category"))?,
            state: ItemState::parse(&state).ok_or_else(|| corrupt("item state"))?,
            recorded_at: ts(row, "recorded_at")?,
            received_at: ts(row, "received_at")?,
            device_id: device.map(|d| uuid_from_sql(&d).map(DeviceId)).transpose()?,
            derived_from,
            size: u64::try_from(row.get::<_, i64>("size")?).map_err(|_| corrupt("size"))?,
        },
        key_epoch: epoch(row, "key_epoch")?,
        wrapped_key: row.get("wrapped_key")?,
        content,
    })
}

/// Data sealed under a key epoch that a rotation has since retired is refused, so
/// the caller re-seals under the current key (the old epoch is about to be
/// destroyed). Every write of sealed child data goes through this check.
fn require_current_epoch(conn: &Connection, child: ChildId, epoch: u32) -> Result<()> {
    let current: Option<i64> = conn
        .prepare_cached("SELECT key_epoch FROM children WHERE id = ?1")?
        .query_row([child.as_bytes()], |r| r.get(0))
        .optional()?;
    if current.is_some_and(|e| e != i64::from(epoch)) {
        return Err(StoreError::StaleKeyEpoch);
    }
    Ok(())
}

fn insert_item_tx(conn: &Connection, item: &ItemRecord) -> Result<()> {
    let m = &item.meta;
    // Lineage is checked against what the store holds *now*, inside the write.
    let mut found = Vec::with_capacity(m.derived_from.len());
    {
        let mut stmt = conn.prepare_cached("SELECT child_id, state FROM items WHERE id = ?1")?;
        for src in &m.derived_from {
            let row = stmt
                .query_row([src.as_bytes()], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)))
                .optional()?;
            if let Some((child, state)) = row {
                found.push(SourceView {
                    id: *src,
                    child_id: ChildId(uuid_from_sql(&child)?),
                    state: ItemState::parse(&state).ok_or_else(|| corrupt("item state"))?,
                });
            }
        }
    }
    check_derivation(m.child_id, m.kind, &m.derived_from, &found)?;
    require_current_epoch(conn, m.child_id, item.key_epoch)?;
    let (inline, locator) = match &item.content {
        StoredContent::Inline(c) => (Some(c.as_slice()), None),
        StoredContent::Blob(l) => (None, Some(l.0.as_str())),
    };
    conn.prepare_cached(
        "INSERT INTO items (id, child_id, kind, category, state, recorded_at, received_at, device_id, size,
            key_epoch, wrapped_key, inline_content, blob_locator)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        m.id.as_bytes(),
        m.child_id.as_bytes(),
        m.kind.as_str(),
        m.category.as_str(),
        m.state.as_str(),
        ts_to_sql(m.recorded_at),
        ts_to_sql(m.received_at),
        m.device_id.as_ref().map(|d| d.as_bytes().to_vec()),
        i64::try_from(m.size).map_err(|_| corrupt("size"))?,
        item.key_epoch,
        item.wrapped_key,
        inline,
        locator,
    ])
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("item {} exists", m.id))
        } else {
            e.into()
        }
    })?;
    let mut edge = conn.prepare_cached("INSERT INTO item_edges (item_id, source_id) VALUES (?1, ?2)")?;
    for src in &m.derived_from {
        edge.execute([m.id.as_bytes(), src.as_bytes()])?;
    }
    // Activity at one-minute resolution (dormancy is counted in months): most items
    // of a busy child then leave the child row untouched. Activity ends dormancy.
    conn.prepare_cached(
        "UPDATE children SET last_active_at = ?2, dormant_at = NULL, dormancy_deletion_at = NULL, reminded_at = NULL
         WHERE id = ?1 AND (last_active_at IS NULL OR last_active_at <= ?2 - 60000000)",
    )?
    .execute(params![m.child_id.as_bytes(), ts_to_sql(m.received_at)])?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.db.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).await.map(|_| ())
    }

    async fn create_household(&self, household: HouseholdId, g: &GuardianRecord) -> Result<()> {
        let g = g.clone();
        self.db.write_tx(move |tx| accounts::create_household(tx, household, &g)).await
    }

    async fn request_consent_confirmation(&self, pending: &PendingConsent, notice: &NewNotice) -> Result<()> {
        let (p, n) = (pending.clone(), notice.clone());
        self.db.write_tx(move |tx| accounts::request_consent(tx, &p, &n)).await
    }

    async fn pending_consent(&self, token_hash: &[u8; 32]) -> Result<Option<Consent>> {
        let h = *token_hash;
        self.db.read_tx(move |tx| accounts::pending_consent(tx, &h)).await
    }

    async fn confirm_consent(
        &self,
        token_hash: &[u8; 32],
        guardian: GuardianId,
        at: Timestamp,
        entry: &NewEntry,
    ) -> Result<ConfirmOutcome> {
        let (h, entry) = (*token_hash, entry.clone());
        self.db.write_tx(move |tx| accounts::confirm_consent(tx, &h, guardian, at, &entry)).await
    }

    async fn begin_totp(&self, guardian: GuardianId, secret_wrapped: &[u8]) -> Result<()> {
        let w = secret_wrapped.to_vec();
        self.db.write_tx(move |tx| accounts::begin_totp(tx, guardian, &w)).await
    }

    async fn totp(&self, guardian: GuardianId) -> Result<Option<TotpRecord>> {
        self.db.read_tx(move |tx| accounts::totp(tx, guardian)).await
    }

    async fn enable_totp(&self, guardian: GuardianId, at: Timestamp, step: i64, codes: &[[u8; 32]]) -> Result<()> {
        let codes = codes.to_vec();
        self.db.write_tx(move |tx| accounts::enable_totp(tx, guardian, at, step, &codes)).await
    }

    async fn use_totp_step(&self, guardian: GuardianId, step: i64) -> Result<bool> {
        self.db.write_tx(move |tx| accounts::use_totp_step(tx, guardian, step)).await
    }

    async fn use_recovery_code(&self, guardian: GuardianId, code_hash: &[u8; 32], at: Timestamp) -> Result<bool> {
        let h = *code_hash;
        self.db.write_tx(move |tx| accounts::use_recovery_code(tx, guardian, &h, at)).await
    }

    async fn disable_totp(&self, guardian: GuardianId) -> Result<()> {
        self.db.write_tx(move |tx| accounts::disable_totp(tx, guardian)).await
    }

    async fn precise_locations(&self, before: Timestamp, limit: u32) -> Result<Vec<ItemRecord>> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {ITEM_COLS} FROM items INDEXED BY items_kind_time
                     WHERE kind = 'location' AND recorded_at < ?1 AND state = 'live'
                       AND category = 'user.location.precise'
                     LIMIT ?2"
                ))?;
                all(&mut stmt, params![ts_to_sql(before), limit], |r| item_row(c, r))
            })
            .await
    }

    async fn coarsen_location(&self, item: &ItemRecord) -> Result<bool> {
        let item = item.clone();
        self.db
            .write(move |c| {
                require_current_epoch(c, item.meta.child_id, item.key_epoch)?;
                let StoredContent::Inline(ciphertext) = &item.content else {
                    return Err(StoreError::Corrupt("a location stored as a blob".into()));
                };
                let n = c.execute(
                    "UPDATE items SET category = ?2, key_epoch = ?3, wrapped_key = ?4, inline_content = ?5, size = ?6
                     WHERE id = ?1 AND state = 'live' AND category = 'user.location.precise'",
                    params![
                        item.meta.id.as_bytes(),
                        item.meta.category.as_str(),
                        item.key_epoch,
                        item.wrapped_key,
                        ciphertext,
                        item.meta.size as i64
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
        self.db.read(move |c| sweeps::expired(c, kind, before, limit)).await
    }

    async fn abandoned_children(&self, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |c| sweeps::abandoned(c, before, limit)).await
    }

    async fn inactive_children(&self, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |c| sweeps::inactive(c, before, limit)).await
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
        self.db.write(move |c| sweeps::mark_dormant(c, child, inactive_before, at, delete_at, &e, &n)).await
    }

    async fn dormant_to_remind(&self, by: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |c| sweeps::to_remind(c, by, limit)).await
    }

    async fn mark_reminded(&self, child: ChildId, at: Timestamp, notice: &NewNotice) -> Result<bool> {
        let n = notice.clone();
        self.db.write(move |c| sweeps::mark_reminded(c, child, at, &n)).await
    }

    async fn dormant_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.db.read(move |c| sweeps::dormant_due(c, now, limit)).await
    }

    async fn child_retention(&self, child: ChildId) -> Result<Option<ChildRetention>> {
        self.db.read(move |c| sweeps::retention_of(c, child)).await
    }

    async fn set_keep_when_dormant(&self, child: ChildId, keep: bool, at: Timestamp, entry: &NewEntry) -> Result<()> {
        let e = entry.clone();
        self.db.write(move |c| sweeps::set_keep(c, child, keep, at, &e)).await
    }

    async fn create_invite(&self, invite: &InviteRecord) -> Result<()> {
        let invite = invite.clone();
        self.db.write_tx(move |tx| accounts::create_invite(tx, &invite)).await
    }

    async fn accept_invite(
        &self,
        token_hash: &[u8; 32],
        guardian: &GuardianRecord,
        at: Timestamp,
    ) -> Result<InviteOutcome> {
        let (h, g) = (*token_hash, guardian.clone());
        self.db.write_tx(move |tx| accounts::accept_invite(tx, &h, &g, at)).await
    }

    async fn guardian_by_email(&self, email: &str) -> Result<Option<GuardianRecord>> {
        let email = email.to_owned();
        self.db.lookup_tx(move |tx| accounts::guardian_by_email(tx, &email))
    }

    async fn create_session(&self, s: &SessionRecord) -> Result<()> {
        let s = s.clone();
        self.db.write_tx(move |tx| accounts::create_session(tx, &s)).await
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>> {
        let h = *token_hash;
        self.db.lookup_tx(move |tx| accounts::session(tx, &h))
    }

    async fn sessions_of(&self, guardian: GuardianId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        self.db.read_tx(move |tx| accounts::sessions_of(tx, guardian, now)).await
    }

    async fn revoke_session(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<()> {
        let h = *token_hash;
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL",
                    params![h, ts_to_sql(at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn guardian_ids(&self, household: HouseholdId) -> Result<Vec<GuardianId>> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached("SELECT id FROM guardians WHERE household_id = ?1 ORDER BY id")?;
                all(&mut stmt, [household.as_bytes()], |r| id(r, "id"))
            })
            .await
    }

    async fn create_child(&self, r: &ChildRecord) -> Result<()> {
        let r = r.clone();
        self.db
            .write(move |c| {
                let closing: Option<i64> = c
                    .prepare_cached("SELECT closing_at FROM households WHERE id = ?1")?
                    .query_row([r.child.household_id.as_bytes()], |row| row.get(0))
                    .optional()?
                    .flatten();
                if closing.is_some() {
                    return Err(StoreError::Conflict("the household is closing".into()));
                }
                c.execute(
                    &format!("INSERT INTO children ({CHILD_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![
                        r.child.id.as_bytes(),
                        r.child.household_id.as_bytes(),
                        r.child.status.as_str(),
                        ts_to_sql(r.child.created_at),
                        r.child.last_active_at.map(ts_to_sql),
                        r.profile.epoch,
                        r.profile.wrapped_key,
                        r.profile.ciphertext
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn child(&self, child: ChildId) -> Result<Option<ChildRecord>> {
        self.db.lookup(move |c| query_child(c, child))
    }

    async fn children_of(&self, household: HouseholdId) -> Result<Vec<ChildRecord>> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {CHILD_COLS} FROM children WHERE household_id = ?1 ORDER BY created_at, id"
                ))?;
                all(&mut stmt, [household.as_bytes()], child_row)
            })
            .await
    }

    async fn record_consent(&self, consent: &Consent, entry: &NewEntry) -> Result<()> {
        let k = consent.clone();
        let entry = entry.clone();
        self.db
            .write(move |c| {
                super::shared(c, |tx| accounts::insert_consent(tx, &k))?;
                ledger::append(c, std::slice::from_ref(&entry))?;
                Ok(())
            })
            .await
    }

    async fn consents_of(&self, child: ChildId) -> Result<Vec<Consent>> {
        self.db.read(move |c| query_consents(c, child)).await
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
            .write(move |c| {
                let n = c.execute(
                    "UPDATE consent_scopes SET withdrawn_at = ?3
                     WHERE child_id = ?1 AND scope = ?2 AND withdrawn_at IS NULL",
                    params![child.as_bytes(), scope.as_str(), ts_to_sql(at)],
                )?;
                if n > 0 {
                    ledger::append(c, std::slice::from_ref(&entry))?;
                }
                Ok(n as u64)
            })
            .await
    }

    async fn create_device(&self, d: &DeviceRecord) -> Result<()> {
        let d = d.clone();
        self.db
            .write(move |c| {
                require_current_epoch(c, d.device.child_id, d.name.epoch)?;
                c.execute(
                    &format!("INSERT INTO devices ({DEVICE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                    params![
                        d.device.id.as_bytes(),
                        d.device.household_id.as_bytes(),
                        d.device.child_id.as_bytes(),
                        d.token_hash,
                        ts_to_sql(d.device.created_at),
                        d.device.revoked_at.map(ts_to_sql),
                        d.name.epoch,
                        d.name.wrapped_key,
                        d.name.ciphertext
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn device(&self, device: DeviceId) -> Result<Option<DeviceRecord>> {
        self.db.lookup(move |c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?1"))?;
            let mut rows = stmt.query([device.as_bytes()])?;
            rows.next()?.map(device_row).transpose()
        })
    }

    async fn devices_of(&self, child: ChildId) -> Result<Vec<DeviceRecord>> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {DEVICE_COLS} FROM devices WHERE child_id = ?1 ORDER BY created_at, id"
                ))?;
                let mut rows = stmt.query([child.as_bytes()])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(device_row(r)?);
                }
                Ok(out)
            })
            .await
    }

    async fn revoke_device(&self, device: DeviceId, at: Timestamp) -> Result<bool> {
        self.db
            .write(move |c| {
                let n = c.execute(
                    "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![device.as_bytes(), ts_to_sql(at)],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn ingest_context(&self, token_hash: &[u8; 32]) -> Result<Option<IngestContext>> {
        let h = *token_hash;
        self.db.lookup(move |c| {
            let device = {
                let mut stmt = c.prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE token_hash = ?1"))?;
                let mut rows = stmt.query([h])?;
                match rows.next()? {
                    Some(r) => device_row(r)?,
                    None => return Ok(None),
                }
            };
            let child = query_child(c, device.device.child_id)?
                .ok_or_else(|| StoreError::Corrupt("device without child".into()))?;
            let consents = query_consents(c, device.device.child_id)?;
            Ok(Some(IngestContext { device, child, consents }))
        })
    }

    async fn insert_item(&self, item: &ItemRecord) -> Result<()> {
        let item = item.clone();
        self.db.write(move |c| insert_item_tx(c, &item)).await
    }

    async fn item(&self, item: ItemId) -> Result<Option<ItemRecord>> {
        self.db.lookup(move |c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {ITEM_COLS} FROM items WHERE id = ?1"))?;
            let mut rows = stmt.query([item.as_bytes()])?;
            match rows.next()? {
                Some(r) => item_row(c, r).map(Some),
                None => Ok(None),
            }
        })
    }

    async fn blob_items(&self, after: Option<ItemId>, limit: u32) -> Result<Vec<(ItemId, BlobLocator)>> {
        let after = after.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, blob_locator FROM items WHERE blob_locator IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![after, limit], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)))?;
                rows.map(|r| {
                    let (id, loc) = r?;
                    let id = uuid::Uuid::from_slice(&id).map_err(|_| StoreError::Corrupt("item id".into()))?;
                    Ok((ItemId(id), BlobLocator(loc)))
                })
                .collect()
            })
            .await
    }

    async fn relocate_blob(&self, item: ItemId, from: &BlobLocator, to: &BlobLocator) -> Result<bool> {
        let (from, to) = (from.0.clone(), to.0.clone());
        self.db
            .write(move |c| {
                let n = c.execute(
                    "UPDATE items SET blob_locator = ?3 WHERE id = ?1 AND blob_locator = ?2",
                    params![item.as_bytes(), from, to],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn list_items(&self, child: ChildId, f: &ItemFilter) -> Result<Vec<ItemMeta>> {
        let f = f.clone();
        self.db
            .read(move |c| {
                // The keyset condition keeps paging index-driven at any depth.
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {ITEM_COLS} FROM items
                     WHERE child_id = ?1 AND state = 'live'
                       AND (?2 IS NULL OR kind = ?2)
                       AND (?3 IS NULL OR recorded_at >= ?3)
                       AND (?4 IS NULL OR recorded_at < ?4)
                       AND (?5 IS NULL OR recorded_at < ?5 OR (recorded_at = ?5 AND id < ?6))
                     ORDER BY recorded_at DESC, id DESC
                     LIMIT ?7"
                ))?;
                let (after_t, after_id) = match f.after {
                    Some((t, id)) => (Some(ts_to_sql(t)), Some(id.as_bytes().to_vec())),
                    None => (None, None),
                };
                all(
                    &mut stmt,
                    params![
                        child.as_bytes(),
                        f.kind.map(|k| k.as_str()),
                        f.from.map(ts_to_sql),
                        f.to.map(ts_to_sql),
                        after_t,
                        after_id,
                        f.limit
                    ],
                    |r| item_row(c, r).map(|i| i.meta),
                )
            })
            .await
    }

    async fn derived_from(&self, item: ItemId) -> Result<Vec<ItemId>> {
        self.db
            .read(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT item_id FROM item_edges WHERE source_id = ?1 ORDER BY item_id")?;
                all(&mut stmt, [item.as_bytes()], |r| id(r, "item_id"))
            })
            .await
    }

    async fn append_entries(&self, entries: &[NewEntry]) -> Result<Vec<u64>> {
        let entries = entries.to_vec();
        self.db.write(move |c| ledger::append(c, &entries)).await
    }

    async fn ledger_size(&self) -> Result<u64> {
        self.db.lookup(ledger::size)
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<StoredEntry>> {
        // Mapped, as the tree: an entry is read just before its proof, and the
        // pages around it (its block's tile among them) are then mapped too.
        self.db.lookup_mapped(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT idx, kind, household, child, body FROM ledger_entries WHERE idx = ?1")?;
            let mut rows = stmt.query([index as i64])?;
            rows.next()?.map(ledger::entry_row).transpose()
        })
    }

    async fn child_entries(&self, child: ChildId, kind: Option<EntryKind>) -> Result<Vec<StoredEntry>> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT idx, kind, household, child, body FROM ledger_entries
                     WHERE child = ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY idx",
                )?;
                all(&mut stmt, params![child.to_string(), kind.map(EntryKind::as_str)], ledger::entry_row)
            })
            .await
    }

    async fn ledger_root(&self, size: u64) -> Result<Hash> {
        if size == 0 {
            return Ok(kidvault_ledger::hash::empty_root());
        }
        self.db.lookup_mapped(|c| Ok(ledger::hashes_of(c, &self.upper, &[(0, size)])?[0]))
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.db.lookup_mapped(|c| {
            ledger::hashes_of(c, &self.upper, &kidvault_ledger::tree::inclusion_ranges(index, size)?)
        })
    }

    async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>> {
        self.db
            .lookup_mapped(|c| ledger::hashes_of(c, &self.upper, &kidvault_ledger::tree::consistency_ranges(from, to)?))
    }

    async fn save_checkpoint(&self, size: u64, at: Timestamp, note: &str) -> Result<()> {
        let note = note.to_owned();
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT INTO ledger_checkpoints (size, at, note) VALUES (?1, ?2, ?3) ON CONFLICT (size) DO NOTHING",
                    params![size as i64, ts_to_sql(at), note],
                )?;
                Ok(())
            })
            .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        self.db.lookup(|c| {
            Ok(c.prepare_cached("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")?
                .query_row([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
                .optional()?)
        })
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<String>> {
        self.db.lookup(move |c| {
            Ok(c.prepare_cached("SELECT note FROM ledger_checkpoints WHERE size = ?1")?
                .query_row([size as i64], |r| r.get(0))
                .optional()?)
        })
    }

    async fn create_deletion(&self, d: &DeletionRecord) -> Result<()> {
        let d = d.clone();
        self.db.write(move |c| deletions::create(c, &d)).await
    }

    async fn deletion(&self, id: DeletionId) -> Result<Option<DeletionRecord>> {
        self.db.lookup(move |c| deletions::get(c, id))
    }

    async fn open_deletions(&self) -> Result<Vec<DeletionRecord>> {
        self.db
            .read(|c| {
                let mut stmt =
                    c.prepare_cached("SELECT id FROM deletions WHERE step <> 'completed' ORDER BY requested_at, id")?;
                let ids = all(&mut stmt, [], |r| id::<DeletionId>(r, "id"))?;
                ids.into_iter().filter_map(|i| deletions::get(c, i).transpose()).collect()
            })
            .await
    }

    async fn resolve_deletion(&self, id: DeletionId, at: Timestamp) -> Result<u64> {
        self.db.write(move |c| deletions::resolve(c, id, at)).await
    }

    async fn shred_deletion_items(&self, id: DeletionId, at: Timestamp) -> Result<()> {
        self.db.write(move |c| deletions::shred_items(c, id, at)).await
    }

    async fn set_deletion_step(&self, id: DeletionId, step: DeletionStep, at: Timestamp) -> Result<()> {
        self.db.write(move |c| deletions::set_step(c, id, step, at)).await
    }

    async fn set_rotation_epoch(&self, id: DeletionId, epoch: u32) -> Result<()> {
        self.db
            .write(move |c| {
                c.execute("UPDATE deletions SET rotation_epoch = ?2 WHERE id = ?1", params![id.as_bytes(), epoch])?;
                // From here on, new data for the child must be sealed under `epoch`.
                c.execute(
                    "UPDATE children SET key_epoch = ?2
                     WHERE id = (SELECT child_id FROM deletions WHERE id = ?1) AND key_epoch < ?2",
                    params![id.as_bytes(), epoch],
                )?;
                Ok(())
            })
            .await
    }

    async fn legacy_item_keys(&self, limit: u32) -> Result<Vec<ItemKey>> {
        self.db.read(move |c| deletions::legacy_item_keys(c, limit)).await
    }

    async fn clear_legacy_item_keys(&self, keys: &[ItemKey]) -> Result<u64> {
        let keys = keys.to_vec();
        self.db.write(move |c| deletions::clear_legacy_item_keys(c, &keys)).await
    }

    async fn scrub(&self) -> Result<()> {
        self.db.scrub().await
    }

    async fn deployment_binding(&self) -> Result<Option<String>> {
        self.db.deployment_binding().await
    }

    async fn bind_deployment(&self, binding: &str) -> Result<String> {
        self.db.bind_deployment(binding).await
    }

    async fn deletion_items(&self, id: DeletionId) -> Result<Vec<DeletionItem>> {
        self.db.read(move |c| deletions::items(c, id)).await
    }

    async fn preview_deletion(&self, child: ChildId, scope: &DeletionScope) -> Result<Vec<(ItemKind, u64)>> {
        let scope = scope.clone();
        self.db.read(move |c| deletions::preview(c, child, &scope)).await
    }

    async fn household_deletions(&self, household: HouseholdId, limit: u32) -> Result<Vec<DeletionRecord>> {
        self.db.read(move |c| deletions::of_household(c, household, limit)).await
    }

    async fn purge_deletion(&self, id: DeletionId, at: Timestamp) -> Result<()> {
        self.db.write(move |c| deletions::purge(c, id, at)).await
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
        self.db.write(move |c| deletions::complete(c, id, at, &summary, &entries, &notices)).await
    }

    async fn create_staff(&self, staff: &StaffRecord) -> Result<()> {
        let staff = staff.clone();
        self.db.write(move |c| downstream::create_staff(c, &staff)).await
    }

    async fn staff_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<StaffRecord>> {
        self.db.lookup(|c| downstream::staff_by_token(c, token_hash))
    }

    async fn create_processor(&self, processor: &ProcessorRecord) -> Result<()> {
        let p = processor.clone();
        self.db.write(move |c| downstream::create_processor(c, &p)).await
    }

    async fn processor(&self, id: ProcessorId) -> Result<Option<ProcessorRecord>> {
        self.db.lookup(|c| downstream::processor(c, id))
    }

    async fn processors(&self) -> Result<Vec<ProcessorRecord>> {
        self.db.read(downstream::processors).await
    }

    async fn disable_processor(&self, id: ProcessorId, at: Timestamp) -> Result<bool> {
        self.db.write(move |c| downstream::disable_processor(c, id, at)).await
    }

    async fn dispatch_deletion(&self, id: DeletionId, at: Timestamp, tasks: &[TaskRecord]) -> Result<()> {
        let tasks = tasks.to_vec();
        self.db.write(move |c| downstream::dispatch(c, id, at, &tasks)).await
    }

    async fn claim_due_tasks(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<TaskRecord>> {
        self.db.write(move |c| downstream::claim_due(c, now, lease_until, limit)).await
    }

    async fn record_delivery(&self, task: TaskId, at: Timestamp, outcome: &Delivery) -> Result<()> {
        let outcome = outcome.clone();
        self.db.write(move |c| downstream::record_delivery(c, task, at, &outcome)).await
    }

    async fn acknowledge_task(&self, task: TaskId, at: Timestamp, via: &str) -> Result<()> {
        let via = via.to_owned();
        self.db.write(move |c| downstream::acknowledge(c, task, at, &via)).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<TaskRecord>> {
        self.db.lookup(|c| downstream::task(c, id))
    }

    async fn deletion_tasks(&self, id: DeletionId) -> Result<Vec<TaskRecord>> {
        self.db.read(move |c| downstream::deletion_tasks(c, id)).await
    }

    async fn open_tasks(&self, limit: u32) -> Result<Vec<TaskRecord>> {
        self.db.read(move |c| downstream::open_tasks(c, limit)).await
    }

    async fn guardian(&self, id: GuardianId) -> Result<Option<GuardianRecord>> {
        self.db.lookup_tx(move |tx| accounts::guardian(tx, id))
    }

    async fn begin_household_closure(&self, household: HouseholdId, at: Timestamp) -> Result<()> {
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE households SET closing_at = ?2 WHERE id = ?1 AND closing_at IS NULL",
                    params![household.as_bytes(), ts_to_sql(at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn closing_households(&self) -> Result<Vec<HouseholdId>> {
        self.db
            .read(|c| {
                let mut stmt =
                    c.prepare_cached("SELECT id FROM households WHERE closing_at IS NOT NULL ORDER BY closing_at, id")?;
                all(&mut stmt, [], |r| id::<HouseholdId>(r, "id"))
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
        self.db.write_tx(move |tx| accounts::purge_household(tx, household, settled_before, &entry)).await
    }

    async fn claim_due_notices(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<NoticeRecord>> {
        self.db.write_tx(move |tx| outbox::claim_due(tx, now, lease_until, limit)).await
    }

    async fn record_notice_delivery(&self, id: NoticeId, at: Timestamp, outcome: &NoticeDelivery) -> Result<()> {
        let outcome = outcome.clone();
        self.db.write_tx(move |tx| outbox::record_delivery(tx, id, at, &outcome)).await
    }

    async fn notices_for(&self, guardian: GuardianId, limit: u32) -> Result<Vec<NoticeRecord>> {
        self.db.read_tx(move |tx| outbox::for_guardian(tx, guardian, limit)).await
    }

    async fn acquire_lease(&self, name: &str, holder: uuid::Uuid, now: Timestamp, until: Timestamp) -> Result<bool> {
        let name = name.to_owned();
        self.db
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?4)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                     WHERE leases.holder = excluded.holder OR leases.until <= ?3",
                    )?
                    .execute(params![name, holder.as_bytes(), ts_to_sql(now), ts_to_sql(until)])?;
                Ok(n == 1)
            })
            .await
    }

    async fn release_lease(&self, name: &str, holder: uuid::Uuid) -> Result<()> {
        let name = name.to_owned();
        self.db
            .write(move |c| {
                c.execute("DELETE FROM leases WHERE name = ?1 AND holder = ?2", params![name, holder.as_bytes()])?;
                Ok(())
            })
            .await
    }

    async fn record_sign_in_failure(&self, keys: &[[u8; 32]], at: Timestamp, forget_before: Timestamp) -> Result<()> {
        let keys = keys.to_vec();
        self.db
            .write(move |c| {
                for key in &keys {
                    c.prepare_cached("DELETE FROM sign_in_failures WHERE key = ?1 AND at <= ?2")?
                        .execute(params![key, ts_to_sql(forget_before)])?;
                    c.prepare_cached("INSERT INTO sign_in_failures (key, at) VALUES (?1, ?2)")?
                        .execute(params![key, ts_to_sql(at)])?;
                }
                Ok(())
            })
            .await
    }

    async fn sign_in_failures(&self, keys: &[[u8; 32]], since: Timestamp, limit: u32) -> Result<Vec<Vec<Timestamp>>> {
        let keys = keys.to_vec();
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT at FROM sign_in_failures WHERE key = ?1 AND at > ?2 ORDER BY at DESC LIMIT ?3",
                )?;
                keys.iter()
                    .map(|key| {
                        let mut times = stmt
                            .query_map(params![key, ts_to_sql(since), limit], |r| r.get::<_, i64>(0))?
                            .map(|v| ts_from_sql(v?))
                            .collect::<Result<Vec<_>>>()?;
                        times.reverse();
                        Ok(times)
                    })
                    .collect()
            })
            .await
    }

    async fn clear_sign_in_failures(&self, key: &[u8; 32]) -> Result<()> {
        let key = *key;
        self.db
            .write(move |c| {
                c.prepare_cached("DELETE FROM sign_in_failures WHERE key = ?1")?.execute([&key[..]])?;
                Ok(())
            })
            .await
    }

    async fn prune_sign_in_failures(&self, before: Timestamp) -> Result<u64> {
        self.db
            .write(move |c| {
                Ok(c.prepare_cached("DELETE FROM sign_in_failures WHERE at <= ?1")?.execute([ts_to_sql(before)])?
                    as u64)
            })
            .await
    }
}
