//! Items (sealed child data) and their lineage: insertion with the lineage
//! check, reads, paging, blob locations, location coarsening.

use kidvault_domain::ids::*;
use kidvault_domain::item::{DataCategory, ItemKind, ItemMeta, ItemState};
use kidvault_domain::lineage::{check_derivation, SourceView};
use kidvault_domain::Timestamp;

use super::children::require_current_epoch;
use super::{bind, conflict_if_unique, corrupt, values_sql, Dialect, Param, Row, Tx, R};
use crate::model::*;
use crate::p;

pub(super) const ITEM_COLS: &str = "id, child_id, kind, category, state, recorded_at, received_at, device_id, size, \
                         key_epoch, wrapped_key, inline_content, blob_locator";

/// An item row without its lineage (read after the row's statement is done).
fn item_only(r: &dyn Row) -> R<ItemRecord> {
    let content = match (r.bytes("inline_content")?, r.text("blob_locator")?) {
        (Some(c), None) => StoredContent::Inline(c),
        (None, Some(l)) => StoredContent::Blob(BlobLocator(l)),
        _ => return Err(corrupt("item content")),
    };
    Ok(ItemRecord {
        meta: ItemMeta {
            id: r.id("id")?,
            child_id: r.id("child_id")?,
            kind: r.parsed("kind", ItemKind::parse)?,
            category: r.parsed("category", DataCategory::parse)?,
            state: r.parsed("state", ItemState::parse)?,
            recorded_at: r.ts("recorded_at")?,
            received_at: r.ts("received_at")?,
            device_id: r.opt_id("device_id")?,
            derived_from: Vec::new(),
            size: u64::try_from(r.i64("size")?).map_err(|_| corrupt("size"))?,
        },
        key_epoch: r.epoch("key_epoch")?,
        wrapped_key: r.blob("wrapped_key")?,
        content,
    })
}

fn with_sources(tx: &mut dyn Tx, mut item: ItemRecord) -> R<ItemRecord> {
    item.meta.derived_from =
        tx.rows("SELECT source_id FROM item_edges WHERE item_id = ?1 ORDER BY source_id", p![item.meta.id], |r| {
            r.id("source_id")
        })?;
    Ok(item)
}

/// Many item rows, each with its lineage.
pub(super) fn items_where(tx: &mut dyn Tx, sql: &str, params: &[Param<'_>]) -> R<Vec<ItemRecord>> {
    let items = tx.rows(sql, params, item_only)?;
    items.into_iter().map(|i| with_sources(tx, i)).collect()
}

const INSERT_COLS: &str = "id, child_id, kind, category, state, recorded_at, received_at, device_id, size, key_epoch, \
                           wrapped_key, inline_content, blob_locator";
const PLAIN_INSERT: &str = "INSERT INTO items (id, child_id, kind, category, state, recorded_at, received_at, \
                            device_id, size, key_epoch, wrapped_key, inline_content, blob_locator) \
                            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/// Stores an item. Its lineage is checked against what the store holds *now*,
/// inside the write: sources must exist, be live and belong to the same child;
/// the item must be sealed under the child's current key epoch.
///
/// Ingest's hot path. On PostgreSQL, where each statement is a round trip,
/// the usual case is one statement: the row is inserted on the condition that
/// the store holds what the checks require (it reads the same rows the checks
/// would, so SERIALIZABLE sees the same conflicts), and only when that inserts
/// nothing are the checks run one by one, to say why. On SQLite the checks run
/// first (in process, simple indexed reads are cheaper than the subqueries).
pub fn insert(tx: &mut dyn Tx, item: &ItemRecord) -> R<()> {
    let m = &item.meta;
    // What needs no reading (kinds, counts) is checked before anything runs.
    let assumed: Vec<SourceView> =
        m.derived_from.iter().map(|id| SourceView { id: *id, child_id: m.child_id, state: ItemState::Live }).collect();
    check_derivation(m.child_id, m.kind, &m.derived_from, &assumed)?;
    let one_statement = tx.dialect() == Dialect::Postgres;
    if !(one_statement && insert_row(tx, item, true)?) {
        let mut found = Vec::with_capacity(m.derived_from.len());
        for src in &m.derived_from {
            let source = tx.opt("SELECT child_id, state FROM items WHERE id = ?1", p![*src], |r| {
                Ok(SourceView { id: *src, child_id: r.id("child_id")?, state: r.parsed("state", ItemState::parse)? })
            })?;
            found.extend(source);
        }
        check_derivation(m.child_id, m.kind, &m.derived_from, &found)?;
        require_current_epoch(tx, m.child_id, item.key_epoch)?;
        // Nothing the checks refuse (a child that is not there): the plain
        // insert reports what the database says.
        insert_row(tx, item, false)?;
    }
    if one_statement && m.derived_from.len() > 1 {
        let sql = format!("INSERT INTO item_edges (item_id, source_id) VALUES {}", values_sql(m.derived_from.len(), 2));
        let params: Vec<Param<'_>> = m.derived_from.iter().flat_map(|s| [Param::from(m.id), Param::from(*s)]).collect();
        tx.exec(&sql, &params)?;
    } else {
        for src in &m.derived_from {
            tx.exec("INSERT INTO item_edges (item_id, source_id) VALUES (?1, ?2)", p![m.id, *src])?;
        }
    }
    // Activity at one-minute resolution (dormancy is counted in months): most items
    // of a busy child then leave the child row untouched. Activity ends dormancy.
    let received = m.received_at.timestamp_micros();
    tx.exec(
        "UPDATE children SET last_active_at = ?2, dormant_at = NULL, dormancy_deletion_at = NULL, reminded_at = NULL
         WHERE id = ?1 AND (last_active_at IS NULL OR last_active_at <= ?3)",
        p![m.child_id, received, received - 60_000_000],
    )?;
    Ok(())
}

/// Inserts the item's row; with `checked`, only if the child's key epoch is the
/// item's and every source is a live item of the same child. Returns whether a
/// row was inserted.
fn insert_row(tx: &mut dyn Tx, item: &ItemRecord, checked: bool) -> R<bool> {
    let m = &item.meta;
    let (inline, locator) = match &item.content {
        StoredContent::Inline(c) => (Some(c.as_slice()), None),
        StoredContent::Blob(l) => (None, Some(l.0.as_str())),
    };
    let mut params = vec![
        Param::from(m.id),
        Param::from(m.child_id),
        Param::Text(m.kind.as_str()),
        Param::Text(m.category.as_str()),
        Param::Text(m.state.as_str()),
        Param::from(m.recorded_at),
        Param::from(m.received_at),
        Param::from(m.device_id),
        Param::Int(i64::try_from(m.size).map_err(|_| corrupt("size"))?),
        Param::from(item.key_epoch),
        Param::from(item.wrapped_key.as_slice()),
        Param::from(inline),
        Param::from(locator),
    ];
    let checked_sql;
    let sql = if checked {
        let mut sources = m.derived_from.clone();
        sources.sort();
        sources.dedup();
        let mut sql = format!(
            "INSERT INTO items ({INSERT_COLS}) SELECT {} \
             WHERE EXISTS (SELECT 1 FROM children WHERE id = ?2 AND key_epoch = ?10)",
            (1..=13).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
        );
        if !sources.is_empty() {
            let list: Vec<String> = sources.iter().map(|s| bind(&mut params, Param::from(*s))).collect();
            // `OFFSET 0` keeps the lookup by primary key: a generic plan made
            // while the table was small (and kept for the connection's life)
            // otherwise scans a child-keyed index, a cost that grows with it.
            sql += &format!(
                " AND (SELECT COUNT(*) FROM (SELECT child_id, state FROM items WHERE id IN ({}) OFFSET 0) s \
                 WHERE s.child_id = ?2 AND s.state = 'live') = {}",
                list.join(", "),
                sources.len()
            );
        }
        checked_sql = sql;
        &checked_sql
    } else {
        PLAIN_INSERT
    };
    let inserted = tx.exec(sql, &params);
    Ok(conflict_if_unique(inserted, || format!("item {} exists", m.id))? == 1)
}

pub fn get(tx: &mut dyn Tx, item: ItemId) -> R<Option<ItemRecord>> {
    let found = tx.opt(&format!("SELECT {ITEM_COLS} FROM items WHERE id = ?1"), p![item], item_only)?;
    found.map(|i| with_sources(tx, i)).transpose()
}

/// A child's live items, newest first, one page. The keyset condition (`after`)
/// keeps paging index-driven at any depth.
pub fn list(tx: &mut dyn Tx, child: ChildId, f: &ItemFilter) -> R<Vec<ItemMeta>> {
    let mut sql = format!("SELECT {ITEM_COLS} FROM items WHERE child_id = ?1 AND state = 'live'");
    let mut params = vec![Param::from(child)];
    if let Some(kind) = f.kind {
        sql += &format!(" AND kind = {}", bind(&mut params, Param::Text(kind.as_str())));
    }
    if let Some(from) = f.from {
        sql += &format!(" AND recorded_at >= {}", bind(&mut params, Param::from(from)));
    }
    if let Some(to) = f.to {
        sql += &format!(" AND recorded_at < {}", bind(&mut params, Param::from(to)));
    }
    if let Some(device) = f.device {
        sql += &format!(" AND device_id = {}", bind(&mut params, Param::from(device)));
    }
    if let Some((t, id)) = f.after {
        let t = bind(&mut params, Param::from(t));
        let id = bind(&mut params, Param::from(id));
        sql += &format!(" AND (recorded_at < {t} OR (recorded_at = {t} AND id < {id}))");
    }
    let newer = f.before.is_some() && f.after.is_none();
    if let (Some((t, id)), true) = (f.before, newer) {
        let t = bind(&mut params, Param::from(t));
        let id = bind(&mut params, Param::from(id));
        sql += &format!(" AND (recorded_at > {t} OR (recorded_at = {t} AND id > {id}))");
    }
    let order = if newer { "ASC" } else { "DESC" };
    sql += &format!(" ORDER BY recorded_at {order}, id {order} LIMIT {}", bind(&mut params, Param::from(f.limit)));
    let mut items: Vec<ItemMeta> = items_where(tx, &sql, &params)?.into_iter().map(|i| i.meta).collect();
    if newer {
        items.reverse();
    }
    Ok(items)
}

/// The items derived from `item` (one step).
pub fn derived_from(tx: &mut dyn Tx, item: ItemId) -> R<Vec<ItemId>> {
    tx.rows("SELECT item_id FROM item_edges WHERE source_id = ?1 ORDER BY item_id", p![item], |r| r.id("item_id"))
}

/// Items held in the blob store, in id order after `after`.
pub fn blob_items(tx: &mut dyn Tx, after: Option<ItemId>, limit: u32) -> R<Vec<(ItemId, BlobLocator)>> {
    let after = after.map_or(uuid::Uuid::nil(), |a| a.0);
    tx.rows(
        "SELECT id, blob_locator FROM items WHERE blob_locator IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2",
        p![after, limit],
        |r| Ok((r.id("id")?, BlobLocator(r.string("blob_locator")?))),
    )
}

pub fn relocate_blob(tx: &mut dyn Tx, item: ItemId, from: &BlobLocator, to: &BlobLocator) -> R<bool> {
    let n =
        tx.exec("UPDATE items SET blob_locator = ?3 WHERE id = ?1 AND blob_locator = ?2", p![item, &from.0, &to.0])?;
    Ok(n == 1)
}

/// Precise-location rows by the (kind, time) index (SQLite is told to use it).
macro_rules! precise_sql {
    ($hint:literal) => {
        concat!(
            "SELECT id, child_id, kind, category, state, recorded_at, received_at, device_id, size, key_epoch,
                    wrapped_key, inline_content, blob_locator
             FROM items ",
            $hint,
            " WHERE kind = 'location' AND recorded_at < ?1 AND state = 'live' AND category = 'user.location.precise'
             LIMIT ?2"
        )
    };
}

/// Precise locations recorded before `before`, due to be coarsened.
pub fn precise_locations(tx: &mut dyn Tx, before: Timestamp, limit: u32) -> R<Vec<ItemRecord>> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => precise_sql!("INDEXED BY items_kind_time"),
        Dialect::Postgres => precise_sql!(""),
    };
    items_where(tx, sql, p![before, limit])
}

/// Replaces a precise location with its coarsened version, sealed anew.
pub fn coarsen_location(tx: &mut dyn Tx, item: &ItemRecord) -> R<bool> {
    require_current_epoch(tx, item.meta.child_id, item.key_epoch)?;
    let StoredContent::Inline(ciphertext) = &item.content else {
        return Err(corrupt("location stored as a blob"));
    };
    let n = tx.exec(
        "UPDATE items SET category = ?2, key_epoch = ?3, wrapped_key = ?4, inline_content = ?5, size = ?6
         WHERE id = ?1 AND state = 'live' AND category = 'user.location.precise'",
        p![
            item.meta.id,
            item.meta.category.as_str(),
            item.key_epoch,
            &item.wrapped_key,
            ciphertext,
            item.meta.size as i64
        ],
    )?;
    Ok(n == 1)
}
