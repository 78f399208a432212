//! The ledger's tables on PostgreSQL, in the same layout as on SQLite: entries,
//! subtree hashes of levels >= 6 as rows, the six lower levels of each complete
//! 64-leaf block as one tile. An append first locks the single `ledger_head` row,
//! so appends from every node are totally ordered, inside the transaction of the
//! action they record.

use std::collections::HashMap;

use kidvault_domain::ids::ChildId;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{Entry, EntryKind, NewEntry};
use kidvault_ledger::hash::{leaf_hash, node_hash, Hash};
use kidvault_ledger::tiles::{tile_slot, TILE_HASHES, TILE_LEVELS};
use kidvault_ledger::tree::{frontier_positions, Frontier, MapNodes};
use kidvault_store::model::StoredEntry;
use postgres::Row;

use crate::db::{Tx, R};
use crate::rows::{corrupt, ts_to_sql, Get};
use crate::store::map;

fn hash(bytes: &[u8]) -> R<Hash> {
    Hash::try_from(bytes).map_err(|_| corrupt("ledger hash"))
}

pub(crate) fn size(tx: &mut Tx<'_>) -> R<u64> {
    let n: i64 = tx.one("SELECT size FROM ledger_head WHERE id = 1", &[])?.get(0);
    Ok(n as u64)
}

/// Appends `entries` at the end of the log; returns their indexes.
pub(crate) fn append(tx: &mut Tx<'_>, entries: &[NewEntry]) -> R<Vec<u64>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    // The lock that orders appends from every node.
    let start = tx.one("SELECT size FROM ledger_head WHERE id = 1 FOR UPDATE", &[])?.get::<_, i64>(0) as u64;
    let edge = fetch(tx, &frontier_positions(start))?;
    let mut frontier = Frontier::load(&edge, start)?;
    let mut out = Vec::with_capacity(entries.len());
    let mut fresh: HashMap<(u8, u64), Hash> = HashMap::new();
    for (i, new) in entries.iter().enumerate() {
        let index = start + i as u64;
        let entry = Entry::place(new.clone(), index);
        let body = entry.canonical();
        let leaf = leaf_hash(&body);
        tx.exec(
            "INSERT INTO ledger_entries (idx, kind, household, child, body, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&(index as i64), &entry.kind.as_str(), &entry.household, &entry.child, &body, &&leaf[..]],
        )?;
        for (level, idx, h) in frontier.append(leaf) {
            if level < TILE_LEVELS {
                fresh.insert((level, idx), h);
                continue;
            }
            tx.exec(
                "INSERT INTO ledger_nodes (level, idx, hash) VALUES ($1, $2, $3)",
                &[&i64::from(level), &(idx as i64), &&h[..]],
            )?;
            if level == TILE_LEVELS {
                write_tile(tx, idx, &mut fresh)?;
            }
        }
        out.push(index);
    }
    tx.exec("UPDATE ledger_head SET size = $1 WHERE id = 1", &[&((start + entries.len() as u64) as i64)])?;
    Ok(out)
}

fn leaves(tx: &mut Tx<'_>, first: u64, end: u64) -> R<Vec<Hash>> {
    let rows = tx.rows(
        "SELECT leaf_hash FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        &[&(first as i64), &(end as i64)],
    )?;
    map(&rows, |r| hash(&r.val::<Vec<u8>>("leaf_hash")?))
}

/// Copies a just-completed block's lower nodes into its tile: from `fresh` where
/// this append computed a whole level, else from the stored leaf hashes.
fn write_tile(tx: &mut Tx<'_>, block: u64, fresh: &mut HashMap<(u8, u64), Hash>) -> R<()> {
    let mut hashes = vec![0u8; TILE_HASHES * 32];
    let mut below: Vec<Hash> = Vec::new();
    for level in 0..TILE_LEVELS {
        let width = 1u64 << (TILE_LEVELS - level);
        let first = block * width;
        let mut layer: Vec<Hash> = (first..first + width).map_while(|idx| fresh.remove(&(level, idx))).collect();
        if layer.len() as u64 != width {
            layer = if level == 0 {
                leaves(tx, first, first + width)?
            } else {
                below.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect()
            };
        }
        if layer.len() as u64 != width {
            return Err(corrupt(&format!("ledger block {block}: level {level} incomplete")));
        }
        for (k, h) in layer.iter().enumerate() {
            let (_, slot) = tile_slot(level, first + k as u64);
            hashes[slot * 32..slot * 32 + 32].copy_from_slice(h);
        }
        below = layer;
    }
    tx.exec(
        "INSERT INTO ledger_tiles (block, hashes) VALUES ($1, $2) ON CONFLICT (block) DO UPDATE SET hashes = excluded.hashes",
        &[&(block as i64), &hashes],
    )?;
    Ok(())
}

/// Fetches the nodes at `positions`: lower levels from tiles (or, in the block
/// being filled, from its leaves), the rest as rows, each kind in one statement.
fn fetch(tx: &mut Tx<'_>, positions: &[(u8, u64)]) -> R<MapNodes> {
    let mut nodes = MapNodes::default();
    type Positions = Vec<(u8, u64)>;
    let (lower, upper): (Positions, Positions) = positions.iter().partition(|(l, _)| *l < TILE_LEVELS);
    if !lower.is_empty() {
        let blocks: Vec<i64> = lower.iter().map(|&(l, i)| tile_slot(l, i).0 as i64).collect();
        let mut tiles: HashMap<u64, Vec<u8>> = HashMap::new();
        for r in tx.rows("SELECT block, hashes FROM ledger_tiles WHERE block = ANY($1)", &[&blocks])? {
            tiles.insert(r.val::<i64>("block")? as u64, r.val("hashes")?);
        }
        for &(level, idx) in &lower {
            let (block, slot) = tile_slot(level, idx);
            match tiles.get(&block) {
                Some(t) if t.len() == TILE_HASHES * 32 => {
                    nodes.0.insert((level, idx), hash(&t[slot * 32..slot * 32 + 32])?);
                }
                _ => {
                    // The block still being filled: from its stored leaves.
                    let mut layer = leaves(tx, idx << level, (idx + 1) << level)?;
                    if layer.len() as u64 == 1 << level {
                        while layer.len() > 1 {
                            layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
                        }
                        nodes.0.insert((level, idx), layer[0]);
                    }
                }
            }
        }
    }
    if !upper.is_empty() {
        let levels: Vec<i64> = upper.iter().map(|(l, _)| i64::from(*l)).collect();
        let idxs: Vec<i64> = upper.iter().map(|(_, i)| *i as i64).collect();
        for r in tx.rows(
            "SELECT n.level, n.idx, n.hash FROM ledger_nodes n
             JOIN unnest($1::BIGINT[], $2::BIGINT[]) AS p(level, idx) ON n.level = p.level AND n.idx = p.idx",
            &[&levels, &idxs],
        )? {
            let level = u8::try_from(r.val::<i64>("level")?).map_err(|_| corrupt("ledger level"))?;
            nodes.0.insert((level, r.val::<i64>("idx")? as u64), hash(&r.val::<Vec<u8>>("hash")?)?);
        }
    }
    Ok(nodes)
}

/// The MTH of each range (proof elements, or `(0, size)` for a root).
pub(crate) fn hashes_of(tx: &mut Tx<'_>, ranges: &[(u64, u64)]) -> R<Vec<Hash>> {
    let nodes = fetch(tx, &kidvault_ledger::tree::positions(ranges))?;
    ranges.iter().map(|(s, e)| Ok(kidvault_ledger::tree::root_of(&nodes, *s, *e)?)).collect()
}

const ENTRY_COLS: &str = "idx, kind, household, child, body";

fn entry_row(r: &Row) -> R<StoredEntry> {
    Ok(StoredEntry {
        index: r.val::<i64>("idx")? as u64,
        kind: r.parsed("kind", EntryKind::parse)?,
        household: r.val("household")?,
        child: r.val("child")?,
        body: r.val("body")?,
    })
}

pub(crate) fn entry(tx: &mut Tx<'_>, index: u64) -> R<Option<StoredEntry>> {
    let Ok(index) = i64::try_from(index) else { return Ok(None) };
    tx.opt(&format!("SELECT {ENTRY_COLS} FROM ledger_entries WHERE idx = $1"), &[&index])?
        .as_ref()
        .map(entry_row)
        .transpose()
}

pub(crate) fn child_entries(tx: &mut Tx<'_>, child: ChildId, kind: Option<EntryKind>) -> R<Vec<StoredEntry>> {
    let rows = tx.rows(
        &format!(
            "SELECT {ENTRY_COLS} FROM ledger_entries WHERE child = $1 AND ($2::TEXT IS NULL OR kind = $2) ORDER BY idx"
        ),
        &[&child.to_string(), &kind.map(EntryKind::as_str)],
    )?;
    map(&rows, entry_row)
}

pub(crate) fn save_checkpoint(tx: &mut Tx<'_>, size: u64, at: Timestamp, note: &str) -> R<()> {
    tx.exec(
        "INSERT INTO ledger_checkpoints (size, at, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING",
        &[&(size as i64), &ts_to_sql(at), &note],
    )?;
    Ok(())
}

pub(crate) fn latest_checkpoint(tx: &mut Tx<'_>) -> R<Option<(u64, String)>> {
    tx.opt("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1", &[])?
        .map(|r| Ok((r.val::<i64>("size")? as u64, r.val("note")?)))
        .transpose()
}

pub(crate) fn checkpoint_at(tx: &mut Tx<'_>, size: u64) -> R<Option<String>> {
    let Ok(size) = i64::try_from(size) else { return Ok(None) };
    tx.opt("SELECT note FROM ledger_checkpoints WHERE size = $1", &[&size])?.map(|r| r.val("note")).transpose()
}
