//! # kidvault-crypto
//!
//! The key hierarchy that makes deletion real (crypto-shredding, NIST SP 800-88
//! cryptographic erase):
//!
//! ```text
//! root key (KeyProvider: key file outside the data dir, or a KMS)
//!   └─ wraps each child key, one per (child, epoch)   — kept in the keystore
//!        └─ wraps each item's random data key          — kept in the keystore
//!             └─ seals the item's content, AES-256-GCM, the item id as associated data
//! seal chain (chain::SealChain: a forward-only sequence of keys, beside the root key)
//!   └─ seals every keystore row once more, under its current generation
//! ```
//!
//! Destroying a child key makes every copy of that child's data unreadable, in the
//! primary store, in the blob store and in every backup; destroying one item's
//! data key does the same for one item. Copies of a destroyed key row that a
//! database keeps in files kidvault cannot scrub open with nothing once the seal
//! chain has forgotten the generation they were sealed under.
//!
//! Invariants: key material lives in [`SecretKey`], which zeroes itself on drop and
//! never prints; every sealed value is bound to the id of what it belongs to, so a
//! ciphertext moved to another item does not open.

mod aead;
pub mod chain;
mod keys;
mod provider;
pub mod totp;

pub use aead::{open, open_in_place, seal, SEALED_OVERHEAD};
pub use chain::SealChain;
pub use keys::{ChildKey, SecretKey};
pub use provider::{FileKeyProvider, KeyProvider};

/// Failures of the crypto layer. Deliberately uninformative about *why* an open
/// failed: wrong key, wrong id and tampering look the same.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext could not be opened (wrong key, wrong owner, or altered)")]
    Open,
    #[error("encryption failed")]
    Seal,
    #[error("random number generator failed")]
    Random,
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// Hex SHA-256, for fingerprints and token hashes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Fills `buf` from the system CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Random)
}

/// HMAC-SHA256 of `message` under `key` (webhook signatures).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, message);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `tag` is the HMAC-SHA256 of `message` under `key`, compared in constant time.
pub fn hmac_sha256_verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::verify(&key, message, tag).is_ok()
}

/// Whether two secrets are equal, in time that depends only on their lengths
/// (aws-lc's constant-time comparison).
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod hmac_tests {
    #[test]
    fn hmac_matches_rfc4231_case_2_and_verifies_only_the_right_tag() {
        let tag = super::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(super::hmac_sha256_verify(b"Jefe", b"what do ya want for nothing?", &tag));
        assert!(!super::hmac_sha256_verify(b"Jefe", b"what do ya want for nothing!", &tag));
        assert!(!super::hmac_sha256_verify(b"jefe", b"what do ya want for nothing?", &tag));
    }
}
