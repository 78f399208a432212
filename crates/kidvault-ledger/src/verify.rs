//! RFC 9162 §2.1.3.2 and §2.1.4.2: verifying inclusion and consistency proofs.
//! Pure functions over hashes; what an auditor runs, with nothing but the proof,
//! the leaf and a trusted root.

use crate::hash::{node_hash, Hash};
use crate::LedgerError;

/// Checks that `leaf` is leaf number `index` of the tree of `size` with `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), LedgerError> {
    if index >= size {
        return Err(LedgerError::ProofFailed);
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(LedgerError::ProofFailed);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(LedgerError::ProofFailed)
    }
}

/// Checks that the tree of size `to` with `to_root` extends the tree of size
/// `from` with `from_root`.
pub fn verify_consistency(
    from: u64,
    to: u64,
    proof: &[Hash],
    from_root: &Hash,
    to_root: &Hash,
) -> Result<(), LedgerError> {
    if from == 0 || from > to {
        return Err(LedgerError::ProofFailed);
    }
    if from == to {
        return if proof.is_empty() && from_root == to_root { Ok(()) } else { Err(LedgerError::ProofFailed) };
    }
    if proof.is_empty() {
        return Err(LedgerError::ProofFailed);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*from_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (from - 1, to - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(LedgerError::ProofFailed);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if fr == *from_root && sr == *to_root && sn == 0 {
        Ok(())
    } else {
        Err(LedgerError::ProofFailed)
    }
}
