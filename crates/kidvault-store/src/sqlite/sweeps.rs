//! What the retention and dormancy sweeps read and write on SQLite. Every
//! query reads through an index holding only what may be due, so a sweep costs
//! in proportion to what is due, not to all data.

use kidvault_domain::ids::{ChildId, HouseholdId};
use kidvault_domain::item::ItemKind;
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;
use rusqlite::{params, Connection, OptionalExtension};

use super::{shared, ts_from_sql, ts_to_sql, uuid_from_sql};
use crate::model::ChildRetention;
use crate::sql::outbox;
use crate::Result;

fn ids(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<(ChildId, HouseholdId)>> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(p)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push((
            ChildId(uuid_from_sql(&r.get::<_, Vec<u8>>(0)?)?),
            HouseholdId(uuid_from_sql(&r.get::<_, Vec<u8>>(1)?)?),
        ));
    }
    Ok(out)
}

/// Children with live items of `kind` recorded before `before`.
pub(crate) fn expired(
    c: &Connection,
    kind: ItemKind,
    before: Timestamp,
    limit: u32,
) -> Result<Vec<(ChildId, HouseholdId)>> {
    ids(
        c,
        "SELECT ch.id, ch.household_id FROM children ch WHERE ch.id IN (
             SELECT DISTINCT child_id FROM items INDEXED BY items_kind_time
             WHERE kind = ?1 AND recorded_at < ?2 AND state = 'live')
           AND ch.status <> 'deleting'
         LIMIT ?3",
        params![kind.as_str(), ts_to_sql(before), limit],
    )
}

/// Children never consented for, created before `before`.
pub(crate) fn abandoned(c: &Connection, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
    ids(
        c,
        "SELECT id, household_id FROM children WHERE status = 'pending_consent' AND created_at < ?1 LIMIT ?2",
        params![ts_to_sql(before), limit],
    )
}

/// Active, not dormant, not kept children with no activity since `before`.
pub(crate) fn inactive(c: &Connection, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
    ids(
        c,
        "SELECT id, household_id FROM children
         WHERE status = 'active' AND dormant_at IS NULL AND keep_when_dormant_at IS NULL
           AND COALESCE(last_active_at, created_at) < ?1
         ORDER BY COALESCE(last_active_at, created_at) LIMIT ?2",
        params![ts_to_sql(before), limit],
    )
}

/// Marks a child dormant, with its ledger entry and the guardians' notice,
/// unless it became active, was kept or is already dormant meanwhile.
pub(crate) fn mark_dormant(
    c: &Connection,
    child: ChildId,
    inactive_before: Timestamp,
    at: Timestamp,
    delete_at: Timestamp,
    entry: &NewEntry,
    notice: &NewNotice,
) -> Result<bool> {
    let n = c.execute(
        "UPDATE children SET dormant_at = ?2, dormancy_deletion_at = ?3, reminded_at = NULL
         WHERE id = ?1 AND status = 'active' AND dormant_at IS NULL AND keep_when_dormant_at IS NULL
           AND COALESCE(last_active_at, created_at) < ?4",
        params![child.as_bytes(), ts_to_sql(at), ts_to_sql(delete_at), ts_to_sql(inactive_before)],
    )?;
    if n == 0 {
        return Ok(false);
    }
    let hh = household_of(c, child)?;
    super::ledger::append(c, std::slice::from_ref(entry))?;
    shared(c, |tx| outbox::enqueue(tx, hh, std::slice::from_ref(notice), at))?;
    Ok(true)
}

fn household_of(c: &Connection, child: ChildId) -> Result<HouseholdId> {
    let hh: Vec<u8> =
        c.query_row("SELECT household_id FROM children WHERE id = ?1", [child.as_bytes()], |r| r.get(0))?;
    Ok(HouseholdId(uuid_from_sql(&hh)?))
}

/// Dormant children not yet reminded whose deletion is due at or before `by`.
pub(crate) fn to_remind(c: &Connection, by: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
    ids(
        c,
        "SELECT id, household_id FROM children
         WHERE dormant_at IS NOT NULL AND reminded_at IS NULL AND dormancy_deletion_at <= ?1 AND status = 'active'
         LIMIT ?2",
        params![ts_to_sql(by), limit],
    )
}

pub(crate) fn mark_reminded(c: &Connection, child: ChildId, at: Timestamp, notice: &NewNotice) -> Result<bool> {
    let n = c.execute(
        "UPDATE children SET reminded_at = ?2 WHERE id = ?1 AND dormant_at IS NOT NULL AND reminded_at IS NULL",
        params![child.as_bytes(), ts_to_sql(at)],
    )?;
    if n == 1 {
        let hh = household_of(c, child)?;
        shared(c, |tx| outbox::enqueue(tx, hh, std::slice::from_ref(notice), at))?;
    }
    Ok(n == 1)
}

/// Dormant children whose grace period has ended at `now`.
pub(crate) fn dormant_due(c: &Connection, now: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
    ids(
        c,
        "SELECT id, household_id FROM children
         WHERE dormant_at IS NOT NULL AND dormancy_deletion_at <= ?1 AND keep_when_dormant_at IS NULL
           AND status = 'active'
         LIMIT ?2",
        params![ts_to_sql(now), limit],
    )
}

pub(crate) fn retention_of(c: &Connection, child: ChildId) -> Result<Option<ChildRetention>> {
    c.query_row(
        "SELECT last_active_at, created_at, dormant_at, dormancy_deletion_at, reminded_at, keep_when_dormant_at
         FROM children WHERE id = ?1",
        [child.as_bytes()],
        |r| Ok([r.get::<_, Option<i64>>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?]),
    )
    .optional()?
    .map(|v| {
        let t = |i: usize| v[i].map(ts_from_sql).transpose();
        Ok(ChildRetention {
            last_active_at: t(0)?,
            created_at: t(1)?.ok_or_else(|| crate::StoreError::Corrupt("child without created_at".into()))?,
            dormant_at: t(2)?,
            deletion_at: t(3)?,
            reminded_at: t(4)?,
            kept_at: t(5)?,
        })
    })
    .transpose()
}

/// Keeps (or stops keeping) a profile when dormant; keeping ends dormancy.
pub(crate) fn set_keep(c: &Connection, child: ChildId, keep: bool, at: Timestamp, entry: &NewEntry) -> Result<()> {
    if keep {
        c.execute(
            "UPDATE children SET keep_when_dormant_at = ?2, dormant_at = NULL, dormancy_deletion_at = NULL,
                 reminded_at = NULL WHERE id = ?1",
            params![child.as_bytes(), ts_to_sql(at)],
        )?;
    } else {
        c.execute("UPDATE children SET keep_when_dormant_at = NULL WHERE id = ?1", [child.as_bytes()])?;
    }
    super::ledger::append(c, std::slice::from_ref(entry))?;
    Ok(())
}
