//! Signed checkpoints in the C2SP formats (c2sp.org/tlog-checkpoint,
//! c2sp.org/signed-note), so existing transparency-log tooling reads them:
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 root hash>
//! time <unix seconds>          (extension line)
//!
//! — <key name> <base64(key ID ‖ Ed25519 signature)>
//! ```
//!
//! key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]; the verifier key is
//! `<name>+<key ID hex>+<base64(0x01 ‖ public key)>`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::hash::{to_hex, Hash};
use crate::LedgerError;

const ED25519_TYPE: u8 = 0x01;
const KEY_HEADER: &str = "kidvault-ledger-key v1";

/// A tree head: what a checkpoint commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// When it was signed (Unix seconds).
    pub time: u64,
}

fn malformed(why: impl Into<String>) -> LedgerError {
    LedgerError::Malformed { what: "checkpoint", why: why.into() }
}

impl Checkpoint {
    /// The note text that is signed.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\ntime {}\n", self.origin, self.size, B64.encode(self.root), self.time)
    }

    fn parse_body(text: &str) -> Result<Self, LedgerError> {
        let mut lines = text.strip_suffix('\n').ok_or_else(|| malformed("text must end in a newline"))?.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| malformed("no origin"))?;
        let size = lines.next().and_then(|s| s.parse().ok()).ok_or_else(|| malformed("bad size"))?;
        let root: Hash = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| malformed("bad root hash"))?;
        let mut time = 0;
        for ext in lines {
            if let Some(t) = ext.strip_prefix("time ") {
                time = t.parse().map_err(|_| malformed("bad time"))?;
            }
        }
        Ok(Self { origin: origin.to_owned(), size, root, time })
    }
}

fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut data = Vec::with_capacity(name.len() + 2 + public.len());
    data.extend_from_slice(name.as_bytes());
    data.push(b'\n');
    data.push(ED25519_TYPE);
    data.extend_from_slice(public);
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

/// The log's signing key (Ed25519), kept in its own file.
pub struct Signer {
    name: String,
    pair: Ed25519KeyPair,
    id: [u8; 4],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads the signing key from `path`, creating it (mode 0600) if absent. A new
    /// key is named `<origin_prefix>/<first 4 bytes of its key hash>`, so each
    /// deployment's log has its own origin. Returns whether it was created.
    pub fn load_or_create(path: &Path, origin_prefix: &str) -> Result<(Self, bool), LedgerError> {
        let err = |why: String| LedgerError::KeyFile { path: path.display().to_string(), why };
        let created = !path.exists();
        if created {
            let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|e| err(e.to_string()))?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|e| err(e.to_string()))?;
            let fp = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pair.public_key().as_ref());
            let name = format!("{origin_prefix}/{}", to_hex(&fp.as_ref()[..4]));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| err(e.to_string()))?;
            let text = format!("{KEY_HEADER}\n{name}\n{}\n", B64.encode(doc.as_ref()));
            f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| err(e.to_string()))?;
        }
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(err("is readable by group or others; chmod 600 it".into()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut lines = text.lines();
        if lines.next() != Some(KEY_HEADER) {
            return Err(err(format!("does not start with {KEY_HEADER:?}")));
        }
        let name = lines.next().filter(|n| !n.is_empty()).ok_or_else(|| err("no key name".into()))?.to_owned();
        let der = B64.decode(lines.next().unwrap_or("")).map_err(|_| err("malformed key".into()))?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| err("malformed key".into()))?;
        let id = key_id(&name, pair.public_key().as_ref());
        Ok((Self { name, pair, id }, created))
    }

    /// Loads an existing signing key (never creates one).
    pub fn load(path: &Path) -> Result<Self, LedgerError> {
        if !path.exists() {
            return Err(LedgerError::KeyFile { path: path.display().to_string(), why: "does not exist".into() });
        }
        Self::load_or_create(path, "").map(|(s, _)| s)
    }

    /// The key name, which is also the log's origin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signs a checkpoint of this log; returns the signed note.
    pub fn sign(&self, size: u64, root: Hash, time: u64) -> String {
        let body = Checkpoint { origin: self.name.clone(), size, root, time }.body();
        let sig = self.pair.sign(body.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(sig.as_ref());
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }

    /// The verifier key in the C2SP note format.
    pub fn verifier_key(&self) -> String {
        let mut key = vec![ED25519_TYPE];
        key.extend_from_slice(self.pair.public_key().as_ref());
        format!("{}+{}+{}", self.name, to_hex(&self.id), B64.encode(key))
    }
}

/// Verifies checkpoints with a public key alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: [u8; 4],
    public: Vec<u8>,
}

impl Verifier {
    /// Parses `<name>+<key ID hex>+<base64(0x01 ‖ public key)>`.
    pub fn parse(vkey: &str) -> Result<Self, LedgerError> {
        let bad = |why: &str| LedgerError::Malformed { what: "verifier key", why: why.into() };
        // Names cannot contain '+', base64 can: split from the left.
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+hash+key"));
        };
        let key = B64.decode(key).map_err(|_| bad("key is not base64"))?;
        let (Some(&ED25519_TYPE), Some(public)) = (key.first(), key.get(1..)) else {
            return Err(bad("not an Ed25519 key"));
        };
        if public.len() != 32 {
            return Err(bad("Ed25519 keys are 32 bytes"));
        }
        let id = key_id(name, public);
        if to_hex(&id) != hash {
            return Err(bad("key hash does not match the key"));
        }
        Ok(Self { name: name.to_owned(), id, public: public.to_vec() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies a signed checkpoint note and returns what it commits to. Signatures
    /// by other keys are ignored; one by this key must be present and valid, and
    /// the checkpoint's origin must be this key's log.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, LedgerError> {
        let (text, sigs) = note.split_once("\n\n").ok_or_else(|| malformed("no signature block"))?;
        let text = format!("{text}\n");
        let mut verified = false;
        for line in sigs.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(malformed("bad signature line"));
            };
            let (name, sig) = rest.split_once(' ').ok_or_else(|| malformed("bad signature line"))?;
            let sig = B64.decode(sig).map_err(|_| malformed("signature is not base64"))?;
            if name != self.name || sig.len() < 4 || sig[..4] != self.id {
                continue;
            }
            UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(text.as_bytes(), &sig[4..])
                .map_err(|_| LedgerError::BadSignature)?;
            verified = true;
        }
        if !verified {
            return Err(LedgerError::BadSignature);
        }
        let cp = Checkpoint::parse_body(&text)?;
        if cp.origin != self.name {
            return Err(malformed("checkpoint is for another log"));
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_sign_and_verify_and_reject_other_keys_and_edits() {
        let dir = tempfile::tempdir().unwrap();
        let (signer, created) = Signer::load_or_create(&dir.path().join("ledger.key"), "kidvault.test").unwrap();
        assert!(created);
        let (again, created) = Signer::load_or_create(&dir.path().join("ledger.key"), "kidvault.test").unwrap();
        assert!(!created);
        assert_eq!(again.verifier_key(), signer.verifier_key());
        let note = signer.sign(42, [7; 32], 1_800_000_000);
        assert!(note.contains("\n42\n") && note.contains("\n\n\u{2014} kidvault.test/"));
        let v = Verifier::parse(&signer.verifier_key()).unwrap();
        assert_eq!(Verifier::parse(&format!("{}\n", signer.verifier_key())).unwrap(), v);
        // Base64 keys often contain '+', the field separator: parse many keys
        // (a key without '+' is a coin flip; 24 of them all lacking one, ~1e-7).
        let mut with_plus = 0;
        for i in 0..24 {
            let (s, _) = Signer::load_or_create(&dir.path().join(format!("k{i}")), "kidvault.test").unwrap();
            with_plus += usize::from(s.verifier_key().matches('+').count() > 2);
            assert!(Verifier::parse(&s.verifier_key()).unwrap().verify(&s.sign(1, [1; 32], 1)).is_ok());
        }
        assert!(with_plus > 0);
        let cp = v.verify(&note).unwrap();
        assert_eq!((cp.size, cp.root, cp.time), (42, [7; 32], 1_800_000_000));

        let tampered = note.replace("\n42\n", "\n43\n");
        assert!(v.verify(&tampered).is_err());
        let (other, _) = Signer::load_or_create(&dir.path().join("other.key"), "kidvault.test").unwrap();
        let foreign = other.sign(42, [7; 32], 1_800_000_000);
        assert_eq!(v.verify(&foreign), Err(LedgerError::BadSignature));
        // A forged key hash in the verifier key is refused.
        let vk = signer.verifier_key();
        let mut parts: Vec<&str> = vk.split('+').collect();
        parts[1] = "00000000";
        assert!(Verifier::parse(&parts.join("+")).is_err());
    }
}
