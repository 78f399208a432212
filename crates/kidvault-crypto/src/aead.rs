//! AES-256-GCM with a random 96-bit nonce, framed as `version ‖ nonce ‖ ciphertext ‖ tag`.
//! Data keys are single-use (one per item), so random nonces never repeat under a key.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::{random_bytes, CryptoError, SecretKey};

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// Bytes a sealed value adds to its plaintext.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

fn cipher(key: &SecretKey) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key.expose()).map(LessSafeKey::new).map_err(|_| CryptoError::Seal)
}

/// Seals `plaintext` under `key`, bound to `aad` (the id of the owner).
pub fn seal(key: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let mut out = Vec::with_capacity(plaintext.len() + SEALED_OVERHEAD);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = cipher(key)?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[1 + NONCE_LEN..])
        .map_err(|_| CryptoError::Seal)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// The nonce of a sealed value, after checking its framing.
fn nonce_of(sealed: &[u8]) -> Result<Nonce, CryptoError> {
    if sealed.len() < SEALED_OVERHEAD || sealed[0] != VERSION {
        return Err(CryptoError::Open);
    }
    Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN]).map_err(|_| CryptoError::Open)
}

/// Opens a value sealed by [`seal`] with the same key and `aad`.
pub fn open(key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce = nonce_of(sealed)?;
    let mut buf = sealed[1 + NONCE_LEN..].to_vec();
    let len = cipher(key)?.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| CryptoError::Open)?.len();
    buf.truncate(len);
    Ok(buf)
}

/// Opens a value sealed by [`seal`] where it lies, without copying it: the
/// plaintext is `sealed[range]` afterwards. Large content (recordings streamed
/// to a training pipeline) is opened this way, one pass over its bytes.
pub fn open_in_place(key: &SecretKey, aad: &[u8], sealed: &mut [u8]) -> Result<std::ops::Range<usize>, CryptoError> {
    let nonce = nonce_of(sealed)?;
    let start = 1 + NONCE_LEN;
    let len =
        cipher(key)?.open_in_place(nonce, Aad::from(aad), &mut sealed[start..]).map_err(|_| CryptoError::Open)?.len();
    Ok(start..start + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seal_open_round_trip(data in proptest::collection::vec(any::<u8>(), 0..2048), id in any::<[u8; 16]>()) {
            let key = SecretKey::generate().unwrap();
            let sealed = seal(&key, &id, &data).unwrap();
            prop_assert_eq!(sealed.len(), data.len() + SEALED_OVERHEAD);
            prop_assert_eq!(&open(&key, &id, &sealed).unwrap(), &data);
            let mut in_place = sealed.clone();
            let range = open_in_place(&key, &id, &mut in_place).unwrap();
            prop_assert_eq!(&in_place[range], &data[..]);
            let mut moved = sealed;
            prop_assert!(open_in_place(&key, b"another item id", &mut moved).is_err());
        }

        /// A ciphertext moved to another item id does not open.
        #[test]
        fn moved_ciphertext_fails(data in proptest::collection::vec(any::<u8>(), 0..256), id in any::<[u8; 16]>(), other in any::<[u8; 16]>()) {
            prop_assume!(id != other);
            let key = SecretKey::generate().unwrap();
            let sealed = seal(&key, &id, &data).unwrap();
            prop_assert!(open(&key, &other, &sealed).is_err());
        }

        #[test]
        fn any_flipped_bit_fails(data in proptest::collection::vec(any::<u8>(), 1..256), pos in any::<usize>(), bit in 0u8..8) {
            let key = SecretKey::generate().unwrap();
            let mut sealed = seal(&key, b"id", &data).unwrap();
            let p = pos % sealed.len();
            sealed[p] ^= 1 << bit;
            prop_assert!(open(&key, b"id", &sealed).is_err());
        }
    }

    #[test]
    fn another_key_fails() {
        let sealed = seal(&SecretKey::generate().unwrap(), b"id", b"hello").unwrap();
        assert!(open(&SecretKey::generate().unwrap(), b"id", &sealed).is_err());
        assert!(open(&SecretKey::generate().unwrap(), b"id", &[]).is_err());
    }
}
