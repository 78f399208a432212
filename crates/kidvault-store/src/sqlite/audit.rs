//! `kidvault ledger verify`: recompute the whole log from the stored entries and
//! check it against itself and against every signed checkpoint.
//!
//! For each entry in order: its index is the next one (none missing), its bytes are
//! canonical, it names its own position (none moved), its leaf hash and every
//! subtree hash it completes match what is stored. Each checkpoint must carry a
//! valid signature and the root recomputed at its size, and no checkpoint may be
//! larger than the log. The first failure is reported, naming the entry. Memory
//! stays O(log n): the recomputation keeps only the tree's right edge.

use std::path::Path;

use kidvault_ledger::checkpoint::Verifier;
use kidvault_ledger::entry::Entry;
use kidvault_ledger::hash::leaf_hash;
use kidvault_ledger::tree::Frontier;
use rusqlite::{params, OptionalExtension};

use super::open_conn;
use crate::StoreError;

/// What a clean audit covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerAudit {
    pub entries: u64,
    pub checkpoints: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditFailure {
    #[error("ledger entry {index}: {why}")]
    Entry { index: u64, why: String },
    #[error("checkpoint for size {size}: {why}")]
    Checkpoint { size: u64, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AuditFailure {
    fn from(e: rusqlite::Error) -> Self {
        AuditFailure::Store(e.into())
    }
}

/// Audits the ledger in the data store at `db`.
pub fn verify_ledger(db: &Path, verifier: &Verifier) -> Result<LedgerAudit, AuditFailure> {
    let conn = open_conn(db, false)?;
    let mut cps: Vec<(u64, String)> = {
        let mut stmt = conn.prepare("SELECT size, note FROM ledger_checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    cps.reverse(); // pop from the smallest
    let checkpoints = cps.len() as u64;
    let mut node = conn.prepare("SELECT hash FROM ledger_nodes WHERE level = ?1 AND idx = ?2")?;
    let mut tile = conn.prepare("SELECT hashes FROM ledger_tiles WHERE block = ?1")?;
    let mut block_nodes: Vec<u8> = vec![0; (2 * (1usize << kidvault_ledger::tiles::TILE_LEVELS) - 2) * 32];
    let mut stmt = conn.prepare("SELECT idx, body, leaf_hash FROM ledger_entries ORDER BY idx")?;
    let mut rows = stmt.query([])?;
    let mut frontier = Frontier::default();
    let check_checkpoints = |frontier: &Frontier, cps: &mut Vec<(u64, String)>| -> Result<(), AuditFailure> {
        while cps.last().is_some_and(|(size, _)| *size == frontier.size()) {
            let Some((size, note)) = cps.pop() else { break };
            let cp = verifier
                .verify(&note)
                .map_err(|e| AuditFailure::Checkpoint { size, why: format!("signature: {e}") })?;
            if cp.size != size {
                return Err(AuditFailure::Checkpoint { size, why: format!("note says size {}", cp.size) });
            }
            if cp.root != frontier.root() {
                return Err(AuditFailure::Checkpoint {
                    size,
                    why: "the entries up to this size no longer hash to the signed root".into(),
                });
            }
        }
        Ok(())
    };
    check_checkpoints(&frontier, &mut cps)?;
    while let Some(row) = rows.next()? {
        let expected = frontier.size();
        let index = row.get::<_, i64>(0)? as u64;
        if index != expected {
            return Err(AuditFailure::Entry {
                index: expected,
                why: format!("missing (the next stored entry is {index})"),
            });
        }
        let body: Vec<u8> = row.get(1)?;
        let stored_leaf: Vec<u8> = row.get(2)?;
        let entry =
            Entry::from_canonical(&body).map_err(|e| AuditFailure::Entry { index, why: format!("altered: {e}") })?;
        if entry.index != index {
            return Err(AuditFailure::Entry {
                index,
                why: format!("moved: it records itself as entry {}", entry.index),
            });
        }
        let leaf = leaf_hash(&body);
        if stored_leaf != leaf {
            return Err(AuditFailure::Entry { index, why: "altered: its bytes no longer match its hash".into() });
        }
        for (level, idx, hash) in frontier.append(leaf) {
            let stored: Option<Vec<u8>> = node.query_row(params![level, idx as i64], |r| r.get(0)).optional()?;
            // Lower levels live in tiles (checked below) and, in logs written
            // before tiles, also as rows.
            let lower = level < kidvault_ledger::tiles::TILE_LEVELS;
            if (stored.is_some() || !lower) && stored.as_deref() != Some(hash.as_slice()) {
                return Err(AuditFailure::Entry {
                    index,
                    why: format!("the stored tree disagrees with it (node {level}/{idx})"),
                });
            }
            // The tile copy of a completed block must hold exactly its nodes.
            if level < kidvault_ledger::tiles::TILE_LEVELS {
                let (_, slot) = kidvault_ledger::tiles::tile_slot(level, idx);
                block_nodes[slot * 32..slot * 32 + 32].copy_from_slice(&hash);
            } else if level == kidvault_ledger::tiles::TILE_LEVELS {
                let stored: Option<Vec<u8>> = tile.query_row([idx as i64], |r| r.get(0)).optional()?;
                if stored.is_some_and(|t| t != block_nodes) {
                    return Err(AuditFailure::Entry {
                        index,
                        why: format!("the stored tree disagrees with it (tile of block {idx})"),
                    });
                }
            }
        }
        check_checkpoints(&frontier, &mut cps)?;
    }
    if let Some((size, _)) = cps.last() {
        return Err(AuditFailure::Entry {
            index: frontier.size(),
            why: format!("missing: a checkpoint was signed for {size} entries, only {} remain", frontier.size()),
        });
    }
    Ok(LedgerAudit { entries: frontier.size(), checkpoints })
}
