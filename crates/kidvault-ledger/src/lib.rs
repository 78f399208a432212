//! # kidvault-ledger
//!
//! What happened, provably. Every consent change, deletion, key destruction,
//! retention action and access to child data is an [`entry::Entry`] in an
//! append-only Merkle log (RFC 6962 / RFC 9162 hashing). Signed [`checkpoint`]s
//! (C2SP signed-note format, Ed25519) commit to the log's size and root; an
//! inclusion proof shows an entry is in the log, a consistency proof that a later
//! log extends an earlier one. Anyone holding the public key can check both
//! offline ([`verify`]), without trusting the operator.
//!
//! - [`hash`]: leaf and node hashing.
//! - [`tree`]: roots and proofs over stored subtree hashes ([`tree::Nodes`]), and
//!   what to store on append — O(log n) work, no full recomputation.
//! - [`verify`]: the RFC 9162 verification algorithms (pure).
//! - [`entry`]: the canonical, versioned entry format. Never child content.
//! - [`checkpoint`]: signing keys, checkpoints, verifier keys.
//! - [`receipt`]: an entry with its proof and checkpoint, verifiable offline.
//!
//! This crate performs no IO except loading or creating the signing key file.

pub mod checkpoint;
pub mod entry;
pub mod hash;
pub mod receipt;
pub mod tiles;
pub mod tree;
pub mod verify;

pub use hash::Hash;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerError {
    #[error("index {index} is outside a tree of size {size}")]
    OutOfRange { index: u64, size: u64 },
    #[error("sizes must satisfy 0 < from <= to (got {from}, {to})")]
    BadRange { from: u64, to: u64 },
    #[error("missing tree node at level {level}, index {index}")]
    MissingNode { level: u8, index: u64 },
    #[error("proof does not verify")]
    ProofFailed,
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: String },
    #[error("signature does not verify with the given key")]
    BadSignature,
    #[error("signing key file {path}: {why}")]
    KeyFile { path: String, why: String },
    #[error("storage: {0}")]
    Storage(String),
}
