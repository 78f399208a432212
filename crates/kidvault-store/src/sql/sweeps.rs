//! What the retention and dormancy sweeps read and write, through partial
//! indexes holding only what may be due.

use kidvault_domain::ids::{ChildId, HouseholdId};
use kidvault_domain::item::ItemKind;
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;

use super::{bind, corrupt, outbox, Dialect, Param, Tx, R};
use crate::model::{ChildRetention, DormancyMark, DormantChild, InactiveChild};
use crate::p;

fn ids(tx: &mut dyn Tx, sql: &str, params: &[Param<'_>]) -> R<Vec<(ChildId, HouseholdId)>> {
    tx.rows(sql, params, |r| Ok((r.id("id")?, r.id("household_id")?)))
}

macro_rules! expired_sql {
    ($hint:literal) => {
        concat!(
            "SELECT ch.id, ch.household_id FROM children ch WHERE ch.id IN (
                 SELECT DISTINCT child_id FROM items ",
            $hint,
            " WHERE kind = ?1 AND recorded_at < ?2 AND state = 'live')
               AND ch.status <> 'deleting'
             LIMIT ?3"
        )
    };
}

/// Children with live items of `kind` recorded before `before`.
pub fn expired(tx: &mut dyn Tx, kind: ItemKind, before: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    // SQLite's planner, left to itself, walks a child's items by child; the
    // (kind, time) index reads only what is old enough.
    let sql = match tx.dialect() {
        Dialect::Sqlite => expired_sql!("INDEXED BY items_kind_time"),
        Dialect::Postgres => expired_sql!(""),
    };
    ids(tx, sql, p![kind.as_str(), before, n])
}

pub fn abandoned(tx: &mut dyn Tx, before: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    ids(
        tx,
        "SELECT id, household_id FROM children WHERE status = 'pending_consent' AND created_at < ?1 LIMIT ?2",
        p![before, n],
    )
}

pub fn inactive(tx: &mut dyn Tx, before: Timestamp, n: u32) -> R<Vec<InactiveChild>> {
    tx.rows(
        "SELECT id, household_id, last_active_at FROM children
         WHERE status = 'active' AND dormant_at IS NULL AND keep_when_dormant_at IS NULL
           AND COALESCE(last_active_at, created_at) < ?1
         ORDER BY COALESCE(last_active_at, created_at) LIMIT ?2",
        p![before, n],
        |r| {
            Ok(InactiveChild {
                child: r.id("id")?,
                household: r.id("household_id")?,
                last_active_at: r.opt_ts("last_active_at")?,
            })
        },
    )
}

/// Marks each child dormant unless it is no longer due; the entries of those
/// marked are appended to the ledger together (one append for the batch).
pub fn mark_dormant(
    tx: &mut dyn Tx,
    marks: &[DormancyMark],
    inactive_before: Timestamp,
    at: Timestamp,
    delete_at: Timestamp,
) -> R<Vec<ChildId>> {
    let mut marked = Vec::new();
    let mut entries = Vec::new();
    let mut notices = Vec::new();
    // One UPDATE per chunk marks those still due and says which they were.
    for chunk in marks.chunks(500) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len() + 3);
        let (at, delete_at, before) = (
            bind(&mut params, Param::from(at)),
            bind(&mut params, Param::from(delete_at)),
            bind(&mut params, Param::from(inactive_before)),
        );
        let ids = chunk.iter().map(|m| bind(&mut params, Param::from(m.child))).collect::<Vec<_>>().join(", ");
        let mut done: std::collections::HashSet<(ChildId, HouseholdId)> = tx
            .rows(
                &format!(
                    "UPDATE children SET dormant_at = {at}, dormancy_deletion_at = {delete_at}, reminded_at = NULL
                     WHERE id IN ({ids}) AND status = 'active' AND dormant_at IS NULL
                       AND keep_when_dormant_at IS NULL AND COALESCE(last_active_at, created_at) < {before}
                     RETURNING id, household_id"
                ),
                &params,
                |r| Ok((r.id("id")?, r.id("household_id")?)),
            )?
            .into_iter()
            .collect();
        // Each child marked gets one notice and one entry, however often the
        // batch names it; a mark whose household is not the child's (never,
        // from the sweep's own query) gets neither.
        for m in chunk.iter().filter(|m| done.remove(&(m.child, m.household))) {
            notices.push((m.household, &m.notice));
            entries.push(m.entry.clone());
            marked.push(m.child);
        }
    }
    outbox::enqueue_many(tx, &notices, at)?;
    if !entries.is_empty() {
        tx.append_ledger(&entries)?;
    }
    Ok(marked)
}

pub fn to_remind(tx: &mut dyn Tx, by: Timestamp, n: u32) -> R<Vec<DormantChild>> {
    tx.rows(
        "SELECT id, household_id, dormancy_deletion_at FROM children
         WHERE dormant_at IS NOT NULL AND reminded_at IS NULL AND dormancy_deletion_at <= ?1 AND status = 'active'
         LIMIT ?2",
        p![by, n],
        |r| {
            Ok(DormantChild {
                child: r.id("id")?,
                household: r.id("household_id")?,
                deletion_at: r.ts("dormancy_deletion_at")?,
            })
        },
    )
}

/// Records the reminders of a batch, each once, with their notices: one
/// UPDATE per chunk says which children it reminded.
pub fn mark_reminded(tx: &mut dyn Tx, reminders: &[(ChildId, NewNotice)], at: Timestamp) -> R<Vec<ChildId>> {
    let mut reminded = Vec::new();
    let mut notices = Vec::new();
    for chunk in reminders.chunks(500) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len() + 1);
        let at = bind(&mut params, Param::from(at));
        let ids = chunk.iter().map(|(c, _)| bind(&mut params, Param::from(*c))).collect::<Vec<_>>().join(", ");
        let mut done: std::collections::HashMap<ChildId, HouseholdId> = tx
            .rows(
                &format!(
                    "UPDATE children SET reminded_at = {at}
                     WHERE id IN ({ids}) AND dormant_at IS NOT NULL AND reminded_at IS NULL
                     RETURNING id, household_id"
                ),
                &params,
                |r| Ok((r.id("id")?, r.id("household_id")?)),
            )?
            .into_iter()
            .collect();
        for (child, notice) in chunk {
            if let Some(household) = done.remove(child) {
                notices.push((household, notice));
                reminded.push(*child);
            }
        }
    }
    outbox::enqueue_many(tx, &notices, at)?;
    Ok(reminded)
}

pub fn dormant_due(tx: &mut dyn Tx, now: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId)>> {
    ids(
        tx,
        "SELECT id, household_id FROM children
         WHERE dormant_at IS NOT NULL AND dormancy_deletion_at <= ?1 AND keep_when_dormant_at IS NULL
           AND status = 'active'
         LIMIT ?2",
        p![now, n],
    )
}

macro_rules! auto_delete_sql {
    ($hint:literal) => {
        concat!(
            "SELECT ch.id, ch.household_id, ch.keep_recordings_days FROM children ch ",
            $hint,
            " WHERE ch.keep_recordings_days IS NOT NULL AND ch.status <> 'deleting'
               AND EXISTS (SELECT 1 FROM items i WHERE i.child_id = ch.id AND i.kind = 'voice_recording'
                               AND i.state = 'live'
                               AND i.recorded_at + ch.keep_recordings_days * CAST(86400000000 AS BIGINT) < ?1)
             ORDER BY ch.id LIMIT ?2"
        )
    };
}

/// Children whose parents chose to keep recordings for fewer days than the
/// policy, with a live recording older than that: each with its choice.
pub fn auto_delete_due(tx: &mut dyn Tx, now: Timestamp, n: u32) -> R<Vec<(ChildId, HouseholdId, u32)>> {
    // SQLite, left to itself, walks every child in id order (for the ORDER
    // BY): 2 s over a million profiles. The partial index holds only the
    // children whose parents chose, the few rows then sorted.
    let sql = match tx.dialect() {
        Dialect::Sqlite => auto_delete_sql!("INDEXED BY children_keep_recordings"),
        Dialect::Postgres => auto_delete_sql!(""),
    };
    tx.rows(sql, p![now, n], |r| {
        let days = u32::try_from(r.i64("keep_recordings_days")?).map_err(|_| corrupt("negative keep days"))?;
        Ok((r.id("id")?, r.id("household_id")?, days))
    })
}

/// Sets a child's auto-delete choice for recordings, with its ledger entry.
pub fn set_keep_recordings(tx: &mut dyn Tx, child: ChildId, days: Option<u32>, entry: &NewEntry) -> R<()> {
    tx.exec("UPDATE children SET keep_recordings_days = ?2 WHERE id = ?1", p![child, days])?;
    tx.append_ledger(std::slice::from_ref(entry))?;
    Ok(())
}

pub fn retention_of(tx: &mut dyn Tx, child: ChildId) -> R<Option<ChildRetention>> {
    tx.opt(
        "SELECT last_active_at, created_at, dormant_at, dormancy_deletion_at, reminded_at, keep_when_dormant_at
         FROM children WHERE id = ?1",
        p![child],
        |r| {
            Ok(ChildRetention {
                last_active_at: r.opt_ts("last_active_at")?,
                created_at: r.opt_ts("created_at")?.ok_or_else(|| corrupt("child without created_at"))?,
                dormant_at: r.opt_ts("dormant_at")?,
                deletion_at: r.opt_ts("dormancy_deletion_at")?,
                reminded_at: r.opt_ts("reminded_at")?,
                kept_at: r.opt_ts("keep_when_dormant_at")?,
            })
        },
    )
}

pub fn set_keep(tx: &mut dyn Tx, child: ChildId, keep: bool, at: Timestamp, entry: &NewEntry) -> R<()> {
    if keep {
        tx.exec(
            "UPDATE children SET keep_when_dormant_at = ?2, dormant_at = NULL, dormancy_deletion_at = NULL,
                 reminded_at = NULL WHERE id = ?1",
            p![child, at],
        )?;
    } else {
        tx.exec("UPDATE children SET keep_when_dormant_at = NULL WHERE id = ?1", p![child])?;
    }
    tx.append_ledger(std::slice::from_ref(entry))?;
    Ok(())
}
