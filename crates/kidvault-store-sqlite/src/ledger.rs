//! The ledger's proof reads on SQLite: tiles read in place from mapped pages,
//! upper nodes in one statement. Appends and the other ledger operations are
//! the shared SQL's ([`kidvault_store::sql::ledger`]).

use kidvault_ledger::hash::Hash;
use kidvault_ledger::tiles::{tile_slot, TILE_HASHES, TILE_LEVELS};
use kidvault_ledger::tree::MapNodes;
use rusqlite::{params, Connection, OptionalExtension};

use crate::Result;
use kidvault_store::StoreError;

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
    upper: &crate::upper::UpperNodes,
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
