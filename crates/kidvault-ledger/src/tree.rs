//! The Merkle tree over stored subtree hashes.
//!
//! The store keeps, for every *complete* subtree, its hash at `(level, index)`:
//! level 0 holds leaf hashes, and `(level, i)` covers leaves
//! `[i·2^level, (i+1)·2^level)`. Appending leaf `n` completes at most log₂ n
//! subtrees ([`Frontier::append`]), so appends never recompute the tree; roots and proofs
//! for any size read O(log n) stored nodes (RFC 6962 §2.1 definitions, evaluated
//! over complete subtrees).

use crate::hash::{empty_root, node_hash, Hash};
use crate::LedgerError;

/// Read access to stored complete-subtree hashes.
pub trait Nodes {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError>;
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a tree of `size` leaves: the complete subtrees that its
/// binary decomposition is made of, left to right, as `(level, index)`.
pub fn frontier_positions(size: u64) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size & (1 << level) != 0 {
            out.push((level, start >> level));
            start += 1 << level;
        }
    }
    out
}

/// The right edge of the tree (hashes of [`frontier_positions`]), kept by a writer
/// so that appends need no reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    edge: Vec<(u8, Hash)>,
}

impl Frontier {
    /// Loads the right edge of a tree of `size` leaves from stored nodes.
    pub fn load(nodes: &impl Nodes, size: u64) -> Result<Self, LedgerError> {
        let edge = frontier_positions(size)
            .into_iter()
            .map(|(level, index)| Ok((level, nodes.node(level, index)?)))
            .collect::<Result<_, LedgerError>>()?;
        Ok(Self { size, edge })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns every node to store: `(level, index, hash)`.
    pub fn append(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let index = self.size;
        let mut out = vec![(0, index, leaf)];
        let mut cur = leaf;
        let mut level = 0u8;
        let mut i = index;
        while i & 1 == 1 {
            // The left sibling is the last complete subtree on the edge.
            let Some((_, left)) = self.edge.pop() else {
                break;
            };
            cur = node_hash(&left, &cur);
            level += 1;
            i >>= 1;
            out.push((level, i, cur));
        }
        self.edge.push((level, cur));
        self.size += 1;
        out
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.edge.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some((_, last)) => iter.fold(*last, |acc, (_, left)| node_hash(left, &acc)),
        }
    }
}

/// MTH(D[start:end]) where `start` is a multiple of the largest power of two
/// not exceeding `end - start` (true of every range RFC 6962 recursion visits).
fn mth(nodes: &impl Nodes, start: u64, end: u64) -> Result<Hash, LedgerError> {
    let n = end - start;
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return nodes.node(level, start >> level);
    }
    let k = split(n);
    Ok(node_hash(&mth(nodes, start, start + k)?, &mth(nodes, start + k, end)?))
}

/// MTH(D[start:end]) for a range produced by [`inclusion_ranges`],
/// [`consistency_ranges`] or `(0, size)`.
pub fn root_of(nodes: &impl Nodes, start: u64, end: u64) -> Result<Hash, LedgerError> {
    if start >= end {
        return Err(LedgerError::BadRange { from: start, to: end });
    }
    mth(nodes, start, end)
}

/// The root of the first `size` leaves.
pub fn root(nodes: &impl Nodes, size: u64) -> Result<Hash, LedgerError> {
    if size == 0 {
        return Ok(empty_root());
    }
    mth(nodes, 0, size)
}

/// The ranges whose MTH make up PATH(index, D[0:size]) (RFC 6962 §2.1.1), leaf
/// side first.
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<(u64, u64)>, LedgerError> {
    if index >= size {
        return Err(LedgerError::OutOfRange { index, size });
    }
    let (mut start, mut end) = (0u64, size);
    let mut siblings = Vec::new();
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            siblings.push((start + k, end));
            end = start + k;
        } else {
            siblings.push((start, start + k));
            start += k;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// The ranges whose MTH make up PROOF(from, D[0:to]) (RFC 6962 §2.1.2), in order.
pub fn consistency_ranges(from: u64, to: u64) -> Result<Vec<(u64, u64)>, LedgerError> {
    if from == 0 || from > to {
        return Err(LedgerError::BadRange { from, to });
    }
    let mut ranges = Vec::new();
    if from == to {
        return Ok(ranges);
    }
    // SUBPROOF(m, D[start:end], b), unrolled: outermost hashes come last.
    let (mut m, mut start, mut end, mut complete) = (from, 0u64, to, true);
    loop {
        let n = end - start;
        if m == n {
            if !complete {
                ranges.push((start, end));
            }
            break;
        }
        let k = split(n);
        if m <= k {
            ranges.push((start + k, end));
            end = start + k;
        } else {
            ranges.push((start, start + k));
            m -= k;
            start += k;
            complete = false;
        }
    }
    ranges.reverse();
    Ok(ranges)
}

/// The stored complete subtrees MTH(D[start:end]) is made of.
fn parts(start: u64, end: u64, out: &mut Vec<(u8, u64)>) {
    let n = end - start;
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        out.push((level, start >> level));
    } else {
        let k = split(n);
        parts(start, start + k, out);
        parts(start + k, end, out);
    }
}

/// Every stored node the MTH of `ranges` reads: fetch them in one go, then
/// compute from memory.
pub fn positions(ranges: &[(u64, u64)]) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    for (s, e) in ranges {
        parts(*s, *e, &mut out);
    }
    out
}

/// PATH(index, D[0:size]) of RFC 6962 §2.1.1: the audit path, leaf side first.
pub fn inclusion_proof(nodes: &impl Nodes, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
    inclusion_ranges(index, size)?.into_iter().map(|(s, e)| mth(nodes, s, e)).collect()
}

/// PROOF(from, D[0:to]) of RFC 6962 §2.1.2: proves the tree of size `to` extends
/// the tree of size `from`.
pub fn consistency_proof(nodes: &impl Nodes, from: u64, to: u64) -> Result<Vec<Hash>, LedgerError> {
    consistency_ranges(from, to)?.into_iter().map(|(s, e)| mth(nodes, s, e)).collect()
}

/// Nodes fetched ahead into a map (see [`positions`]).
#[derive(Clone, Debug, Default)]
pub struct MapNodes(pub std::collections::HashMap<(u8, u64), Hash, PositionHash>);

impl MapNodes {
    pub fn with_capacity(n: usize) -> Self {
        MapNodes(std::collections::HashMap::with_capacity_and_hasher(n, PositionHash))
    }
}

/// Hashes node positions for [`MapNodes`]. Positions come from the tree's own
/// arithmetic, never straight from a caller, so resistance to chosen keys
/// (SipHash's purpose) buys nothing here and costs a proof a tenth of its time;
/// this is a multiply-rotate mix (FxHash's).
#[derive(Clone, Copy, Debug, Default)]
pub struct PositionHash;

impl std::hash::BuildHasher for PositionHash {
    type Hasher = PositionHasher;
    fn build_hasher(&self) -> PositionHasher {
        PositionHasher(0)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PositionHasher(u64);

impl PositionHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for PositionHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.add(u64::from(*b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
}

impl Nodes for MapNodes {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.0.get(&(level, index)).copied().ok_or(LedgerError::MissingNode { level, index })
    }
}

/// Nodes held in memory (tests, tools).
#[derive(Clone, Debug, Default)]
pub struct MemNodes {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemNodes {
    pub fn push(&mut self, leaf: Hash) {
        for (level, index, hash) in self.frontier.append(leaf) {
            let level = usize::from(level);
            if self.levels.len() <= level {
                self.levels.resize(level + 1, Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, index);
            self.levels[level].push(hash);
        }
    }
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }
}

impl Nodes for MemNodes {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.levels
            .get(usize::from(level))
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(LedgerError::MissingNode { level, index })
    }
}
