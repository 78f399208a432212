//! Deletions on PostgreSQL. Each function is one step's transaction body: a step
//! is wholly done or not at all, and a step taken by another node meanwhile makes
//! this one a conflict (the step guard is read inside the serializable transaction).

use kidvault_domain::deletion::{DeletionReason, DeletionScope, DeletionStep};
use kidvault_domain::ids::{ChildId, DeletionId, HouseholdId};
use kidvault_domain::item::{DataCategory, ItemKind};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;
use kidvault_store::model::{BlobLocator, DeletionItem, DeletionRecord, ItemKey};
use kidvault_store::StoreError;
use postgres::types::ToSql;
use postgres::Row;

use crate::db::{Tx, E, R};
use crate::ledger;
use crate::rows::{corrupt, limit, ts_to_sql, Get};
use crate::store::map;
use kidvault_store::sql::outbox;

const COLS: &str = "id, household_id, child_id, requested_by, reason, scope, step, requested_at, updated_at,
    rotation_epoch, summary, ledger_index";

fn row(r: &Row) -> R<DeletionRecord> {
    let scope: String = r.val("scope")?;
    Ok(DeletionRecord {
        id: r.id("id")?,
        household_id: r.id("household_id")?,
        child_id: r.id("child_id")?,
        requested_by: r.val("requested_by")?,
        reason: r.parsed("reason", DeletionReason::parse)?,
        scope: serde_json::from_str(&scope).map_err(|_| corrupt("deletion scope"))?,
        step: r.parsed("step", DeletionStep::parse)?,
        requested_at: r.ts("requested_at")?,
        updated_at: r.ts("updated_at")?,
        rotation_epoch: r.val::<Option<i64>>("rotation_epoch")?.map(|e| e as u32),
        summary: r.val("summary")?,
        ledger_index: r.val::<Option<i64>>("ledger_index")?.map(|i| i as u64),
    })
}

pub(crate) fn get(tx: &mut Tx<'_>, id: DeletionId) -> R<Option<DeletionRecord>> {
    tx.opt(&format!("SELECT {COLS} FROM deletions WHERE id = $1"), &[&id.0])?.as_ref().map(row).transpose()
}

pub(crate) fn open(tx: &mut Tx<'_>) -> R<Vec<DeletionRecord>> {
    let rows =
        tx.rows(&format!("SELECT {COLS} FROM deletions WHERE step <> 'completed' ORDER BY requested_at, id"), &[])?;
    map(&rows, row)
}

pub(crate) fn of_household(tx: &mut Tx<'_>, household: HouseholdId, n: u32) -> R<Vec<DeletionRecord>> {
    let rows = tx.rows(
        &format!("SELECT {COLS} FROM deletions WHERE household_id = $1 ORDER BY requested_at DESC, id DESC LIMIT $2"),
        &[&household.0, &limit(n)],
    )?;
    map(&rows, row)
}

fn require(tx: &mut Tx<'_>, id: DeletionId, step: DeletionStep) -> R<DeletionRecord> {
    let d = get(tx, id)?.ok_or(E::Store(StoreError::NotFound))?;
    if d.step != step {
        return Err(E::Store(StoreError::Conflict(format!(
            "deletion {id} is at {}, not {}",
            d.step.as_str(),
            step.as_str()
        ))));
    }
    Ok(d)
}

pub(crate) fn set_step(tx: &mut Tx<'_>, id: DeletionId, step: DeletionStep, at: Timestamp) -> R<()> {
    tx.exec("UPDATE deletions SET step = $2, updated_at = $3 WHERE id = $1", &[&id.0, &step.as_str(), &ts_to_sql(at)])?;
    Ok(())
}

pub(crate) fn create(tx: &mut Tx<'_>, d: &DeletionRecord) -> R<()> {
    let scope = serde_json::to_string(&d.scope).map_err(|e| E::Store(StoreError::Backend(e.to_string())))?;
    tx.exec(
        &format!("INSERT INTO deletions ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL)"),
        &[
            &d.id.0,
            &d.household_id.0,
            &d.child_id.0,
            &d.requested_by,
            &d.reason.as_str(),
            &scope,
            &d.step.as_str(),
            &ts_to_sql(d.requested_at),
            &ts_to_sql(d.updated_at),
        ],
    )?;
    if d.scope.is_child() {
        tx.exec("UPDATE children SET status = 'deleting' WHERE id = $1", &[&d.child_id.0])?;
    }
    Ok(())
}

pub(crate) fn set_rotation_epoch(tx: &mut Tx<'_>, id: DeletionId, epoch: u32) -> R<()> {
    let epoch = i64::from(epoch);
    tx.exec("UPDATE deletions SET rotation_epoch = $2 WHERE id = $1", &[&id.0, &epoch])?;
    // From here on, new data for the child must be sealed under `epoch`.
    tx.exec(
        "UPDATE children SET key_epoch = $2
         WHERE id = (SELECT child_id FROM deletions WHERE id = $1) AND key_epoch < $2",
        &[&id.0, &epoch],
    )?;
    Ok(())
}

/// A scope's root items as SQL over `items` (`$1` is the child) and the values
/// of its own parameters, `$2` on.
fn roots(scope: &DeletionScope) -> (&'static str, Vec<Box<dyn ToSql + Sync + Send>>) {
    match scope {
        DeletionScope::Item { item } => {
            ("SELECT id FROM items WHERE id = $2 AND child_id = $1", vec![Box::new(item.0)])
        }
        DeletionScope::Items { kinds, from, to } => (
            "SELECT id FROM items WHERE child_id = $1
               AND ($2::TEXT[] IS NULL OR kind = ANY($2))
               AND ($3::BIGINT IS NULL OR recorded_at >= $3) AND ($4::BIGINT IS NULL OR recorded_at < $4)",
            vec![
                Box::new((!kinds.is_empty()).then(|| kinds.iter().map(|k| k.as_str().to_owned()).collect::<Vec<_>>())),
                Box::new(from.map(ts_to_sql)),
                Box::new(to.map(ts_to_sql)),
            ],
        ),
        DeletionScope::Child => ("SELECT id FROM items WHERE child_id = $1", Vec::new()),
    }
}

/// `select` over `closure`: the scope's roots and everything derived from them,
/// transitively (lineage recorded at ingest).
fn over_closure(tx: &mut Tx<'_>, child: ChildId, scope: &DeletionScope, select: &str) -> R<Vec<Row>> {
    let (roots, extra) = roots(scope);
    let sql = format!(
        "WITH RECURSIVE closure(id) AS (
             {roots}
             UNION
             SELECT e.item_id FROM item_edges e JOIN closure c ON e.source_id = c.id
         ) {select}"
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&child.0];
    params.extend(extra.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)));
    tx.rows(&sql, &params)
}

/// What a deletion of `scope` would cover now, by kind (live items only).
pub(crate) fn preview(tx: &mut Tx<'_>, child: ChildId, scope: &DeletionScope) -> R<Vec<(ItemKind, u64)>> {
    let rows = over_closure(
        tx,
        child,
        scope,
        "SELECT i.kind, count(*) AS n FROM items i JOIN closure c ON i.id = c.id
         WHERE i.state = 'live' GROUP BY i.kind ORDER BY i.kind",
    )?;
    map(&rows, |r| Ok((r.parsed("kind", ItemKind::parse)?, r.val::<i64>("n")? as u64)))
}

/// Step `requested → resolved`: records the closure's items and stops serving them.
pub(crate) fn resolve(tx: &mut Tx<'_>, id: DeletionId, at: Timestamp) -> R<u64> {
    let d = require(tx, id, DeletionStep::Requested)?;
    let ids = over_closure(tx, d.child_id, &d.scope, "SELECT id FROM closure")?
        .iter()
        .map(|r| r.val::<uuid::Uuid>("id"))
        .collect::<R<Vec<_>>>()?;
    let n = tx.exec(
        "INSERT INTO deletion_items (deletion_id, item_id, kind, category, blob_locator)
         SELECT $1, i.id, i.kind, i.category, i.blob_locator FROM items i WHERE i.id = ANY($2)
         ON CONFLICT DO NOTHING",
        &[&id.0, &ids],
    )?;
    tx.exec(
        "UPDATE items SET state = 'pending_deletion'
         WHERE id IN (SELECT item_id FROM deletion_items WHERE deletion_id = $1)",
        &[&id.0],
    )?;
    set_step(tx, id, DeletionStep::Resolved, at)?;
    Ok(n)
}

pub(crate) fn shred_items(tx: &mut Tx<'_>, id: DeletionId, at: Timestamp) -> R<()> {
    require(tx, id, DeletionStep::Resolved)?;
    tx.exec(
        "UPDATE items SET wrapped_key = ''::BYTEA
         WHERE id IN (SELECT item_id FROM deletion_items WHERE deletion_id = $1)",
        &[&id.0],
    )?;
    set_step(tx, id, DeletionStep::Shredded, at)
}

pub(crate) fn legacy_item_keys(tx: &mut Tx<'_>, limit: u32) -> R<Vec<ItemKey>> {
    let rows = tx.rows(
        "SELECT id, child_id, key_epoch, wrapped_key FROM items WHERE octet_length(wrapped_key) > 0 LIMIT $1",
        &[&crate::rows::limit(limit)],
    )?;
    map(&rows, |r| {
        Ok(ItemKey {
            item: r.id("id")?,
            child: r.id("child_id")?,
            epoch: r.epoch("key_epoch")?,
            wrapped: r.val("wrapped_key")?,
        })
    })
}

pub(crate) fn clear_legacy_item_keys(tx: &mut Tx<'_>, keys: &[ItemKey]) -> R<u64> {
    let mut n = 0;
    for k in keys {
        n += tx.exec(
            "UPDATE items SET wrapped_key = ''::BYTEA WHERE id = $1 AND wrapped_key = $2",
            &[&k.item.0, &k.wrapped],
        )?;
    }
    Ok(n)
}

pub(crate) fn items(tx: &mut Tx<'_>, id: DeletionId) -> R<Vec<DeletionItem>> {
    let rows = tx.rows(
        "SELECT item_id, kind, category, blob_locator FROM deletion_items WHERE deletion_id = $1 ORDER BY item_id",
        &[&id.0],
    )?;
    map(&rows, |r| {
        Ok(DeletionItem {
            item_id: r.id("item_id")?,
            kind: r.parsed("kind", ItemKind::parse)?,
            category: r.parsed("category", DataCategory::parse)?,
            blob: r.val::<Option<String>>("blob_locator")?.map(BlobLocator),
        })
    })
}

pub(crate) fn purge(tx: &mut Tx<'_>, id: DeletionId, at: Timestamp) -> R<()> {
    let d = require(tx, id, DeletionStep::Rotated)?;
    let set = "(SELECT item_id FROM deletion_items WHERE deletion_id = $1)";
    tx.exec(&format!("DELETE FROM item_edges WHERE item_id IN {set} OR source_id IN {set}"), &[&id.0])?;
    tx.exec(&format!("DELETE FROM items WHERE id IN {set}"), &[&id.0])?;
    tx.exec("UPDATE deletion_items SET blob_locator = NULL WHERE deletion_id = $1", &[&id.0])?;
    if d.scope.is_child() {
        for sql in [
            "DELETE FROM consent_scopes WHERE child_id = $1",
            "DELETE FROM consents WHERE child_id = $1",
            "DELETE FROM pending_consents WHERE child_id = $1",
            "DELETE FROM devices WHERE child_id = $1",
            "DELETE FROM children WHERE id = $1",
        ] {
            tx.exec(sql, &[&d.child_id.0])?;
        }
    }
    set_step(tx, id, DeletionStep::Purged, at)
}

pub(crate) fn complete(
    tx: &mut Tx<'_>,
    id: DeletionId,
    at: Timestamp,
    summary: &str,
    entries: &[NewEntry],
    notices: &[NewNotice],
) -> R<Vec<u64>> {
    let d = require(tx, id, DeletionStep::Acknowledged)?;
    let indexes = ledger::append(tx, entries)?;
    outbox::enqueue(tx, d.household_id, notices, at)?;
    tx.exec(
        "UPDATE deletions SET step = 'completed', updated_at = $2, summary = $3, ledger_index = $4 WHERE id = $1",
        &[&id.0, &ts_to_sql(at), &summary, &indexes.last().map(|i| *i as i64)],
    )?;
    Ok(indexes)
}
