//! What the retention and dormancy sweeps read and write on PostgreSQL, through
//! partial indexes holding only what may be due.

use kidvault_domain::ids::{ChildId, HouseholdId};
use kidvault_domain::item::ItemKind;
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;
use kidvault_store::model::ChildRetention;
use postgres::types::ToSql;

use crate::db::{Tx, R};
use crate::ledger;
use crate::rows::{corrupt, limit, ts_to_sql, Get};
use crate::store::map;
use kidvault_store::sql::outbox;

fn ids(tx: &mut Tx<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> R<Vec<(ChildId, HouseholdId)>> {
    let rows = tx.rows(sql, params)?;
    map(&rows, |r| Ok((r.id("id")?, r.id("household_id")?)))
}

pub(crate) fn expired(tx: &mut Tx<'_>, kind: ItemKind, before: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    ids(
        tx,
        "SELECT ch.id, ch.household_id FROM children ch WHERE ch.id IN (
             SELECT DISTINCT child_id FROM items WHERE kind = $1 AND recorded_at < $2 AND state = 'live')
           AND ch.status <> 'deleting'
         LIMIT $3",
        &[&kind.as_str(), &ts_to_sql(before), &limit(n)],
    )
}

pub(crate) fn abandoned(tx: &mut Tx<'_>, before: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    ids(
        tx,
        "SELECT id, household_id FROM children WHERE status = 'pending_consent' AND created_at < $1 LIMIT $2",
        &[&ts_to_sql(before), &limit(n)],
    )
}

pub(crate) fn inactive(tx: &mut Tx<'_>, before: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    ids(
        tx,
        "SELECT id, household_id FROM children
         WHERE status = 'active' AND dormant_at IS NULL AND keep_when_dormant_at IS NULL
           AND COALESCE(last_active_at, created_at) < $1
         ORDER BY COALESCE(last_active_at, created_at) LIMIT $2",
        &[&ts_to_sql(before), &limit(n)],
    )
}

fn household_of(tx: &mut Tx<'_>, child: ChildId) -> R<HouseholdId> {
    tx.one("SELECT household_id FROM children WHERE id = $1", &[&child.0])?.id("household_id")
}

pub(crate) fn mark_dormant(
    tx: &mut Tx<'_>,
    child: ChildId,
    inactive_before: Timestamp,
    at: Timestamp,
    delete_at: Timestamp,
    entry: &NewEntry,
    notice: &NewNotice,
) -> R<bool> {
    let n = tx.exec(
        "UPDATE children SET dormant_at = $2, dormancy_deletion_at = $3, reminded_at = NULL
         WHERE id = $1 AND status = 'active' AND dormant_at IS NULL AND keep_when_dormant_at IS NULL
           AND COALESCE(last_active_at, created_at) < $4",
        &[&child.0, &ts_to_sql(at), &ts_to_sql(delete_at), &ts_to_sql(inactive_before)],
    )?;
    if n == 0 {
        return Ok(false);
    }
    let hh = household_of(tx, child)?;
    ledger::append(tx, std::slice::from_ref(entry))?;
    outbox::enqueue(tx, hh, std::slice::from_ref(notice), at)?;
    Ok(true)
}

pub(crate) fn to_remind(tx: &mut Tx<'_>, by: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    ids(
        tx,
        "SELECT id, household_id FROM children
         WHERE dormant_at IS NOT NULL AND reminded_at IS NULL AND dormancy_deletion_at <= $1 AND status = 'active'
         LIMIT $2",
        &[&ts_to_sql(by), &limit(n)],
    )
}

pub(crate) fn mark_reminded(tx: &mut Tx<'_>, child: ChildId, at: Timestamp, notice: &NewNotice) -> R<bool> {
    let n = tx.exec(
        "UPDATE children SET reminded_at = $2 WHERE id = $1 AND dormant_at IS NOT NULL AND reminded_at IS NULL",
        &[&child.0, &ts_to_sql(at)],
    )?;
    if n == 1 {
        let hh = household_of(tx, child)?;
        outbox::enqueue(tx, hh, std::slice::from_ref(notice), at)?;
    }
    Ok(n == 1)
}

pub(crate) fn dormant_due(tx: &mut Tx<'_>, now: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    ids(
        tx,
        "SELECT id, household_id FROM children
         WHERE dormant_at IS NOT NULL AND dormancy_deletion_at <= $1 AND keep_when_dormant_at IS NULL
           AND status = 'active'
         LIMIT $2",
        &[&ts_to_sql(now), &limit(n)],
    )
}

pub(crate) fn retention_of(tx: &mut Tx<'_>, child: ChildId) -> R<Option<ChildRetention>> {
    tx.opt(
        "SELECT last_active_at, created_at, dormant_at, dormancy_deletion_at, reminded_at, keep_when_dormant_at
         FROM children WHERE id = $1",
        &[&child.0],
    )?
    .map(|r| {
        Ok(ChildRetention {
            last_active_at: r.opt_ts("last_active_at")?,
            created_at: r.opt_ts("created_at")?.ok_or_else(|| corrupt("child without created_at"))?,
            dormant_at: r.opt_ts("dormant_at")?,
            deletion_at: r.opt_ts("dormancy_deletion_at")?,
            reminded_at: r.opt_ts("reminded_at")?,
            kept_at: r.opt_ts("keep_when_dormant_at")?,
        })
    })
    .transpose()
}

pub(crate) fn set_keep(tx: &mut Tx<'_>, child: ChildId, keep: bool, at: Timestamp, entry: &NewEntry) -> R<()> {
    if keep {
        tx.exec(
            "UPDATE children SET keep_when_dormant_at = $2, dormant_at = NULL, dormancy_deletion_at = NULL,
                 reminded_at = NULL WHERE id = $1",
            &[&child.0, &ts_to_sql(at)],
        )?;
    } else {
        tx.exec("UPDATE children SET keep_when_dormant_at = NULL WHERE id = $1", &[&child.0])?;
    }
    ledger::append(tx, std::slice::from_ref(entry))?;
    Ok(())
}
