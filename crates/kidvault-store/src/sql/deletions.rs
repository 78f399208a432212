//! Deletions. Each function is one step's transaction body: a step is wholly
//! done or not at all, and each step first checks that the deletion is at the
//! step before it (inside the same transaction), so a step taken meanwhile by
//! another worker or node makes this one a conflict, never a second run.

use kidvault_domain::deletion::{DeletionReason, DeletionScope, DeletionStep};
use kidvault_domain::ids::{ChildId, DeletionId, HouseholdId};
use kidvault_domain::item::{DataCategory, ItemKind};
use kidvault_domain::Timestamp;

use super::{bind, corrupt, Param, Row, Tx, TxError, R};
use crate::model::{BlobLocator, DeletionItem, DeletionRecord, ItemKey};
use crate::{p, StoreError};

const COLS: &str = "id, household_id, child_id, requested_by, reason, scope, step, requested_at, updated_at,
    rotation_epoch, summary, ledger_index";

fn row(r: &dyn Row) -> R<DeletionRecord> {
    Ok(DeletionRecord {
        id: r.id("id")?,
        household_id: r.id("household_id")?,
        child_id: r.id("child_id")?,
        requested_by: r.string("requested_by")?,
        reason: r.parsed("reason", DeletionReason::parse)?,
        scope: serde_json::from_str(&r.string("scope")?).map_err(|_| corrupt("deletion scope"))?,
        step: r.parsed("step", DeletionStep::parse)?,
        requested_at: r.ts("requested_at")?,
        updated_at: r.ts("updated_at")?,
        rotation_epoch: r.int("rotation_epoch")?.map(u32::try_from).transpose().map_err(|_| corrupt("key epoch"))?,
        summary: r.text("summary")?,
        ledger_index: r.int("ledger_index")?.map(u64::try_from).transpose().map_err(|_| corrupt("ledger index"))?,
    })
}

pub fn get(tx: &mut dyn Tx, id: DeletionId) -> R<Option<DeletionRecord>> {
    tx.opt(&format!("SELECT {COLS} FROM deletions WHERE id = ?1"), p![id], row)
}

/// The deletions named that exist, in no particular order.
pub fn many(tx: &mut dyn Tx, ids: &[DeletionId]) -> R<Vec<DeletionRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut params = Vec::with_capacity(chunk.len());
        let l = super::list(&mut params, chunk.iter().map(|id| Param::from(*id)));
        out.extend(tx.rows(&format!("SELECT {COLS} FROM deletions WHERE id IN ({l})"), &params, row)?);
    }
    Ok(out)
}

/// Deletions not yet completed, oldest first.
pub fn open(tx: &mut dyn Tx) -> R<Vec<DeletionRecord>> {
    tx.rows(&format!("SELECT {COLS} FROM deletions WHERE step <> 'completed' ORDER BY requested_at, id"), p![], row)
}

pub fn of_household(tx: &mut dyn Tx, household: HouseholdId, limit: u32) -> R<Vec<DeletionRecord>> {
    tx.rows(
        &format!("SELECT {COLS} FROM deletions WHERE household_id = ?1 ORDER BY requested_at DESC, id DESC LIMIT ?2"),
        p![household, limit],
        row,
    )
}

/// The deletion, which must be at `step`.
pub fn require(tx: &mut dyn Tx, id: DeletionId, step: DeletionStep) -> R<DeletionRecord> {
    let d = get(tx, id)?.ok_or(TxError::Store(StoreError::NotFound))?;
    if d.step != step {
        return Err(TxError::Store(StoreError::Conflict(format!(
            "deletion {id} is at {}, not {}",
            d.step.as_str(),
            step.as_str()
        ))));
    }
    Ok(d)
}

pub fn set_step(tx: &mut dyn Tx, id: DeletionId, step: DeletionStep, at: Timestamp) -> R<()> {
    tx.exec("UPDATE deletions SET step = ?2, updated_at = ?3 WHERE id = ?1", p![id, step.as_str(), at])?;
    Ok(())
}

/// Records a requested deletion; a whole child's makes the child `deleting`
/// (nothing more is collected or served for it).
pub fn create(tx: &mut dyn Tx, d: &DeletionRecord) -> R<()> {
    let scope = serde_json::to_string(&d.scope).map_err(|e| TxError::Store(StoreError::Backend(e.to_string())))?;
    tx.exec(
        &format!("INSERT INTO deletions ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, NULL)"),
        p![
            d.id,
            d.household_id,
            d.child_id,
            &d.requested_by,
            d.reason.as_str(),
            &scope,
            d.step.as_str(),
            d.requested_at,
            d.updated_at
        ],
    )?;
    if d.scope.is_child() {
        tx.exec("UPDATE children SET status = 'deleting' WHERE id = ?1", p![d.child_id])?;
    }
    Ok(())
}

/// Records deletions already resolved: [`create`] then [`resolve`] for each,
/// and for whole children (the sweeps' deletions) the same in four
/// statements per 500 children, whatever their number: the deletions, the
/// children `deleting`, every item of each child recorded for its deletion
/// and no longer served. (A whole child's closure is all its items: lineage
/// never crosses children.)
pub fn create_resolved(tx: &mut dyn Tx, ds: &[DeletionRecord]) -> R<()> {
    if !ds.iter().all(|d| d.scope.is_child() && d.step == DeletionStep::Requested) {
        for d in ds {
            create(tx, d)?;
            resolve(tx, d.id, d.updated_at)?;
        }
        return Ok(());
    }
    let scope =
        serde_json::to_string(&DeletionScope::Child).map_err(|e| TxError::Store(StoreError::Backend(e.to_string())))?;
    for chunk in ds.chunks(500) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 8);
        let rows: Vec<String> = chunk
            .iter()
            .map(|d| {
                let cols = [
                    Param::from(d.id),
                    Param::from(d.household_id),
                    Param::from(d.child_id),
                    Param::from(&d.requested_by),
                    Param::Text(d.reason.as_str()),
                    Param::Text(&scope),
                    Param::from(d.requested_at),
                    Param::from(d.updated_at),
                ];
                let slots: Vec<String> = cols.into_iter().map(|p| bind(&mut params, p)).collect();
                format!("({}, 'resolved', {}, {}, NULL, NULL, NULL)", slots[..6].join(", "), slots[6], slots[7])
            })
            .collect();
        tx.exec(&format!("INSERT INTO deletions ({COLS}) VALUES {}", rows.join(", ")), &params)?;
        let mut ids: Vec<Param<'_>> = Vec::with_capacity(chunk.len());
        let deletions = chunk.iter().map(|d| bind(&mut ids, Param::from(d.id))).collect::<Vec<_>>().join(", ");
        let mut kids: Vec<Param<'_>> = Vec::with_capacity(chunk.len());
        let children = chunk.iter().map(|d| bind(&mut kids, Param::from(d.child_id))).collect::<Vec<_>>().join(", ");
        tx.exec(&format!("UPDATE children SET status = 'deleting' WHERE id IN ({children})"), &kids)?;
        tx.exec(
            &format!(
                "INSERT INTO deletion_items (deletion_id, item_id, kind, category, blob_locator)
                 SELECT d.id, i.id, i.kind, i.category, i.blob_locator FROM deletions d JOIN items i ON i.child_id = d.child_id
                 WHERE d.id IN ({deletions}) ON CONFLICT DO NOTHING"
            ),
            &ids,
        )?;
        tx.exec(&format!("UPDATE items SET state = 'pending_deletion' WHERE child_id IN ({children})"), &kids)?;
    }
    Ok(())
}

pub fn set_rotation_epoch(tx: &mut dyn Tx, id: DeletionId, epoch: u32) -> R<()> {
    tx.exec("UPDATE deletions SET rotation_epoch = ?2 WHERE id = ?1", p![id, epoch])?;
    // From here on, new data for the child must be sealed under `epoch`.
    tx.exec(
        "UPDATE children SET key_epoch = ?2
         WHERE id = (SELECT child_id FROM deletions WHERE id = ?1) AND key_epoch < ?2",
        p![id, epoch],
    )?;
    Ok(())
}

/// Everything a scope covers, as a recursive CTE named `closure`: the scope's
/// root items and everything derived from them, transitively (lineage recorded
/// at ingest). `?1` is the child; the roots' own parameters are appended to
/// `params` (which holds the statement's fixed ones) and numbered after them.
fn closure<'a>(scope: &'a DeletionScope, params: &mut Vec<Param<'a>>) -> String {
    let roots = match scope {
        DeletionScope::Item { item } => {
            format!("SELECT id FROM items WHERE id = {} AND child_id = ?1", bind(params, Param::Id(item.0)))
        }
        DeletionScope::Items { kinds, from, to, device } => {
            let mut sql = String::from("SELECT id FROM items WHERE child_id = ?1");
            if let Some(device) = device {
                sql += &format!(" AND device_id = {}", bind(params, Param::from(*device)));
            }
            if !kinds.is_empty() {
                let slots: Vec<String> = kinds.iter().map(|k| bind(params, Param::Text(k.as_str()))).collect();
                sql += &format!(" AND kind IN ({})", slots.join(", "));
            }
            if let Some(from) = from {
                sql += &format!(" AND recorded_at >= {}", bind(params, Param::from(*from)));
            }
            if let Some(to) = to {
                sql += &format!(" AND recorded_at < {}", bind(params, Param::from(*to)));
            }
            sql
        }
        DeletionScope::Child => "SELECT id FROM items WHERE child_id = ?1".to_owned(),
    };
    format!(
        "WITH RECURSIVE closure(id) AS (
             {roots}
             UNION
             SELECT e.item_id FROM item_edges e JOIN closure c ON e.source_id = c.id
         )"
    )
}

/// What a deletion of `scope` would cover now, by kind (live items only).
pub fn preview(tx: &mut dyn Tx, child: ChildId, scope: &DeletionScope) -> R<Vec<(ItemKind, u64)>> {
    let mut params = vec![Param::from(child)];
    let cte = closure(scope, &mut params);
    tx.rows(
        &format!(
            "{cte} SELECT i.kind, count(*) AS n FROM items i JOIN closure c ON i.id = c.id
             WHERE i.state = 'live' GROUP BY i.kind ORDER BY i.kind"
        ),
        &params,
        |r| Ok((r.parsed("kind", ItemKind::parse)?, r.i64("n")? as u64)),
    )
}

/// Step `requested → resolved`: records the closure's items and stops serving them.
pub fn resolve(tx: &mut dyn Tx, id: DeletionId, at: Timestamp) -> R<u64> {
    let d = require(tx, id, DeletionStep::Requested)?;
    let mut params = vec![Param::from(d.child_id), Param::from(id)];
    let cte = closure(&d.scope, &mut params);
    // `WHERE true`: SQLite reads `ON CONFLICT` after a join as the join's ON otherwise.
    let n = tx.exec(
        &format!(
            "{cte}
             INSERT INTO deletion_items (deletion_id, item_id, kind, category, blob_locator)
             SELECT ?2, i.id, i.kind, i.category, i.blob_locator FROM items i JOIN closure c ON i.id = c.id
             WHERE true ON CONFLICT DO NOTHING"
        ),
        &params,
    )?;
    tx.exec(
        "UPDATE items SET state = 'pending_deletion'
         WHERE id IN (SELECT item_id FROM deletion_items WHERE deletion_id = ?1)",
        p![id],
    )?;
    set_step(tx, id, DeletionStep::Resolved, at)?;
    Ok(n)
}

/// Step `resolved → shredded`. The keystore destroyed the data keys before
/// this step; a copy left in the data store by an unfinished move to the
/// keystore goes too.
pub fn shred_items(tx: &mut dyn Tx, id: DeletionId, at: Timestamp) -> R<()> {
    require(tx, id, DeletionStep::Resolved)?;
    tx.exec(
        "UPDATE items SET wrapped_key = ?2 WHERE id IN (SELECT item_id FROM deletion_items WHERE deletion_id = ?1)",
        p![id, &[] as &[u8]],
    )?;
    set_step(tx, id, DeletionStep::Shredded, at)
}

/// Item keys still in the data store (written before keys moved to the keystore).
pub fn legacy_item_keys(tx: &mut dyn Tx, limit: u32) -> R<Vec<ItemKey>> {
    tx.rows(
        "SELECT id, child_id, key_epoch, wrapped_key FROM items WHERE octet_length(wrapped_key) > 0 LIMIT ?1",
        p![limit],
        |r| {
            Ok(ItemKey {
                item: r.id("id")?,
                child: r.id("child_id")?,
                epoch: r.epoch("key_epoch")?,
                wrapped: r.blob("wrapped_key")?,
            })
        },
    )
}

pub fn clear_legacy_item_keys(tx: &mut dyn Tx, keys: &[ItemKey]) -> R<u64> {
    let mut n = 0;
    for k in keys {
        n += tx.exec(
            "UPDATE items SET wrapped_key = ?3 WHERE id = ?1 AND wrapped_key = ?2",
            p![k.item, &k.wrapped, &[] as &[u8]],
        )?;
    }
    Ok(n)
}

pub fn items(tx: &mut dyn Tx, id: DeletionId) -> R<Vec<DeletionItem>> {
    Ok(items_of(tx, &[id])?.into_iter().map(|(_, i)| i).collect())
}

/// The items each of `ids` covers: (deletion, item), by deletion then item.
pub fn items_of(tx: &mut dyn Tx, ids: &[DeletionId]) -> R<Vec<(DeletionId, DeletionItem)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let mut params = Vec::with_capacity(chunk.len());
        let l = super::list(&mut params, chunk.iter().map(|id| Param::from(*id)));
        out.extend(tx.rows(
            &format!(
                "SELECT deletion_id, item_id, kind, category, blob_locator FROM deletion_items
                 WHERE deletion_id IN ({l}) ORDER BY deletion_id, item_id"
            ),
            &params,
            |r| {
                let item = DeletionItem {
                    item_id: r.id("item_id")?,
                    kind: r.parsed("kind", ItemKind::parse)?,
                    category: r.parsed("category", DataCategory::parse)?,
                    blob: r.text("blob_locator")?.map(BlobLocator),
                };
                Ok((r.id("deletion_id")?, item))
            },
        )?);
    }
    Ok(out)
}
