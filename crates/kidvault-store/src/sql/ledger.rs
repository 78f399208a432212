//! The ledger's tables: entries, subtree hashes of levels >= 6 as rows, and the
//! six lower levels of each complete 64-leaf block as one tile. Appends run in
//! the transaction of the action they record, so an entry commits with it or
//! not at all; the log is totally ordered (SQLite: its single writer;
//! PostgreSQL: every append first locks the one `ledger_head` row).
//!
//! Proof reads are the backends' own: SQLite reads tiles in place from mapped
//! pages and keeps the upper tree in memory; PostgreSQL uses [`hashes_of`].

use std::collections::HashMap;

use kidvault_domain::ids::ChildId;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{Entry, EntryKind, NewEntry};
use kidvault_ledger::hash::{leaf_hash, node_hash, Hash};
use kidvault_ledger::tiles::{tile_slot, TILE_HASHES, TILE_LEVELS};
use kidvault_ledger::tree::{frontier_positions, Frontier, MapNodes};

use super::{bind, corrupt, values_sql, Dialect, Param, Row, Tx, R};
use crate::model::StoredEntry;
use crate::p;

fn hash(bytes: &[u8]) -> R<Hash> {
    Hash::try_from(bytes).map_err(|_| corrupt("ledger hash"))
}

fn index(v: i64) -> R<u64> {
    u64::try_from(v).map_err(|_| corrupt("ledger index"))
}

/// How many entries the log holds.
pub fn size(tx: &mut dyn Tx) -> R<u64> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => "SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ledger_entries",
        Dialect::Postgres => "SELECT size AS n FROM ledger_head WHERE id = 1",
    };
    index(tx.one(sql, p![], |r| r.i64("n"))?)
}

/// Appends `entries` at the end of the log; returns their indexes.
pub fn append(tx: &mut dyn Tx, entries: &[NewEntry]) -> R<Vec<u64>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let start = match tx.dialect() {
        Dialect::Sqlite => size(tx)?,
        // The lock that orders appends from every node.
        Dialect::Postgres => {
            index(tx.one("SELECT size AS n FROM ledger_head WHERE id = 1 FOR UPDATE", p![], |r| r.i64("n"))?)?
        }
    };
    let edge = fetch(tx, &frontier_positions(start))?;
    let mut frontier = Frontier::load(&edge, start)?;
    let mut out = Vec::with_capacity(entries.len());
    // This call's lower nodes: a block completed within it is tiled from memory.
    let mut fresh: HashMap<(u8, u64), Hash> = HashMap::new();
    // Entries are written ENTRY_ROWS to a statement (one round trip, one
    // statement step), and always before a tile that may read their leaves.
    let mut pending: Vec<(Entry, Vec<u8>, Hash)> = Vec::with_capacity(ENTRY_ROWS);
    for (i, new) in entries.iter().enumerate() {
        let index = start + i as u64;
        let entry = Entry::place(new.clone(), index);
        let body = entry.canonical();
        let leaf = leaf_hash(&body);
        pending.push((entry, body, leaf));
        for (level, idx, h) in frontier.append(leaf) {
            if level < TILE_LEVELS {
                // Not a row of its own: it goes into its block's tile.
                fresh.insert((level, idx), h);
                continue;
            }
            tx.exec(
                "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
                p![i64::from(level), idx as i64, &h],
            )?;
            if level == TILE_LEVELS {
                put_entries(tx, &mut pending)?;
                write_tile(tx, idx, &mut fresh)?;
            }
        }
        if pending.len() == ENTRY_ROWS {
            put_entries(tx, &mut pending)?;
        }
        out.push(index);
    }
    put_entries(tx, &mut pending)?;
    if tx.dialect() == Dialect::Postgres {
        tx.exec("UPDATE ledger_head SET size = ?1 WHERE id = 1", p![(start + entries.len() as u64) as i64])?;
    }
    Ok(out)
}

/// Entries per multi-row insert.
const ENTRY_ROWS: usize = 16;

/// Writes the entries waiting in `pending` (in one statement) and empties it.
fn put_entries(tx: &mut dyn Tx, pending: &mut Vec<(Entry, Vec<u8>, Hash)>) -> R<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut params: Vec<Param<'_>> = Vec::with_capacity(pending.len() * 6);
    for (entry, body, leaf) in pending.iter() {
        params.extend([
            Param::from(entry.index as i64),
            Param::Text(entry.kind.as_str()),
            Param::from(entry.household.as_deref()),
            Param::from(entry.child.as_deref()),
            Param::Bytes(body),
            Param::Bytes(leaf),
        ]);
    }
    // A full chunk's statement text is built once (this runs per 64 entries).
    static FULL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let partial;
    let sql = if pending.len() == ENTRY_ROWS {
        FULL.get_or_init(|| insert_entries_sql(ENTRY_ROWS))
    } else {
        partial = insert_entries_sql(pending.len());
        &partial
    };
    tx.exec(sql, &params)?;
    drop(params);
    pending.clear();
    Ok(())
}

fn insert_entries_sql(rows: usize) -> String {
    format!("INSERT INTO ledger_entries (idx, kind, household, child, body, leaf_hash) VALUES {}", values_sql(rows, 6))
}

/// The leaf hashes of entries `first..end`.
fn leaves(tx: &mut dyn Tx, first: u64, end: u64) -> R<Vec<Hash>> {
    tx.rows(
        "SELECT leaf_hash FROM ledger_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
        p![first as i64, end as i64],
        |r| hash(&r.blob("leaf_hash")?),
    )
}

/// Copies a just-completed block's lower nodes into its tile: from `fresh`
/// (this append's nodes, taken out) where it holds a whole level, else from
/// the stored leaf hashes (a block begun in an earlier append).
fn write_tile(tx: &mut dyn Tx, block: u64, fresh: &mut HashMap<(u8, u64), Hash>) -> R<()> {
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
        "INSERT INTO ledger_tiles (block, hashes) VALUES (?1, ?2)
         ON CONFLICT (block) DO UPDATE SET hashes = excluded.hashes",
        p![block as i64, &hashes],
    )?;
    Ok(())
}

/// Fetches the nodes at `positions`: lower levels from their block's tile (or,
/// in the block still being filled, from its leaves), the rest as rows in one
/// statement.
pub fn fetch(tx: &mut dyn Tx, positions: &[(u8, u64)]) -> R<MapNodes> {
    let mut nodes = MapNodes::with_capacity(positions.len());
    type Positions = Vec<(u8, u64)>;
    let (lower, upper): (Positions, Positions) = positions.iter().partition(|(l, _)| *l < TILE_LEVELS);
    let mut tiles: HashMap<u64, Option<Vec<u8>>> = HashMap::new();
    for &(level, idx) in &lower {
        let (block, slot) = tile_slot(level, idx);
        if let std::collections::hash_map::Entry::Vacant(vacant) = tiles.entry(block) {
            vacant.insert(
                tx.opt("SELECT hashes FROM ledger_tiles WHERE block = ?1", p![block as i64], |r| r.blob("hashes"))?,
            );
        }
        match tiles.get(&block) {
            Some(Some(t)) if t.len() == TILE_HASHES * 32 => {
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
    if !upper.is_empty() {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(upper.len() * 2);
        let wanted: Vec<String> = upper
            .iter()
            .map(|&(l, i)| {
                let level = bind(&mut params, Param::from(i64::from(l)));
                let idx = bind(&mut params, Param::from(i as i64));
                format!("(level = {level} AND idx = {idx})")
            })
            .collect();
        let sql = format!("SELECT level, idx, hash FROM ledger_nodes WHERE {}", wanted.join(" OR "));
        for (pos, h) in tx.rows(&sql, &params, |r| {
            let level = u8::try_from(r.i64("level")?).map_err(|_| corrupt("ledger level"))?;
            Ok(((level, index(r.i64("idx")?)?), hash(&r.blob("hash")?)?))
        })? {
            nodes.0.insert(pos, h);
        }
    }
    Ok(nodes)
}

/// The tree hash of each range (proof elements, or `(0, size)` for a root).
pub fn hashes_of(tx: &mut dyn Tx, ranges: &[(u64, u64)]) -> R<Vec<Hash>> {
    let nodes = fetch(tx, &kidvault_ledger::tree::positions(ranges))?;
    ranges.iter().map(|(s, e)| Ok(kidvault_ledger::tree::root_of(&nodes, *s, *e)?)).collect()
}

fn entry_row(r: &dyn Row) -> R<StoredEntry> {
    Ok(StoredEntry {
        index: index(r.i64("idx")?)?,
        kind: r.parsed("kind", EntryKind::parse)?,
        household: r.text("household")?,
        child: r.text("child")?,
        body: r.blob("body")?,
    })
}

pub fn entry(tx: &mut dyn Tx, index: u64) -> R<Option<StoredEntry>> {
    let Ok(index) = i64::try_from(index) else { return Ok(None) };
    tx.opt("SELECT idx, kind, household, child, body FROM ledger_entries WHERE idx = ?1", p![index], entry_row)
}

/// The latest entry of `kind` about no household (the deployment's own: a
/// policy change, a rollback).
pub fn latest_global(tx: &mut dyn Tx, kind: EntryKind) -> R<Option<StoredEntry>> {
    tx.opt(
        "SELECT idx, kind, household, child, body FROM ledger_entries
         WHERE child IS NULL AND household IS NULL AND kind = ?1 ORDER BY idx DESC LIMIT 1",
        p![kind.as_str()],
        entry_row,
    )
}

/// A child's entries (of one kind, or all), in log order.
pub fn child_entries(tx: &mut dyn Tx, child: ChildId, kind: Option<EntryKind>) -> R<Vec<StoredEntry>> {
    let child = child.to_string();
    match kind {
        None => tx.rows(
            "SELECT idx, kind, household, child, body FROM ledger_entries WHERE child = ?1 ORDER BY idx",
            p![&child],
            entry_row,
        ),
        Some(k) => tx.rows(
            "SELECT idx, kind, household, child, body FROM ledger_entries WHERE child = ?1 AND kind = ?2 ORDER BY idx",
            p![&child, k.as_str()],
            entry_row,
        ),
    }
}

pub fn save_checkpoint(tx: &mut dyn Tx, size: u64, at: Timestamp, note: &str) -> R<()> {
    tx.exec(
        "INSERT INTO ledger_checkpoints (size, at, note) VALUES (?1, ?2, ?3) ON CONFLICT (size) DO NOTHING",
        p![size as i64, at, note],
    )?;
    Ok(())
}

pub fn latest_checkpoint(tx: &mut dyn Tx) -> R<Option<(u64, String)>> {
    tx.opt("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1", p![], |r| {
        Ok((index(r.i64("size")?)?, r.string("note")?))
    })
}

pub fn checkpoint_at(tx: &mut dyn Tx, size: u64) -> R<Option<String>> {
    let Ok(size) = i64::try_from(size) else { return Ok(None) };
    tx.opt("SELECT note FROM ledger_checkpoints WHERE size = ?1", p![size], |r| r.string("note"))
}

/// The rows `kidvault ledger verify` reads ([`crate::audit::verify`]), through
/// one transaction of either backend.
#[allow(missing_debug_implementations)] // a borrowed transaction
pub struct AuditRows<'a>(pub &'a mut dyn Tx);

impl crate::audit::LedgerRows for AuditRows<'_> {
    fn checkpoints(&mut self) -> crate::Result<Vec<(u64, String)>> {
        Ok(self.0.rows("SELECT size, note FROM ledger_checkpoints ORDER BY size", p![], |r| {
            Ok((index(r.i64("size")?)?, r.string("note")?))
        })?)
    }

    fn entries(&mut self, from: u64, limit: usize) -> crate::Result<Vec<crate::audit::StoredRow>> {
        Ok(self.0.rows(
            "SELECT idx, body, leaf_hash FROM ledger_entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
            p![from as i64, limit as i64],
            |r| Ok((index(r.i64("idx")?)?, r.blob("body")?, r.blob("leaf_hash")?)),
        )?)
    }

    fn node(&mut self, level: u8, idx: u64) -> crate::Result<Option<Vec<u8>>> {
        Ok(self.0.opt(
            "SELECT hash FROM ledger_nodes WHERE level = ?1 AND idx = ?2",
            p![i64::from(level), idx as i64],
            |r| r.blob("hash"),
        )?)
    }

    fn tile(&mut self, block: u64) -> crate::Result<Option<Vec<u8>>> {
        Ok(self.0.opt("SELECT hashes FROM ledger_tiles WHERE block = ?1", p![block as i64], |r| r.blob("hashes"))?)
    }
}
