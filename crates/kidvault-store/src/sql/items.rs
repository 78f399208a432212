//! Items (sealed child data) and their lineage: insertion with the lineage
//! check, reads, paging, blob locations, location coarsening.

use kidvault_domain::ids::*;
use kidvault_domain::item::{DataCategory, ItemKind, ItemMeta, ItemState};
use kidvault_domain::lineage::{check_derivation, SourceView};
use kidvault_domain::Timestamp;

use super::backend::MergeableWrite;
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

/// The item's row, in the order of [`INSERT_COLS`].
fn row_params(item: &ItemRecord) -> R<Vec<Param<'_>>> {
    let m = &item.meta;
    let (inline, locator) = match &item.content {
        StoredContent::Inline(c) => (Some(c.as_slice()), None),
        StoredContent::Blob(l) => (None, Some(l.0.as_str())),
    };
    Ok(vec![
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
    ])
}

/// The SQL types of [`INSERT_COLS`], for the first row of a `VALUES` list
/// (which types the rest).
const INSERT_TYPES: [&str; 13] =
    ["uuid", "uuid", "text", "text", "text", "bigint", "bigint", "uuid", "bigint", "bigint", "bytea", "bytea", "text"];

/// An item insert, which PostgreSQL's writer may merge with the others of
/// its batch ([`MergeableWrite`]).
#[derive(Debug)]
pub struct ItemInsert(pub ItemRecord);

impl MergeableWrite for ItemInsert {
    type Output = ();

    fn one(&self, tx: &mut dyn Tx) -> R<()> {
        insert(tx, &self.0)
    }

    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Option<()>>> {
        let items: Vec<&ItemRecord> = group.iter().map(|w| &w.0).collect();
        Ok(insert_many(tx, &items)?.into_iter().map(|done| done.then_some(())).collect())
    }
}

/// Stores several items with exactly the checks of [`insert`] (the child's
/// key epoch; every source a live item of the same child), in three
/// statements however many there are: the rows, inserted only where the
/// checks hold (`RETURNING` says which); their lineage edges; the children's
/// activity. Returns which items were stored: the rest (a check failed, the
/// id exists, a source is in this very group) are left to [`insert`], which
/// stores them or says why not. PostgreSQL only (elsewhere nothing is done).
pub fn insert_many(tx: &mut dyn Tx, items: &[&ItemRecord]) -> R<Vec<bool>> {
    let mut done = vec![false; items.len()];
    if tx.dialect() != Dialect::Postgres {
        return Ok(done);
    }
    // A repeated id is tried once: the first; the others are left to `insert`.
    let mut ids = std::collections::HashSet::new();
    let tried: Vec<(usize, &ItemRecord)> = items
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, item)| {
            let m = &item.meta;
            let assumed: Vec<SourceView> = m
                .derived_from
                .iter()
                .map(|id| SourceView { id: *id, child_id: m.child_id, state: ItemState::Live })
                .collect();
            check_derivation(m.child_id, m.kind, &m.derived_from, &assumed).is_ok() && ids.insert(m.id)
        })
        .collect();
    if tried.is_empty() {
        return Ok(done);
    }
    let mut params = Vec::with_capacity(tried.len() * INSERT_TYPES.len());
    let mut rows = Vec::with_capacity(tried.len());
    for (_, item) in &tried {
        let first = rows.is_empty();
        let row: Vec<String> = row_params(item)?
            .into_iter()
            .zip(INSERT_TYPES)
            .map(|(v, ty)| if first { format!("{}::{ty}", bind(&mut params, v)) } else { bind(&mut params, v) })
            .collect();
        rows.push(format!("({})", row.join(", ")));
    }
    let mut edges = Vec::new();
    for (_, item) in &tried {
        let mut sources = item.meta.derived_from.clone();
        sources.sort();
        sources.dedup();
        for src in sources {
            let (a, b) = (bind(&mut params, Param::from(item.meta.id)), bind(&mut params, Param::from(src)));
            edges.push(format!("({a}::uuid, {b}::uuid)"));
        }
    }
    let (edge_list, source_check) = if edges.is_empty() {
        (String::new(), "")
    } else {
        // `OFFSET 0`: each source by primary key (see `insert_row`).
        (
            format!(", e (item_id, source_id) AS (VALUES {})", edges.join(", ")),
            " AND NOT EXISTS (SELECT 1 FROM e WHERE e.item_id = v.id AND NOT EXISTS \
               (SELECT 1 FROM (SELECT child_id, state FROM items i WHERE i.id = e.source_id OFFSET 0) s \
                WHERE s.child_id = v.child_id AND s.state = 'live'))",
        )
    };
    let sql = format!(
        "WITH v ({INSERT_COLS}) AS (VALUES {}){edge_list} \
         INSERT INTO items ({INSERT_COLS}) SELECT {INSERT_COLS} FROM v \
         WHERE EXISTS (SELECT 1 FROM children c WHERE c.id = v.child_id AND c.key_epoch = v.key_epoch){source_check} \
         ON CONFLICT (id) DO NOTHING RETURNING id",
        rows.join(", ")
    );
    let stored: std::collections::HashSet<ItemId> = tx.rows(&sql, &params, |r| r.id("id"))?.into_iter().collect();
    if stored.is_empty() {
        return Ok(done);
    }
    let stored_items: Vec<&ItemRecord> =
        tried.iter().filter(|(_, i)| stored.contains(&i.meta.id)).map(|(_, i)| *i).collect();
    let mut params = Vec::new();
    let mut edges = Vec::new();
    for item in &stored_items {
        for src in &item.meta.derived_from {
            edges.push(format!(
                "({}, {})",
                bind(&mut params, Param::from(item.meta.id)),
                bind(&mut params, Param::from(*src))
            ));
        }
    }
    if !edges.is_empty() {
        tx.exec(&format!("INSERT INTO item_edges (item_id, source_id) VALUES {}", edges.join(", ")), &params)?;
    }
    // Activity as `insert` records it: the latest of each child's items.
    let mut latest: std::collections::BTreeMap<ChildId, i64> = Default::default();
    for item in &stored_items {
        let at = item.meta.received_at.timestamp_micros();
        latest.entry(item.meta.child_id).and_modify(|t| *t = (*t).max(at)).or_insert(at);
    }
    let mut params = Vec::new();
    let rows: Vec<String> = latest
        .into_iter()
        .map(|(child, at)| {
            format!("({}::uuid, {}::bigint)", bind(&mut params, Param::from(child)), bind(&mut params, Param::Int(at)))
        })
        .collect();
    tx.exec(
        &format!(
            "UPDATE children c SET last_active_at = a.at, dormant_at = NULL, dormancy_deletion_at = NULL, \
             reminded_at = NULL FROM (VALUES {}) a (id, at) \
             WHERE c.id = a.id AND (c.last_active_at IS NULL OR c.last_active_at <= a.at - 60000000)",
            rows.join(", ")
        ),
        &params,
    )?;
    for (at, item) in &tried {
        done[*at] = stored.contains(&item.meta.id);
    }
    Ok(done)
}

/// Inserts the item's row; with `checked`, only if the child's key epoch is the
/// item's and every source is a live item of the same child. Returns whether a
/// row was inserted.
fn insert_row(tx: &mut dyn Tx, item: &ItemRecord, checked: bool) -> R<bool> {
    let m = &item.meta;
    let mut params = row_params(item)?;
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

/// A child's live items, newest first, one page. The keyset condition (`after`,
/// `before`) is a row comparison, a range of `items_child_time` on both
/// databases, so paging stays index-driven at any depth (spelled with `OR`,
/// PostgreSQL walked every newer item of the child: 57 ms a page 200,000 deep,
/// 0.1 ms now).
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
        sql += &format!(" AND (recorded_at, id) < ({t}, {id})");
    }
    let newer = f.before.is_some() && f.after.is_none();
    if let (Some((t, id)), true) = (f.before, newer) {
        let t = bind(&mut params, Param::from(t));
        let id = bind(&mut params, Param::from(id));
        sql += &format!(" AND (recorded_at, id) > ({t}, {id})");
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
