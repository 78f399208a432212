//! The ledger's tables on SQLite. Appends run inside the writer's transaction, so
//! an entry commits with the action it records or not at all, and the single
//! writer makes the log totally ordered.

use kidvault_ledger::entry::{Entry, EntryKind, NewEntry};
use kidvault_ledger::hash::{leaf_hash, Hash};
use kidvault_ledger::tiles::{tile_slot, TILE_HASHES, TILE_LEVELS};
use kidvault_ledger::tree::{Frontier, MapNodes, Nodes};
use kidvault_ledger::LedgerError;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::model::StoredEntry;
use crate::{Result, StoreError};

/// Stored subtree hashes, read through a connection. Levels >= TILE_LEVELS are
/// rows of `ledger_nodes`; lower ones come from their block's tile, or, in the
/// block still being filled, are computed from the entries' leaf hashes.
pub(crate) struct SqlNodes<'a>(pub(crate) &'a Connection);

impl Nodes for SqlNodes<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        fetch(self.0, &[(level, index)])
            .map_err(|e| LedgerError::Storage(e.to_string()))?
            .0
            .get(&(level, index))
            .copied()
            .ok_or(LedgerError::MissingNode { level, index })
    }
}

pub(crate) fn size(conn: &Connection) -> Result<u64> {
    let n: i64 =
        conn.prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_entries")?.query_row([], |r| r.get(0))?;
    Ok(n as u64)
}

/// Appends `entries` at the end of the log; returns their indexes.
pub(crate) fn append(conn: &Connection, entries: &[NewEntry]) -> Result<Vec<u64>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let start = size(conn)?;
    let mut frontier = Frontier::load(&SqlNodes(conn), start)?;
    let mut put_entry = conn.prepare_cached(
        "INSERT INTO ledger_entries (idx, kind, household, child, body, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut put_node = conn.prepare_cached("INSERT INTO ledger_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")?;
    let mut out = Vec::with_capacity(entries.len());
    // This call's lower nodes: a block completed within it is tiled from memory.
    let mut fresh: std::collections::HashMap<(u8, u64), Hash> = std::collections::HashMap::new();
    for (i, new) in entries.iter().enumerate() {
        let index = start + i as u64;
        let entry = Entry::place(new.clone(), index);
        let body = entry.canonical();
        let leaf = leaf_hash(&body);
        put_entry.execute(params![index as i64, entry.kind.as_str(), entry.household, entry.child, body, leaf])?;
        for (level, idx, hash) in frontier.append(leaf) {
            if level < TILE_LEVELS {
                // Not a row of its own: it goes into its block's tile.
                fresh.insert((level, idx), hash);
                continue;
            }
            put_node.execute(params![level, idx as i64, hash])?;
            if level == TILE_LEVELS {
                write_tile(conn, idx, &mut fresh)?;
            }
        }
        out.push(index);
    }
    Ok(out)
}

/// The hashes of the complete subtree (`level`, `idx`) below TILE_LEVELS,
/// computed from the entries' stored leaf hashes (the block still being filled).
fn from_leaves(conn: &Connection, level: u8, idx: u64) -> Result<Option<Hash>> {
    let (first, end) = (idx << level, (idx + 1) << level);
    let mut stmt =
        conn.prepare_cached("SELECT leaf_hash FROM ledger_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
    let mut rows = stmt.query(params![first as i64, end as i64])?;
    let mut layer: Vec<Hash> = Vec::with_capacity(1 << level);
    while let Some(r) = rows.next()? {
        layer.push(Hash::try_from(r.get::<_, Vec<u8>>(0)?).map_err(|_| StoreError::Corrupt("leaf hash".into()))?);
    }
    if layer.len() as u64 != end - first {
        return Ok(None); // not complete yet
    }
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| kidvault_ledger::hash::node_hash(&p[0], &p[1])).collect();
    }
    Ok(layer.pop())
}

/// Copies a just-completed block's lower nodes into its tile: from `fresh`
/// (this append's nodes, taken out) where it holds a whole level, else from
/// the table (a block begun in an earlier append).
fn write_tile(conn: &Connection, block: u64, fresh: &mut std::collections::HashMap<(u8, u64), Hash>) -> Result<()> {
    let mut hashes = vec![0u8; TILE_HASHES * 32];
    let mut stmt =
        conn.prepare_cached("SELECT idx, hash FROM ledger_nodes WHERE level = ?1 AND idx >= ?2 AND idx < ?3")?;
    let mut filled = 0;
    let _ = &mut stmt;
    // Level by level: from this append's nodes, else from the leaves (the block
    // was begun by an earlier append, whose lower nodes were never rows).
    let mut below: Vec<Hash> = Vec::new();
    for level in 0..TILE_LEVELS {
        let width = 1u64 << (TILE_LEVELS - level);
        let first = block * width;
        let mut layer: Vec<Hash> = (first..first + width).map_while(|idx| fresh.remove(&(level, idx))).collect();
        if layer.len() as u64 != width {
            layer = if level == 0 {
                let mut leaves = conn
                    .prepare_cached("SELECT leaf_hash FROM ledger_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
                let mut rows = leaves.query(params![first as i64, (first + width) as i64])?;
                let mut out = Vec::with_capacity(width as usize);
                while let Some(r) = rows.next()? {
                    out.push(Hash::try_from(r.get::<_, Vec<u8>>(0)?).map_err(|_| StoreError::Corrupt("leaf".into()))?);
                }
                out
            } else {
                below.chunks(2).map(|p| kidvault_ledger::hash::node_hash(&p[0], &p[1])).collect()
            };
        }
        for (k, h) in layer.iter().enumerate() {
            let (_, slot) = tile_slot(level, first + k as u64);
            hashes[slot * 32..slot * 32 + 32].copy_from_slice(h);
            filled += 1;
        }
        below = layer;
    }
    if filled != TILE_HASHES {
        return Err(StoreError::Corrupt(format!("ledger block {block} has {filled} of {TILE_HASHES} nodes")));
    }
    conn.prepare_cached("INSERT OR REPLACE INTO ledger_tiles (block, hashes) VALUES (?1, ?2)")?
        .execute(params![block as i64, hashes])?;
    Ok(())
}

/// Reads tiles for the lower-level `positions` they hold; returns the rest.
/// Each block's tile is looked up once, and only the wanted hashes are copied
/// out of it (read in place from the mapped page).
pub(crate) fn fetch_tiled(conn: &Connection, positions: &[(u8, u64)], map: &mut MapNodes) -> Result<Vec<(u8, u64)>> {
    let mut rest = Vec::new();
    let mut by_block: Vec<(u64, usize, (u8, u64))> = Vec::with_capacity(positions.len());
    for &(level, idx) in positions {
        if level >= TILE_LEVELS {
            rest.push((level, idx));
        } else {
            let (block, slot) = tile_slot(level, idx);
            by_block.push((block, slot, (level, idx)));
        }
    }
    by_block.sort_unstable();
    let mut stmt = conn.prepare_cached("SELECT hashes FROM ledger_tiles WHERE block = ?1")?;
    for group in by_block.chunk_by(|a, b| a.0 == b.0) {
        let found = stmt
            .query_row([group[0].0 as i64], |r| {
                let tile = r.get_ref(0)?.as_blob()?;
                if tile.len() != TILE_HASHES * 32 {
                    return Ok(None);
                }
                Ok(Some(group.iter().map(|&(_, slot, _)| tile_hash(tile, slot)).collect::<Vec<Hash>>()))
            })
            .optional()?
            .flatten();
        match found {
            Some(hashes) => map.0.extend(group.iter().map(|g| g.2).zip(hashes)),
            None => rest.extend(group.iter().map(|g| g.2)),
        }
    }
    Ok(rest)
}

fn tile_hash(tile: &[u8], slot: usize) -> Hash {
    let mut h = [0u8; 32];
    h.copy_from_slice(&tile[slot * 32..slot * 32 + 32]);
    h
}

pub(crate) fn entry_row(row: &Row<'_>) -> Result<StoredEntry> {
    let kind: String = row.get("kind")?;
    Ok(StoredEntry {
        index: row.get::<_, i64>("idx")? as u64,
        kind: EntryKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown entry kind {kind}")))?,
        household: row.get("household")?,
        child: row.get("child")?,
        body: row.get("body")?,
    })
}

/// Fetches the nodes at `positions`: lower levels from tiles, the rest as rows
/// with one statement, and any lower node of the block being filled from its
/// leaves.
pub(crate) fn fetch(conn: &Connection, positions: &[(u8, u64)]) -> Result<MapNodes> {
    let mut map = MapNodes::with_capacity(positions.len());
    if positions.is_empty() {
        return Ok(map);
    }
    let rest = fetch_tiled(conn, positions, &mut map)?;
    fetch_rows(conn, &rest, &mut map)?;
    for &(level, idx) in &rest {
        if level < TILE_LEVELS && !map.0.contains_key(&(level, idx)) {
            if let Some(h) = from_leaves(conn, level, idx)? {
                map.0.insert((level, idx), h);
            }
        }
    }
    Ok(map)
}

/// Nodes stored as rows (levels >= TILE_LEVELS; lower ones in logs written
/// before tiles existed).
fn fetch_rows(conn: &Connection, positions: &[(u8, u64)], map: &mut MapNodes) -> Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let values =
        (0..positions.len()).map(|i| format!("(?{}, ?{})", 2 * i + 1, 2 * i + 2)).collect::<Vec<_>>().join(",");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT level, idx, hash FROM ledger_nodes WHERE (level, idx) IN (VALUES {values})"
    ))?;
    let params: Vec<i64> = positions.iter().flat_map(|(l, i)| [i64::from(*l), *i as i64]).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(r) = rows.next()? {
        let hash = Hash::try_from(r.get::<_, Vec<u8>>(2)?).map_err(|_| StoreError::Corrupt("node hash".into()))?;
        map.0.insert((r.get::<_, u8>(0)?, r.get::<_, i64>(1)? as u64), hash);
    }
    Ok(())
}

/// The MTH of each range: upper nodes from memory, the rest in one statement.
pub(crate) fn hashes_of(
    conn: &Connection,
    upper: &super::upper::UpperNodes,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>> {
    let nodes = upper.fetch(conn, &kidvault_ledger::tree::positions(ranges))?;
    ranges
        .iter()
        .map(|(s, e)| {
            // Each range is a whole proof element: its root over the fetched nodes.
            Ok(kidvault_ledger::tree::root_of(&nodes, *s, *e)?)
        })
        .collect()
}
