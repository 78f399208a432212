//! An entry with everything needed to check it offline: its canonical bytes, its
//! index, an inclusion proof, and the signed checkpoint the proof is against.
//! Anyone with the log's verifier key can check it; no byte can change unnoticed.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Verifier;
use crate::entry::Entry;
use crate::hash::{leaf_hash, Hash};
use crate::verify::verify_inclusion;
use crate::LedgerError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryProof {
    /// The entry's canonical JSON, as a string (its exact bytes are the leaf).
    pub entry: String,
    pub index: u64,
    pub tree_size: u64,
    /// Base64 hashes, leaf side first (RFC 6962 audit path).
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint note for `tree_size`.
    pub checkpoint: String,
}

impl EntryProof {
    pub fn new(entry: &[u8], index: u64, tree_size: u64, proof: &[Hash], checkpoint: String) -> Self {
        Self {
            entry: String::from_utf8_lossy(entry).into_owned(),
            index,
            tree_size,
            inclusion_proof: proof.iter().map(|h| B64.encode(h)).collect(),
            checkpoint,
        }
    }

    /// Verifies the checkpoint's signature, that it is for `tree_size`, and that
    /// the entry is leaf `index` of that tree. Returns the entry.
    pub fn verify(&self, verifier: &Verifier) -> Result<Entry, LedgerError> {
        let cp = verifier.verify(&self.checkpoint)?;
        if cp.size != self.tree_size {
            return Err(LedgerError::ProofFailed);
        }
        let entry = Entry::from_canonical(self.entry.as_bytes())?;
        if entry.index != self.index {
            return Err(LedgerError::ProofFailed);
        }
        let proof = self
            .inclusion_proof
            .iter()
            .map(|h| B64.decode(h).ok().and_then(|v| Hash::try_from(v).ok()))
            .collect::<Option<Vec<Hash>>>()
            .ok_or(LedgerError::Malformed { what: "inclusion proof", why: "hashes are 32 bytes of base64".into() })?;
        verify_inclusion(&leaf_hash(self.entry.as_bytes()), self.index, self.tree_size, &proof, &cp.root)?;
        Ok(entry)
    }
}

/// A document (e.g. a deletion receipt's body) whose SHA-256 is recorded in a
/// ledger entry under `hashes.document`, with that entry's proof. Verifying it
/// proves the document is exactly what the log committed to: any edited byte of
/// the document, the entry, the proof or the checkpoint fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentReceipt {
    /// The document, as exact text (its bytes are hashed).
    pub document: String,
    pub ledger: EntryProof,
}

impl DocumentReceipt {
    pub fn verify(&self, verifier: &Verifier) -> Result<Entry, LedgerError> {
        let entry = self.ledger.verify(verifier)?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.document.as_bytes());
        if entry.hashes.get("document").map(String::as_str) != Some(crate::hash::to_hex(digest.as_ref()).as_str()) {
            return Err(LedgerError::ProofFailed);
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Signer;
    use crate::entry::{EntryKind, NewEntry};
    use crate::tree::{inclusion_proof, root, MemNodes};

    #[test]
    fn a_receipt_verifies_and_any_edited_byte_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (signer, _) = Signer::load_or_create(&dir.path().join("k"), "kidvault.test").unwrap();
        let mut nodes = MemNodes::default();
        let mut bodies = Vec::new();
        for i in 0..11u64 {
            let e = Entry::place(
                NewEntry {
                    kind: EntryKind::AccessRead,
                    at: "2026-11-28T00:00:00.000000Z".into(),
                    actor: format!("guardian:{i}"),
                    household: Some("h".into()),
                    child: Some("c".into()),
                    subjects: vec![],
                    purpose: Some("guardian_review".into()),
                    detail: Default::default(),
                    counts: Default::default(),
                    hashes: Default::default(),
                },
                i,
            );
            nodes.push(leaf_hash(&e.canonical()));
            bodies.push(e.canonical());
        }
        let r = root(&nodes, 11).unwrap();
        let proof = inclusion_proof(&nodes, 6, 11).unwrap();
        let receipt = EntryProof::new(&bodies[6], 6, 11, &proof, signer.sign(11, r, 1));
        let v = Verifier::parse(&signer.verifier_key()).unwrap();
        assert_eq!(receipt.verify(&v).unwrap().actor, "guardian:6");

        let json = serde_json::to_string(&receipt).unwrap();
        // Edit each byte of the document in turn (where the edit still parses).
        let mut checked = 0;
        for i in 0..json.len() {
            let mut bytes = json.clone().into_bytes();
            bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            if let Ok(edited) = serde_json::from_str::<EntryProof>(&text) {
                if edited != receipt {
                    assert!(edited.verify(&v).is_err(), "edit at byte {i} went unnoticed");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} edits parsed");
    }
}
