//! `kidvault ledger verify`, for every backend: recompute the whole log from the
//! stored entries and check it against itself and against every signed checkpoint.
//!
//! For each entry in order: its index is the next one (none missing), its bytes are
//! canonical, it names its own position (none moved), its leaf hash and every
//! subtree hash it completes match what is stored (rows, and the tile of each
//! completed block). Each checkpoint must carry a valid signature and the root
//! recomputed at its size, and no checkpoint may be larger than the log. The first
//! failure is reported, naming the entry. Memory stays O(log n) plus one page of
//! entries: the recomputation keeps only the tree's right edge.

use kidvault_ledger::checkpoint::Verifier;
use kidvault_ledger::entry::Entry;
use kidvault_ledger::hash::leaf_hash;
use kidvault_ledger::tiles::{tile_slot, TILE_HASHES, TILE_LEVELS};
use kidvault_ledger::tree::Frontier;

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

/// A stored entry as the audit reads it: (index, canonical bytes, stored leaf hash).
pub type StoredRow = (u64, Vec<u8>, Vec<u8>);

/// What an audit reads from a backend.
pub trait LedgerRows {
    /// Every kept checkpoint, (size, note), smallest first.
    fn checkpoints(&mut self) -> Result<Vec<(u64, String)>, StoreError>;
    /// Up to `limit` stored entries with index `from` or above, in index order.
    fn entries(&mut self, from: u64, limit: usize) -> Result<Vec<StoredRow>, StoreError>;
    /// A stored subtree hash row, if any.
    fn node(&mut self, level: u8, idx: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// A stored tile, if any.
    fn tile(&mut self, block: u64) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Entries read per page.
const PAGE: usize = 10_000;

/// Audits the ledger `rows` reads.
pub fn verify(rows: &mut dyn LedgerRows, verifier: &Verifier) -> Result<LedgerAudit, AuditFailure> {
    let mut cps = rows.checkpoints()?;
    cps.reverse(); // pop from the smallest
    let checkpoints = cps.len() as u64;
    let mut block_nodes: Vec<u8> = vec![0; TILE_HASHES * 32];
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
    loop {
        let page = rows.entries(frontier.size(), PAGE)?;
        let last_page = page.len() < PAGE;
        for (index, body, stored_leaf) in page {
            let expected = frontier.size();
            if index != expected {
                return Err(AuditFailure::Entry {
                    index: expected,
                    why: format!("missing (the next stored entry is {index})"),
                });
            }
            let entry = Entry::from_canonical(&body)
                .map_err(|e| AuditFailure::Entry { index, why: format!("altered: {e}") })?;
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
                let stored = rows.node(level, idx)?;
                // Lower levels live in tiles (checked below) and, in logs written
                // before tiles, also as rows.
                let lower = level < TILE_LEVELS;
                if (stored.is_some() || !lower) && stored.as_deref() != Some(hash.as_slice()) {
                    return Err(AuditFailure::Entry {
                        index,
                        why: format!("the stored tree disagrees with it (node {level}/{idx})"),
                    });
                }
                // The tile copy of a completed block must hold exactly its nodes.
                if lower {
                    let (_, slot) = tile_slot(level, idx);
                    block_nodes[slot * 32..slot * 32 + 32].copy_from_slice(&hash);
                } else if level == TILE_LEVELS && rows.tile(idx)?.is_some_and(|t| t != block_nodes) {
                    return Err(AuditFailure::Entry {
                        index,
                        why: format!("the stored tree disagrees with it (tile of block {idx})"),
                    });
                }
            }
            check_checkpoints(&frontier, &mut cps)?;
        }
        if last_page {
            break;
        }
    }
    if let Some((size, _)) = cps.last() {
        return Err(AuditFailure::Entry {
            index: frontier.size(),
            why: format!("missing: a checkpoint was signed for {size} entries, only {} remain", frontier.size()),
        });
    }
    Ok(LedgerAudit { entries: frontier.size(), checkpoints })
}
