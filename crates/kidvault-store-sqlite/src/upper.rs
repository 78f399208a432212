//! The ledger's upper subtree hashes, kept in memory once read.
//!
//! A proof at 10 million entries needs ~24 stored nodes; each is a B-tree
//! descent onto pages scattered through a multi-gigabyte file, which is what
//! makes a cold proof slow. Nodes never change once written, and the upper
//! levels are few (n / 2^level), so they are cached: loaded once, highest level
//! first, up to a fixed number of nodes (so memory does not grow with the log),
//! then extended as new ones are read. A proof then reads only its few lowest
//! levels from disk.

use std::sync::RwLock;

use kidvault_ledger::hash::Hash;
use kidvault_ledger::tree::MapNodes;
use rusqlite::Connection;

use crate::Result;

/// Levels below this are never cached (there are too many of them).
const MIN_LEVEL: u8 = 6;
/// At most this many nodes (32 bytes each: 16 MiB) are cached.
const MAX_NODES: usize = 1 << 19;

#[derive(Debug, Default)]
struct Levels {
    warm: bool,
    /// `dense[l]`: the hashes of nodes `0..len` at level `l` (cached levels only).
    dense: Vec<Option<Vec<Hash>>>,
    count: usize,
}

/// Shared by every reader of one store.
#[derive(Debug, Default)]
pub(crate) struct UpperNodes {
    levels: RwLock<Levels>,
}

impl UpperNodes {
    /// Loads the upper levels, highest first, until the budget is spent.
    fn warm(&self, conn: &Connection) -> Result<()> {
        let mut lv = self.levels.write().unwrap_or_else(|p| p.into_inner());
        if lv.warm {
            return Ok(());
        }
        let top: Option<i64> =
            conn.prepare_cached("SELECT MAX(level) FROM ledger_nodes")?.query_row([], |r| r.get(0))?;
        let top = top.unwrap_or(0).clamp(0, 63) as u8;
        lv.dense = vec![None; usize::from(top) + 1];
        let mut stmt = conn.prepare_cached("SELECT hash FROM ledger_nodes WHERE level = ?1 ORDER BY idx")?;
        for level in (MIN_LEVEL..=top).rev() {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM ledger_nodes WHERE level = ?1")?
                .query_row([level], |r| r.get(0))?;
            if lv.count + count as usize > MAX_NODES {
                break;
            }
            let mut hashes = Vec::with_capacity(count as usize);
            let mut rows = stmt.query([level])?;
            while let Some(r) = rows.next()? {
                let h = Hash::try_from(r.get::<_, Vec<u8>>(0)?)
                    .map_err(|_| kidvault_store::StoreError::Corrupt("node hash".into()))?;
                hashes.push(h);
            }
            lv.count += hashes.len();
            lv.dense[usize::from(level)] = Some(hashes);
        }
        lv.warm = true;
        Ok(())
    }

    /// Fetches the nodes at `positions`: cached ones from memory, the rest with
    /// one statement (and the cacheable ones among those kept).
    pub(crate) fn fetch(&self, conn: &Connection, positions: &[(u8, u64)]) -> Result<MapNodes> {
        if !self.levels.read().unwrap_or_else(|p| p.into_inner()).warm {
            self.warm(conn)?;
        }
        let mut map = MapNodes::with_capacity(positions.len());
        let mut missing = Vec::new();
        {
            let lv = self.levels.read().unwrap_or_else(|p| p.into_inner());
            for &(level, idx) in positions {
                match lv.dense.get(usize::from(level)).and_then(Option::as_ref).and_then(|d| d.get(idx as usize)) {
                    Some(h) => {
                        map.0.insert((level, idx), *h);
                    }
                    None => missing.push((level, idx)),
                }
            }
        }
        if missing.is_empty() {
            return Ok(map);
        }
        // The lower levels from their block's tile (one lookup), the rest by node.
        let fetched = crate::ledger::fetch(conn, &missing)?;
        if fetched.0.keys().all(|&(level, _)| level < MIN_LEVEL) {
            // Only tile levels, which are never cached: no need for the write lock.
            map.0.extend(fetched.0);
            return Ok(map);
        }
        let mut lv = self.levels.write().unwrap_or_else(|p| p.into_inner());
        for (&(level, idx), hash) in &fetched.0 {
            if lv.count >= MAX_NODES {
                break;
            }
            // Extend a cached level only at its end (it stays dense).
            if let Some(Some(dense)) = lv.dense.get_mut(usize::from(level)) {
                if dense.len() as u64 == idx {
                    dense.push(*hash);
                    lv.count += 1;
                }
            }
        }
        map.0.extend(fetched.0);
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kidvault_ledger::entry::{EntryKind, NewEntry};
    use kidvault_ledger::tree::{inclusion_ranges, positions, root_of};

    fn entries(n: usize) -> Vec<NewEntry> {
        (0..n)
            .map(|i| NewEntry {
                kind: EntryKind::AccessRead,
                at: format!("2026-01-01T00:00:{:02}.{i:06}Z", i % 60),
                actor: "system".into(),
                household: None,
                child: None,
                subjects: vec![],
                purpose: None,
                detail: Default::default(),
                counts: Default::default(),
                hashes: Default::default(),
            })
            .collect()
    }

    #[test]
    fn cached_and_uncached_proofs_agree_as_the_log_grows() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let conn = crate::open_conn(&dir.path().join("s.db"), crate::Role::Writer).unwrap();
        kidvault_store::sql::ledger::append(&mut crate::tx::SqliteTx(&conn), &entries(3000)).unwrap();
        let cache = UpperNodes::default();
        // The reference: every node, computed in memory from the stored leaves.
        let reference = |size: u64| {
            let mut f = kidvault_ledger::tree::Frontier::default();
            let mut all = MapNodes::default();
            let mut stmt = conn.prepare("SELECT leaf_hash FROM ledger_entries ORDER BY idx").unwrap();
            let leaves: Vec<Vec<u8>> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            for leaf in leaves.iter().take(size as usize) {
                for (l, i, h) in f.append(Hash::try_from(leaf.as_slice()).unwrap()) {
                    all.0.insert((l, i), h);
                }
            }
            all
        };
        let check = |size: u64| {
            let truth = reference(size);
            for index in [0, 1, 63, 64, 127, 128, 1000, size / 2, size - 2, size - 1] {
                let ranges = inclusion_ranges(index, size).unwrap();
                let pos = positions(&ranges);
                let cached = cache.fetch(&conn, &pos).unwrap();
                let plain = crate::ledger::fetch(&conn, &pos).unwrap();
                for (s, e) in &ranges {
                    let want = root_of(&truth, *s, *e).unwrap();
                    assert_eq!(root_of(&cached, *s, *e).unwrap(), want, "cached, index {index}");
                    assert_eq!(root_of(&plain, *s, *e).unwrap(), want, "stored, index {index}");
                }
            }
        };
        check(3000);
        assert!(cache.levels.read().unwrap().count > 0, "upper levels are cached");
        let tiles: i64 = conn.query_row("SELECT count(*) FROM ledger_tiles", [], |r| r.get(0)).unwrap();
        assert_eq!(tiles, 3000 / 64, "one tile per complete block of 64 leaves");
        // Every slot of a tile holds its node.
        let mut from_tiles = MapNodes::default();
        let all: Vec<(u8, u64)> = (0..6u8).flat_map(|l| (0..(256u64 >> l)).map(move |i| (l, i))).collect();
        assert!(crate::ledger::fetch_tiled(&conn, &all, &mut from_tiles).unwrap().is_empty());
        let truth = reference(3000);
        assert!(all.iter().all(|p| from_tiles.0.get(p) == truth.0.get(p)));
        let rows: i64 = conn.query_row("SELECT count(*) FROM ledger_nodes WHERE level < 6", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0, "lower levels are not rows of their own");
        // Nodes written after warming are read from disk, then kept; appends in
        // small batches complete blocks begun by earlier appends.
        kidvault_store::sql::ledger::append(&mut crate::tx::SqliteTx(&conn), &entries(2000)).unwrap();
        check(5000);
        for _ in 0..10 {
            kidvault_store::sql::ledger::append(&mut crate::tx::SqliteTx(&conn), &entries(7)).unwrap();
        }
        check(5070);
        drop(db);
    }
}
