//! Deletions on SQLite. Each function is one step's transaction body; the writer
//! runs it atomically, so a step is either wholly done or not at all.

use kidvault_domain::deletion::{DeletionReason, DeletionScope, DeletionStep};
use kidvault_domain::ids::{ChildId, DeletionId, HouseholdId, ItemId};
use kidvault_domain::item::{DataCategory, ItemKind};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;
use rusqlite::{params, Connection, Row};

use super::{ledger, ts_from_sql, ts_to_sql, uuid_from_sql};
use crate::model::{BlobLocator, DeletionItem, DeletionRecord, ItemKey};
use crate::{Result, StoreError};

const COLS: &str = "id, household_id, child_id, requested_by, reason, scope, step, requested_at, updated_at,
    rotation_epoch, summary, ledger_index";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("deletion: bad {what}"))
}

pub(crate) fn row(r: &Row<'_>) -> Result<DeletionRecord> {
    let id: Vec<u8> = r.get("id")?;
    let hh: Vec<u8> = r.get("household_id")?;
    let child: Vec<u8> = r.get("child_id")?;
    let reason: String = r.get("reason")?;
    let scope: String = r.get("scope")?;
    let step: String = r.get("step")?;
    Ok(DeletionRecord {
        id: DeletionId(uuid_from_sql(&id)?),
        household_id: kidvault_domain::ids::HouseholdId(uuid_from_sql(&hh)?),
        child_id: ChildId(uuid_from_sql(&child)?),
        requested_by: r.get("requested_by")?,
        reason: DeletionReason::parse(&reason).ok_or_else(|| corrupt("reason"))?,
        scope: serde_json::from_str(&scope).map_err(|_| corrupt("scope"))?,
        step: DeletionStep::parse(&step).ok_or_else(|| corrupt("step"))?,
        requested_at: ts_from_sql(r.get("requested_at")?)?,
        updated_at: ts_from_sql(r.get("updated_at")?)?,
        rotation_epoch: r.get::<_, Option<i64>>("rotation_epoch")?.map(|e| e as u32),
        summary: r.get("summary")?,
        ledger_index: r.get::<_, Option<i64>>("ledger_index")?.map(|i| i as u64),
    })
}

pub(crate) fn get(conn: &Connection, id: DeletionId) -> Result<Option<DeletionRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLS} FROM deletions WHERE id = ?1"))?;
    let mut rows = stmt.query([id.as_bytes()])?;
    rows.next()?.map(row).transpose()
}

/// A household's deletions, newest first.
pub(crate) fn of_household(conn: &Connection, household: HouseholdId, limit: u32) -> Result<Vec<DeletionRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM deletions WHERE household_id = ?1 ORDER BY requested_at DESC, id DESC LIMIT ?2"
    ))?;
    let mut rows = stmt.query(params![household.as_bytes(), limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row(r)?);
    }
    Ok(out)
}

fn require(conn: &Connection, id: DeletionId, step: DeletionStep) -> Result<DeletionRecord> {
    let d = get(conn, id)?.ok_or(StoreError::NotFound)?;
    if d.step != step {
        return Err(StoreError::Conflict(format!("deletion {id} is at {}, not {}", d.step.as_str(), step.as_str())));
    }
    Ok(d)
}

pub(crate) fn set_step(conn: &Connection, id: DeletionId, step: DeletionStep, at: Timestamp) -> Result<()> {
    conn.execute(
        "UPDATE deletions SET step = ?2, updated_at = ?3 WHERE id = ?1",
        params![id.as_bytes(), step.as_str(), ts_to_sql(at)],
    )?;
    Ok(())
}

pub(crate) fn create(conn: &Connection, d: &DeletionRecord) -> Result<()> {
    let scope = serde_json::to_string(&d.scope).map_err(|e| StoreError::Backend(e.to_string()))?;
    conn.execute(
        &format!("INSERT INTO deletions ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, NULL)"),
        params![
            d.id.as_bytes(),
            d.household_id.as_bytes(),
            d.child_id.as_bytes(),
            d.requested_by,
            d.reason.as_str(),
            scope,
            d.step.as_str(),
            ts_to_sql(d.requested_at),
            ts_to_sql(d.updated_at)
        ],
    )?;
    if d.scope.is_child() {
        conn.execute("UPDATE children SET status = 'deleting' WHERE id = ?1", [d.child_id.as_bytes()])?;
    }
    Ok(())
}

/// A scope's root items, as SQL over `items` and its parameters.
#[derive(Default)]
struct Roots {
    sql: &'static str,
    kinds: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    item: Option<Vec<u8>>,
}

impl Roots {
    fn of(scope: &DeletionScope) -> Roots {
        match scope {
            DeletionScope::Item { item } => Roots {
                sql: "SELECT id FROM items WHERE id = ?5 AND child_id = ?1",
                item: Some(item.as_bytes().to_vec()),
                ..Roots::default()
            },
            DeletionScope::Items { kinds, from, to } => Roots {
                sql: "SELECT id FROM items WHERE child_id = ?1
                       AND (?2 IS NULL OR instr(?2, ',' || kind || ',') > 0)
                       AND (?3 IS NULL OR recorded_at >= ?3) AND (?4 IS NULL OR recorded_at < ?4)",
                kinds: (!kinds.is_empty())
                    .then(|| format!(",{},", kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","))),
                from: from.map(ts_to_sql),
                to: to.map(ts_to_sql),
                item: None,
            },
            DeletionScope::Child => Roots { sql: "SELECT id FROM items WHERE child_id = ?1", ..Roots::default() },
        }
    }
}

/// Everything derived from a scope's roots, transitively (lineage recorded at
/// ingest), as a CTE named `closure`; parameters ?1..?5 as in [`Roots`].
fn closure_cte(roots: &str) -> String {
    format!(
        "WITH RECURSIVE closure(id) AS (
             {roots}
             UNION
             SELECT e.item_id FROM item_edges e JOIN closure c ON e.source_id = c.id
         )"
    )
}

/// What a deletion of `scope` would cover now, by kind (live items only).
pub(crate) fn preview(conn: &Connection, child: ChildId, scope: &DeletionScope) -> Result<Vec<(ItemKind, u64)>> {
    let Roots { sql, kinds, from, to, item } = Roots::of(scope);
    let mut stmt = conn.prepare(&format!(
        "{} SELECT i.kind, count(*) FROM items i JOIN closure c ON i.id = c.id
         WHERE i.state = 'live' GROUP BY i.kind ORDER BY i.kind",
        closure_cte(sql)
    ))?;
    // Bind only the parameters this scope's SQL names (?5 appears for one item only).
    let values = params![child.as_bytes(), kinds, from, to, item];
    for (i, v) in values.iter().enumerate().take(stmt.parameter_count()) {
        stmt.raw_bind_parameter(i + 1, v)?;
    }
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        let kind = ItemKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("item kind {kind:?}")))?;
        out.push((kind, r.get::<_, i64>(1)? as u64));
    }
    Ok(out)
}

/// The roots of a scope as SQL over `items`, then the lineage closure.
pub(crate) fn resolve(conn: &Connection, id: DeletionId, at: Timestamp) -> Result<u64> {
    let d = require(conn, id, DeletionStep::Requested)?;
    let child = d.child_id.as_bytes().to_vec();
    let Roots { sql: roots_sql, kinds, from, to, item } = Roots::of(&d.scope);
    // Everything derived from the roots, transitively (lineage recorded at ingest).
    let n = conn.execute(
        &format!(
            "INSERT OR IGNORE INTO deletion_items (deletion_id, item_id, kind, category, blob_locator)
             {}
             SELECT ?6, i.id, i.kind, i.category, i.blob_locator FROM items i JOIN closure c ON i.id = c.id",
            closure_cte(roots_sql)
        ),
        params![child, kinds, from, to, item, id.as_bytes()],
    )?;
    conn.execute(
        "UPDATE items SET state = 'pending_deletion'
         WHERE id IN (SELECT item_id FROM deletion_items WHERE deletion_id = ?1)",
        [id.as_bytes()],
    )?;
    set_step(conn, id, DeletionStep::Resolved, at)?;
    Ok(n as u64)
}

pub(crate) fn shred_items(conn: &Connection, id: DeletionId, at: Timestamp) -> Result<()> {
    require(conn, id, DeletionStep::Resolved)?;
    // The keystore destroyed the data keys before this step; a copy left in
    // the data store by an unfinished move to the keystore goes too.
    conn.execute(
        "UPDATE items SET wrapped_key = X'' WHERE id IN (SELECT item_id FROM deletion_items WHERE deletion_id = ?1)",
        [id.as_bytes()],
    )?;
    set_step(conn, id, DeletionStep::Shredded, at)
}

pub(crate) fn legacy_item_keys(conn: &Connection, limit: u32) -> Result<Vec<ItemKey>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, child_id, key_epoch, wrapped_key FROM items WHERE length(wrapped_key) > 0 LIMIT ?1",
    )?;
    let mut rows = stmt.query([limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(ItemKey {
            item: ItemId(uuid_from_sql(&r.get::<_, Vec<u8>>(0)?)?),
            child: ChildId(uuid_from_sql(&r.get::<_, Vec<u8>>(1)?)?),
            epoch: r.get::<_, i64>(2)? as u32,
            wrapped: r.get(3)?,
        });
    }
    Ok(out)
}

pub(crate) fn clear_legacy_item_keys(conn: &Connection, keys: &[ItemKey]) -> Result<u64> {
    let mut stmt = conn.prepare_cached("UPDATE items SET wrapped_key = X'' WHERE id = ?1 AND wrapped_key = ?2")?;
    let mut n = 0;
    for k in keys {
        n += stmt.execute(params![k.item.as_bytes(), k.wrapped])? as u64;
    }
    Ok(n)
}

pub(crate) fn items(conn: &Connection, id: DeletionId) -> Result<Vec<DeletionItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT item_id, kind, category, blob_locator FROM deletion_items WHERE deletion_id = ?1 ORDER BY item_id",
    )?;
    let mut rows = stmt.query([id.as_bytes()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let item: Vec<u8> = r.get(0)?;
        let kind: String = r.get(1)?;
        let cat: String = r.get(2)?;
        out.push(DeletionItem {
            item_id: ItemId(uuid_from_sql(&item)?),
            kind: ItemKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            category: DataCategory::parse(&cat).ok_or_else(|| corrupt("category"))?,
            blob: r.get::<_, Option<String>>(3)?.map(BlobLocator),
        });
    }
    Ok(out)
}

pub(crate) fn purge(conn: &Connection, id: DeletionId, at: Timestamp) -> Result<()> {
    let d = require(conn, id, DeletionStep::Rotated)?;
    let set = "(SELECT item_id FROM deletion_items WHERE deletion_id = ?1)";
    conn.execute(&format!("DELETE FROM item_edges WHERE item_id IN {set} OR source_id IN {set}"), [id.as_bytes()])?;
    conn.execute(&format!("DELETE FROM items WHERE id IN {set}"), [id.as_bytes()])?;
    conn.execute("UPDATE deletion_items SET blob_locator = NULL WHERE deletion_id = ?1", [id.as_bytes()])?;
    if d.scope.is_child() {
        let child = d.child_id.as_bytes();
        conn.execute("DELETE FROM consent_scopes WHERE child_id = ?1", [child])?;
        conn.execute("DELETE FROM consents WHERE child_id = ?1", [child])?;
        conn.execute("DELETE FROM pending_consents WHERE child_id = ?1", [child])?;
        conn.execute("DELETE FROM devices WHERE child_id = ?1", [child])?;
        conn.execute("DELETE FROM children WHERE id = ?1", [child])?;
    }
    set_step(conn, id, DeletionStep::Purged, at)
}

pub(crate) fn complete(
    conn: &Connection,
    id: DeletionId,
    at: Timestamp,
    summary: &str,
    entries: &[NewEntry],
    notices: &[NewNotice],
) -> Result<Vec<u64>> {
    let d = require(conn, id, DeletionStep::Acknowledged)?;
    let indexes = ledger::append(conn, entries)?;
    super::shared(conn, |tx| crate::sql::outbox::enqueue(tx, d.household_id, notices, at))?;
    conn.execute(
        "UPDATE deletions SET step = 'completed', updated_at = ?2, summary = ?3, ledger_index = ?4 WHERE id = ?1",
        params![id.as_bytes(), ts_to_sql(at), summary, indexes.last().map(|i| *i as i64)],
    )?;
    Ok(indexes)
}
