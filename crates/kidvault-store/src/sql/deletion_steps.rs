//! The deletion runner's most frequent steps as writes that PostgreSQL's
//! writer may merge ([`MergeableWrite`]): the runner steps up to 64 deletions
//! at once, and each step of each deletion was a dozen statements (a whole
//! child's purge: seventeen), each a round trip. Merged, the deletions of a
//! batch that are at the step take it together in a few set-based
//! statements; one that is not at the step (another node took it) is left to
//! run alone and meets its usual conflict. Alone, each is exactly the
//! one-deletion body (SQLite runs every write alone).

use std::collections::{BTreeMap, HashSet};

use kidvault_domain::deletion::DeletionStep;
use kidvault_domain::ids::{ChildId, DeletionId, HouseholdId};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;

use super::backend::MergeableWrite;
use super::deletions::{require, set_step};
use super::{bind, corrupt, list, outbox, Param, Tx, R};
use crate::model::{DeletionRecord, TaskRecord};

/// Deletions per statement.
const CHUNK: usize = 500;

/// Which members of a group to try together: those whose key (the step
/// taken and its time) is the first member's, each deletion once; and their ids.
fn picked<W>(group: &[&W], id: impl Fn(&W) -> DeletionId, same: impl Fn(&W) -> bool) -> (Vec<bool>, Vec<DeletionId>) {
    let mut seen = HashSet::new();
    let picked: Vec<bool> = group.iter().map(|w| same(w) && seen.insert(id(w))).collect();
    let ids = group.iter().zip(&picked).filter(|(_, p)| **p).map(|(w, _)| id(w)).collect();
    (picked, ids)
}

/// The records of those of `ids` that are at `step`.
fn at_step(tx: &mut dyn Tx, ids: &[DeletionId], step: DeletionStep) -> R<BTreeMap<DeletionId, DeletionRecord>> {
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(CHUNK) {
        for d in super::deletions::many(tx, chunk)? {
            if d.step == step {
                out.insert(d.id, d);
            }
        }
    }
    Ok(out)
}

/// Members of a group with their records.
type Members<'g, W> = Vec<(DeletionRecord, &'g W)>;

/// The members of `group` that take `step` together: those [`picked`] that
/// are at `step` now, each with its record; and, per member, whether it is
/// one (the others run alone).
fn ready<'g, W>(
    tx: &mut dyn Tx,
    group: &[&'g W],
    id: impl Fn(&W) -> DeletionId,
    same: impl Fn(&W) -> bool,
    step: DeletionStep,
) -> R<(Members<'g, W>, Vec<bool>)> {
    let (picked, ids) = picked(group, &id, same);
    let mut records = at_step(tx, &ids, step)?;
    let taken: Vec<bool> = group.iter().zip(picked).map(|(w, p)| p && records.contains_key(&id(w))).collect();
    let members = group
        .iter()
        .zip(&taken)
        .filter(|(_, t)| **t)
        .filter_map(|(w, _)| records.remove(&id(w)).map(|d| (d, *w)))
        .collect();
    Ok((members, taken))
}

/// A step that is only recorded (`shredded` for a whole child, `rotated`,
/// `acknowledged`).
#[derive(Debug)]
pub struct SetStep {
    pub id: DeletionId,
    pub step: DeletionStep,
    pub at: Timestamp,
}

impl MergeableWrite for SetStep {
    type Output = ();

    fn one(&self, tx: &mut dyn Tx) -> R<()> {
        set_step(tx, self.id, self.step, self.at)
    }

    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Option<()>>> {
        let first = group[0];
        let (picked, ids) = picked(group, |w| w.id, |w| (w.step, w.at) == (first.step, first.at));
        for chunk in ids.chunks(CHUNK) {
            let mut params = vec![Param::Text(first.step.as_str()), Param::from(first.at)];
            let ids = list(&mut params, chunk.iter().map(|id| Param::from(*id)));
            tx.exec(&format!("UPDATE deletions SET step = ?1, updated_at = ?2 WHERE id IN ({ids})"), &params)?;
        }
        Ok(picked.into_iter().map(|p| p.then_some(())).collect())
    }
}

/// Step `rotated → purged`: the rows go (a whole child's: its consents,
/// devices and profile too).
#[derive(Debug)]
pub struct Purge {
    pub id: DeletionId,
    pub at: Timestamp,
}

impl MergeableWrite for Purge {
    type Output = ();

    fn one(&self, tx: &mut dyn Tx) -> R<()> {
        let d = require(tx, self.id, DeletionStep::Rotated)?;
        purge_all(tx, &[d], self.at)
    }

    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Option<()>>> {
        let at = group[0].at;
        let (members, taken) = ready(tx, group, |w| w.id, |w| w.at == at, DeletionStep::Rotated)?;
        purge_all(tx, &members.into_iter().map(|(d, _)| d).collect::<Vec<_>>(), at)?;
        Ok(taken.into_iter().map(|t| t.then_some(())).collect())
    }
}

/// Purges every deletion of `ds` (each at `rotated`), set-based.
fn purge_all(tx: &mut dyn Tx, ds: &[DeletionRecord], at: Timestamp) -> R<()> {
    for chunk in ds.chunks(CHUNK) {
        let ids: Vec<DeletionId> = chunk.iter().map(|d| d.id).collect();
        super::datasets::flag_deletions(tx, &ids, at)?;
        let mut params = Vec::with_capacity(ids.len());
        let l = list(&mut params, ids.iter().map(|id| Param::from(*id)));
        let covered = format!("SELECT item_id FROM deletion_items WHERE deletion_id IN ({l})");
        tx.exec(&format!("DELETE FROM item_edges WHERE item_id IN ({covered}) OR source_id IN ({covered})"), &params)?;
        tx.exec(&format!("DELETE FROM items WHERE id IN ({covered})"), &params)?;
        tx.exec(&format!("UPDATE deletion_items SET blob_locator = NULL WHERE deletion_id IN ({l})"), &params)?;
        let whole: Vec<&DeletionRecord> = chunk.iter().filter(|d| d.scope.is_child()).collect();
        if !whole.is_empty() {
            forget_children(tx, &whole)?;
        }
        let mut params = vec![Param::Text(DeletionStep::Purged.as_str()), Param::from(at)];
        let l = list(&mut params, ids.iter().map(|id| Param::from(*id)));
        tx.exec(&format!("UPDATE deletions SET step = ?1, updated_at = ?2 WHERE id IN ({l})"), &params)?;
    }
    Ok(())
}

/// A whole child's purge: its consents, devices, grants and profile go; the
/// review of a break-glass access outlives the child's data, what the staff
/// member wrote about the child does not; notices named the child by a
/// marker, and the child is gone, so is the id.
fn forget_children(tx: &mut dyn Tx, whole: &[&DeletionRecord]) -> R<()> {
    let mut params = Vec::with_capacity(whole.len());
    let c = list(&mut params, whole.iter().map(|d| Param::from(d.child_id)));
    for sql in [
        format!("DELETE FROM consent_scopes WHERE child_id IN ({c})"),
        format!("DELETE FROM consents WHERE child_id IN ({c})"),
        format!("DELETE FROM pending_consents WHERE child_id IN ({c})"),
        format!("DELETE FROM device_codes WHERE device_id IN (SELECT id FROM devices WHERE child_id IN ({c}))"),
        format!("DELETE FROM devices WHERE child_id IN ({c})"),
        format!("DELETE FROM support_grants WHERE child_id IN ({c})"),
        format!(
            "UPDATE access_reviews SET justification = '', justification_epoch = NULL, justification_key = NULL,
                 justification_sealed = NULL, note = CASE WHEN note IS NULL THEN NULL ELSE '' END
             WHERE child_id IN ({c})"
        ),
        format!("DELETE FROM children WHERE id IN ({c})"),
    ] {
        tx.exec(&sql, &params)?;
    }
    // One statement per 16 children (a child's marker names it, so it
    // stands only in its own household's notices), replacing each one's
    // markers; only the notices that hold one are rewritten. (One statement
    // per household cost a round trip each: most of a batch's purge.)
    let mut children: Vec<(HouseholdId, ChildId)> = whole.iter().map(|d| (d.household_id, d.child_id)).collect();
    children.sort();
    for group in children.chunks(16) {
        let pairs: Vec<(String, String)> =
            group.iter().flat_map(|(_, c)| kidvault_domain::notice::forget_child(*c)).collect();
        let mut params = Vec::new();
        let mut households: Vec<HouseholdId> = group.iter().map(|(h, _)| *h).collect();
        households.dedup();
        let hs = list(&mut params, households.into_iter().map(Param::from));
        let (mut subject, mut body, mut holds) = ("subject".to_owned(), "body".to_owned(), Vec::new());
        for (marker, replacement) in &pairs {
            let (m, r) = (bind(&mut params, Param::from(marker)), bind(&mut params, Param::from(replacement)));
            subject = format!("replace({subject}, {m}, {r})");
            body = format!("replace({body}, {m}, {r})");
            // A pre-filter only (`_` and `%` match more, never less).
            holds.push(format!("subject LIKE '%' || {m} || '%' OR body LIKE '%' || {m} || '%'"));
        }
        tx.exec(
            &format!(
                "UPDATE notices SET subject = {subject}, body = {body} WHERE household_id IN ({hs}) AND ({})",
                holds.join(" OR ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// Step `purged → dispatched`: one task per processor that received the data.
/// A whole child's disclosure register goes here, not at the purge: the tasks
/// are chosen from it (who received what), so it must outlive the purge until
/// they are written.
#[derive(Debug)]
pub struct Dispatch {
    pub id: DeletionId,
    pub at: Timestamp,
    pub tasks: Vec<TaskRecord>,
}

impl Dispatch {
    /// Whether every task is this deletion's.
    fn own_tasks(&self) -> bool {
        self.tasks.iter().all(|t| t.deletion_id == Some(self.id))
    }
}

impl MergeableWrite for Dispatch {
    type Output = ();

    fn one(&self, tx: &mut dyn Tx) -> R<()> {
        let d = require(tx, self.id, DeletionStep::Purged)?;
        if !self.own_tasks() {
            return Err(corrupt("a task of another deletion"));
        }
        dispatch_all(tx, &[(d, self)], self.at)
    }

    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Option<()>>> {
        let at = group[0].at;
        // A member with another deletion's task runs alone, and is refused.
        let (members, taken) = ready(tx, group, |w| w.id, |w| w.at == at && w.own_tasks(), DeletionStep::Purged)?;
        dispatch_all(tx, &members, at)?;
        Ok(taken.into_iter().map(|t| t.then_some(())).collect())
    }
}

/// Dispatches each deletion (each at `purged`): their tasks, the whole
/// children's disclosure registers, one update.
fn dispatch_all(tx: &mut dyn Tx, ds: &[(DeletionRecord, &Dispatch)], at: Timestamp) -> R<()> {
    let tasks: Vec<&TaskRecord> = ds.iter().flat_map(|(_, w)| &w.tasks).collect();
    super::downstream::insert_tasks(tx, &tasks)?;
    for chunk in ds.chunks(CHUNK) {
        let whole: Vec<Param> =
            chunk.iter().filter(|(d, _)| d.scope.is_child()).map(|(d, _)| Param::from(d.child_id)).collect();
        if !whole.is_empty() {
            let mut params = Vec::with_capacity(whole.len());
            let c = list(&mut params, whole);
            tx.exec(&format!("DELETE FROM disclosures WHERE child_id IN ({c})"), &params)?;
        }
        let mut params = vec![Param::Text(DeletionStep::Dispatched.as_str()), Param::from(at)];
        let l = list(&mut params, chunk.iter().map(|(d, _)| Param::from(d.id)));
        tx.exec(&format!("UPDATE deletions SET step = ?1, updated_at = ?2 WHERE id IN ({l})"), &params)?;
    }
    Ok(())
}

/// Step `acknowledged → completed`: the receipt's ledger entries and the
/// guardians' notices commit with the step. Returns the entries' indexes.
#[derive(Debug)]
pub struct Complete {
    pub id: DeletionId,
    pub at: Timestamp,
    pub summary: String,
    pub entries: Vec<NewEntry>,
    pub notices: Vec<NewNotice>,
}

impl MergeableWrite for Complete {
    type Output = Vec<u64>;

    fn one(&self, tx: &mut dyn Tx) -> R<Vec<u64>> {
        let d = require(tx, self.id, DeletionStep::Acknowledged)?;
        Ok(complete_all(tx, &[(d, self)], self.at)?.pop().unwrap_or_default())
    }

    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Option<Vec<u64>>>> {
        let at = group[0].at;
        let (members, taken) = ready(tx, group, |w| w.id, |w| w.at == at, DeletionStep::Acknowledged)?;
        let mut indexes = complete_all(tx, &members, at)?.into_iter();
        Ok(taken.into_iter().map(|t| if t { indexes.next() } else { None }).collect())
    }
}

/// Completes each deletion (each at `acknowledged`): one ledger append for
/// all their entries, their notices, one update. Returns each one's indexes.
fn complete_all(tx: &mut dyn Tx, ds: &[(DeletionRecord, &Complete)], at: Timestamp) -> R<Vec<Vec<u64>>> {
    let entries: Vec<NewEntry> = ds.iter().flat_map(|(_, c)| c.entries.iter().cloned()).collect();
    let appended = tx.append_ledger(&entries)?;
    let mut next = appended.into_iter();
    let indexes: Vec<Vec<u64>> = ds.iter().map(|(_, c)| next.by_ref().take(c.entries.len()).collect()).collect();
    let notices: Vec<(HouseholdId, &NewNotice)> =
        ds.iter().flat_map(|(d, c)| c.notices.iter().map(|n| (d.household_id, n))).collect();
    if !notices.is_empty() {
        outbox::enqueue_many(tx, &notices, at)?;
    }
    for (chunk, idx) in ds.chunks(CHUNK).zip(indexes.chunks(CHUNK)) {
        let mut params = vec![Param::from(at)];
        let (mut summary, mut index, mut ids) = (String::new(), String::new(), Vec::new());
        for ((d, c), idx) in chunk.iter().zip(idx) {
            let id = bind(&mut params, Param::from(d.id));
            let s = bind(&mut params, Param::from(&c.summary));
            let last = idx.last().map(|i| *i as i64);
            let i = bind(&mut params, Param::from(last));
            summary.push_str(&format!(" WHEN {id} THEN {s}"));
            index.push_str(&format!(" WHEN {id} THEN {i}"));
            ids.push(id);
        }
        // `ELSE` the column types the `CASE` (PostgreSQL infers its parameters from it).
        tx.exec(
            &format!(
                "UPDATE deletions SET step = 'completed', updated_at = ?1,
                     summary = CASE id{summary} ELSE summary END,
                     ledger_index = CASE id{index} ELSE ledger_index END
                 WHERE id IN ({})",
                ids.join(", ")
            ),
            &params,
        )?;
    }
    Ok(indexes)
}
