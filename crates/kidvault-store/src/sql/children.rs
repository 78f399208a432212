//! Children, their consents and devices, household membership and closure,
//! leases for background work, and sign-in failures.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use kidvault_domain::consent::{Consent, ConsentMethod, ConsentScope, ScopeGrant};
use kidvault_domain::entities::{Child, ChildStatus, Device};
use kidvault_domain::ids::*;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;

use super::backend::MergeableRead;
use super::tx::Prefixed;
use super::{accounts, corrupt, list, Dialect, Param, Row, Tx, TxError, R};
use crate::model::*;
use crate::{p, StoreError};

fn child_row(r: &dyn Row) -> R<ChildRecord> {
    Ok(ChildRecord {
        child: Child {
            id: r.id("id")?,
            household_id: r.id("household_id")?,
            status: r.parsed("status", ChildStatus::parse)?,
            created_at: r.ts("created_at")?,
            last_active_at: r.opt_ts("last_active_at")?,
            keep_recordings_days: r.int("keep_recordings_days")?.map(|d| u32::try_from(d).unwrap_or(0)),
        },
        profile: Sealed {
            epoch: r.epoch("profile_epoch")?,
            wrapped_key: r.blob("profile_key")?,
            ciphertext: r.blob("profile")?,
        },
    })
}

fn device_row(r: &dyn Row) -> R<DeviceRecord> {
    Ok(DeviceRecord {
        device: Device {
            id: r.id("id")?,
            household_id: r.id("household_id")?,
            child_id: r.id("child_id")?,
            created_at: r.ts("created_at")?,
            revoked_at: r.opt_ts("revoked_at")?,
        },
        name: Sealed { epoch: r.epoch("name_epoch")?, wrapped_key: r.blob("name_key")?, ciphertext: r.blob("name")? },
        token_hash: r.hash32("token_hash")?,
    })
}

/// Data sealed under a key epoch that a rotation has since retired is refused, so
/// the caller re-seals under the current key (the old epoch is about to be
/// destroyed). Every write of sealed child data goes through this check.
pub fn require_current_epoch(tx: &mut dyn Tx, child: ChildId, epoch: u32) -> R<()> {
    let current = tx.opt("SELECT key_epoch FROM children WHERE id = ?1", p![child], |r| r.i64("key_epoch"))?;
    if current.is_some_and(|e| e != i64::from(epoch)) {
        return Err(TxError::Store(StoreError::StaleKeyEpoch));
    }
    Ok(())
}

/// Adds a child to a household that is not closing.
pub fn create_child(tx: &mut dyn Tx, r: &ChildRecord) -> R<()> {
    let closing = tx.opt("SELECT closing_at FROM households WHERE id = ?1", p![r.child.household_id], |row| {
        row.int("closing_at")
    })?;
    if closing.flatten().is_some() {
        return Err(TxError::Store(StoreError::Conflict("the household is closing".into())));
    }
    tx.exec(
        "INSERT INTO children (id, household_id, status, created_at, last_active_at, profile_epoch, profile_key, profile,
             keep_recordings_days)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        p![
            r.child.id,
            r.child.household_id,
            r.child.status.as_str(),
            r.child.created_at,
            r.child.last_active_at,
            r.profile.epoch,
            &r.profile.wrapped_key,
            &r.profile.ciphertext,
            r.child.keep_recordings_days
        ],
    )?;
    Ok(())
}

pub fn child(tx: &mut dyn Tx, child: ChildId) -> R<Option<ChildRecord>> {
    tx.opt(
        "SELECT id, household_id, status, created_at, last_active_at, keep_recordings_days, profile_epoch, profile_key,
             profile FROM children WHERE id = ?1",
        p![child],
        child_row,
    )
}

pub fn children_of(tx: &mut dyn Tx, household: HouseholdId) -> R<Vec<ChildRecord>> {
    tx.rows(
        "SELECT id, household_id, status, created_at, last_active_at, keep_recordings_days, profile_epoch, profile_key,
             profile FROM children WHERE household_id = ?1 ORDER BY created_at, id",
        p![household],
        child_row,
    )
}

/// Records a consent with its ledger entry.
pub fn record_consent(tx: &mut dyn Tx, k: &Consent, entry: &NewEntry) -> R<()> {
    accounts::insert_consent(tx, k)?;
    tx.append_ledger(std::slice::from_ref(entry))?;
    Ok(())
}

fn consent_row(r: &dyn Row) -> R<Consent> {
    Ok(Consent {
        id: r.id("id")?,
        child_id: r.id("child_id")?,
        guardian_id: r.id("guardian_id")?,
        method: r.parsed("method", ConsentMethod::parse)?,
        evidence_ref: r.string("evidence_ref")?,
        notice_version: r.string("notice_version")?,
        granted_at: r.ts("granted_at")?,
        scopes: Vec::new(),
    })
}

fn scope_row(r: &dyn Row) -> R<ScopeGrant> {
    Ok(ScopeGrant { scope: r.parsed("scope", ConsentScope::parse)?, withdrawn_at: r.opt_ts("withdrawn_at")? })
}

/// A child's consents, oldest first, each with its scopes.
pub fn consents_of(tx: &mut dyn Tx, child: ChildId) -> R<Vec<Consent>> {
    let mut consents = tx.rows(
        "SELECT id, child_id, guardian_id, method, evidence_ref, notice_version, granted_at
         FROM consents WHERE child_id = ?1 ORDER BY granted_at, id",
        p![child],
        consent_row,
    )?;
    let grants = tx.rows(
        "SELECT consent_id, scope, withdrawn_at FROM consent_scopes WHERE child_id = ?1 ORDER BY scope",
        p![child],
        |r| Ok((r.id::<ConsentId>("consent_id")?, scope_row(r)?)),
    )?;
    for (consent_id, grant) in grants {
        if let Some(c) = consents.iter_mut().find(|c| c.id == consent_id) {
            c.scopes.push(grant);
        }
    }
    Ok(consents)
}

/// Withdraws a scope from every consent of the child; the ledger records it
/// when anything was in force.
pub fn withdraw_scope(tx: &mut dyn Tx, child: ChildId, scope: ConsentScope, at: Timestamp, entry: &NewEntry) -> R<u64> {
    let n = tx.exec(
        "UPDATE consent_scopes SET withdrawn_at = ?3 WHERE child_id = ?1 AND scope = ?2 AND withdrawn_at IS NULL",
        p![child, scope.as_str(), at],
    )?;
    if n > 0 {
        tx.append_ledger(std::slice::from_ref(entry))?;
    }
    Ok(n)
}

const DEVICE_COLS: &str = "id, household_id, child_id, token_hash, created_at, revoked_at, name_epoch, name_key, name";

pub fn create_device(tx: &mut dyn Tx, d: &DeviceRecord) -> R<()> {
    require_current_epoch(tx, d.device.child_id, d.name.epoch)?;
    tx.exec(
        &format!("INSERT INTO devices ({DEVICE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        p![
            d.device.id,
            d.device.household_id,
            d.device.child_id,
            &d.token_hash,
            d.device.created_at,
            d.device.revoked_at,
            d.name.epoch,
            &d.name.wrapped_key,
            &d.name.ciphertext
        ],
    )?;
    Ok(())
}

pub fn device(tx: &mut dyn Tx, device: DeviceId) -> R<Option<DeviceRecord>> {
    tx.opt(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?1"), p![device], device_row)
}

pub fn devices_of(tx: &mut dyn Tx, child: ChildId) -> R<Vec<DeviceRecord>> {
    tx.rows(
        &format!("SELECT {DEVICE_COLS} FROM devices WHERE child_id = ?1 ORDER BY created_at, id"),
        p![child],
        device_row,
    )
}

pub fn revoke_device(tx: &mut dyn Tx, device: DeviceId, at: Timestamp) -> R<bool> {
    Ok(tx.exec("UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", p![device, at])? == 1)
}

/// What a device's upload is decided on: the device, its child and the
/// child's consents. Every device request makes this read. On PostgreSQL it is
/// one statement, run without a transaction and shared by the reads waiting
/// beside it ([`IngestContextRead`]): a statement each is what costs there. On
/// SQLite, in process, the three indexed reads stay (no join to plan and sort
/// on every upload).
pub fn ingest_context(tx: &mut dyn Tx, token_hash: &[u8; 32]) -> R<Option<IngestContext>> {
    if tx.dialect() == Dialect::Sqlite {
        let Some(device) =
            tx.opt(&format!("SELECT {DEVICE_COLS} FROM devices WHERE token_hash = ?1"), p![token_hash], device_row)?
        else {
            return Ok(None);
        };
        let child = child(tx, device.device.child_id)?.ok_or_else(|| corrupt("device without child"))?;
        let consents = consents_of(tx, device.device.child_id)?;
        return Ok(Some(IngestContext { device, child, consents }));
    }
    Ok(ingest_contexts(tx, &[token_hash])?.pop().flatten())
}

/// The ingest context of each token hash (`None`: no such device), in one
/// statement (PostgreSQL's spelling; SQLite reads each with [`ingest_context`]).
pub fn ingest_contexts(tx: &mut dyn Tx, token_hashes: &[&[u8; 32]]) -> R<Vec<Option<IngestContext>>> {
    if tx.dialect() == Dialect::Sqlite {
        return token_hashes.iter().map(|h| ingest_context(tx, h)).collect();
    }
    let mut params = Vec::with_capacity(token_hashes.len());
    let wanted = list(&mut params, token_hashes.iter().map(|h| Param::Bytes(&h[..])));
    let mut found: HashMap<[u8; 32], (DeviceRecord, Option<ChildRecord>, Vec<Consent>)> = HashMap::new();
    tx.each(
        &format!(
            "SELECT d.id AS d_id, d.household_id AS d_household_id, d.child_id AS d_child_id,
                    d.token_hash AS d_token_hash, d.created_at AS d_created_at, d.revoked_at AS d_revoked_at,
                    d.name_epoch AS d_name_epoch, d.name_key AS d_name_key, d.name AS d_name,
                    c.id, c.household_id, c.status, c.created_at, c.last_active_at, c.keep_recordings_days,
                    c.profile_epoch, c.profile_key, c.profile,
                    k.id AS k_id, k.child_id AS k_child_id, k.guardian_id AS k_guardian_id, k.method AS k_method,
                    k.evidence_ref AS k_evidence_ref, k.notice_version AS k_notice_version,
                    k.granted_at AS k_granted_at, s.scope AS s_scope, s.withdrawn_at AS s_withdrawn_at
             FROM devices d
             LEFT JOIN children c ON c.id = d.child_id
             LEFT JOIN consents k ON k.child_id = d.child_id
             LEFT JOIN consent_scopes s ON s.consent_id = k.id AND s.child_id = d.child_id
             WHERE d.token_hash IN ({wanted})
             ORDER BY d.token_hash, k.granted_at, k.id, s.scope"
        ),
        &params,
        &mut |r| {
            // A device's first row carries its device and child; the rest
            // only add consents and scopes.
            let (_, _, consents) = match found.entry(r.hash32("d_token_hash")?) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => {
                    let device = device_row(&Prefixed { row: r, prefix: "d_" })?;
                    let child = r.uuid("id")?.map(|_| child_row(r)).transpose()?;
                    v.insert((device, child, Vec::new()))
                }
            };
            if let Some(id) = r.opt_id::<ConsentId>("k_id")? {
                if consents.last().map(|c| c.id) != Some(id) {
                    consents.push(consent_row(&Prefixed { row: r, prefix: "k_" })?);
                }
                if r.text("s_scope")?.is_some() {
                    let grant = scope_row(&Prefixed { row: r, prefix: "s_" })?;
                    consents.last_mut().ok_or_else(|| corrupt("scope without consent"))?.scopes.push(grant);
                }
            }
            Ok(true)
        },
    )?;
    token_hashes
        .iter()
        .map(|h| {
            let Some((device, child, consents)) = found.get(*h).cloned() else { return Ok(None) };
            let child = child.ok_or_else(|| corrupt("device without child"))?;
            Ok(Some(IngestContext { device, child, consents }))
        })
        .collect()
}

/// [`ingest_context`] as a [`MergeableRead`]: concurrent device requests
/// share one statement on PostgreSQL.
#[derive(Debug)]
pub struct IngestContextRead(pub [u8; 32]);

impl MergeableRead for IngestContextRead {
    type Output = Option<IngestContext>;

    fn one(&self, tx: &mut dyn Tx) -> R<Self::Output> {
        ingest_context(tx, &self.0)
    }

    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Self::Output>> {
        ingest_contexts(tx, &group.iter().map(|q| &q.0).collect::<Vec<_>>())
    }
}

pub fn revoke_session(tx: &mut dyn Tx, token_hash: &[u8; 32], at: Timestamp) -> R<()> {
    tx.exec("UPDATE sessions SET revoked_at = ?2 WHERE token_hash = ?1 AND revoked_at IS NULL", p![token_hash, at])?;
    Ok(())
}

pub fn guardian_ids(tx: &mut dyn Tx, household: HouseholdId) -> R<Vec<GuardianId>> {
    tx.rows("SELECT id FROM guardians WHERE household_id = ?1 ORDER BY id", p![household], |r| r.id("id"))
}

pub fn begin_household_closure(tx: &mut dyn Tx, household: HouseholdId, at: Timestamp) -> R<()> {
    tx.exec("UPDATE households SET closing_at = ?2 WHERE id = ?1 AND closing_at IS NULL", p![household, at])?;
    Ok(())
}

pub fn closing_households(tx: &mut dyn Tx) -> R<Vec<HouseholdId>> {
    tx.rows("SELECT id FROM households WHERE closing_at IS NOT NULL ORDER BY closing_at, id", p![], |r| r.id("id"))
}

/// Takes (or renews) the named lease for `holder` until `until`, unless another
/// holder's lease is still running at `now`.
pub fn acquire_lease(tx: &mut dyn Tx, name: &str, holder: uuid::Uuid, now: Timestamp, until: Timestamp) -> R<bool> {
    let n = tx.exec(
        "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?4)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
         WHERE leases.holder = excluded.holder OR leases.until <= ?3",
        p![name, holder, now, until],
    )?;
    Ok(n == 1)
}

pub fn release_lease(tx: &mut dyn Tx, name: &str, holder: uuid::Uuid) -> R<()> {
    tx.exec("DELETE FROM leases WHERE name = ?1 AND holder = ?2", p![name, holder])?;
    Ok(())
}

/// Records a failed sign-in under each key, forgetting that key's failures
/// older than its window.
pub fn record_sign_in_failure(tx: &mut dyn Tx, keys: &[[u8; 32]], at: Timestamp, forget_before: Timestamp) -> R<()> {
    for key in keys {
        tx.exec("DELETE FROM sign_in_failures WHERE key = ?1 AND at <= ?2", p![key, forget_before])?;
        tx.exec("INSERT INTO sign_in_failures (key, at) VALUES (?1, ?2)", p![key, at])?;
    }
    Ok(())
}

/// Each key's failures since `since`, oldest first (the newest `limit`).
pub fn sign_in_failures(tx: &mut dyn Tx, keys: &[[u8; 32]], since: Timestamp, limit: u32) -> R<Vec<Vec<Timestamp>>> {
    keys.iter()
        .map(|key| {
            let mut times = tx.rows(
                "SELECT at FROM sign_in_failures WHERE key = ?1 AND at > ?2 ORDER BY at DESC LIMIT ?3",
                p![key, since, limit],
                |r| r.ts("at"),
            )?;
            times.reverse();
            Ok(times)
        })
        .collect()
}

pub fn clear_sign_in_failures(tx: &mut dyn Tx, key: &[u8; 32]) -> R<()> {
    tx.exec("DELETE FROM sign_in_failures WHERE key = ?1", p![key])?;
    Ok(())
}

pub fn prune_sign_in_failures(tx: &mut dyn Tx, before: Timestamp) -> R<u64> {
    tx.exec("DELETE FROM sign_in_failures WHERE at <= ?1", p![before])
}
