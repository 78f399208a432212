//! Key material: [`SecretKey`] (32 bytes, zeroed on drop, never printed) and
//! [`ChildKey`] (a child's key at one epoch, which wraps that child's data keys).

use zeroize::Zeroizing;

use crate::aead::{open, seal};
use crate::{random_bytes, CryptoError};

/// 256 bits of key material.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        random_bytes(k.as_mut())?;
        Ok(Self(k))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open)?;
        Ok(Self(Zeroizing::new(arr)))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_ref()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// One child's key at one epoch. Data keys are wrapped under it with the data's
/// owner id and the epoch as associated data, so a wrapped key cannot be replayed
/// against another item or another epoch.
#[derive(Clone, Debug)]
pub struct ChildKey {
    key: SecretKey,
    owner: [u8; 16],
    epoch: u32,
}

impl ChildKey {
    pub fn new(key: SecretKey, owner: [u8; 16], epoch: u32) -> Self {
        Self { key, owner, epoch }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    fn aad(&self, data_id: &[u8; 16]) -> [u8; 52] {
        let mut aad = [0u8; 52];
        aad[..16].copy_from_slice(b"kidvault/dek/v1\0");
        aad[16..32].copy_from_slice(&self.owner);
        aad[32..48].copy_from_slice(data_id);
        aad[48..].copy_from_slice(&self.epoch.to_be_bytes());
        aad
    }

    /// Wraps a data key that belongs to `data_id` (an item, or the child's profile).
    pub fn wrap(&self, data_id: &[u8; 16], data_key: &SecretKey) -> Result<Vec<u8>, CryptoError> {
        seal(&self.key, &self.aad(data_id), data_key.expose())
    }

    pub fn unwrap(&self, data_id: &[u8; 16], wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
        let raw = Zeroizing::new(open(&self.key, &self.aad(data_id), wrapped)?);
        SecretKey::from_bytes(&raw)
    }

    /// Generates a fresh data key, seals `plaintext` under it bound to `data_id`, and
    /// returns `(wrapped data key, ciphertext)`.
    pub fn seal_new(&self, data_id: &[u8; 16], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let dek = SecretKey::generate()?;
        let ciphertext = seal(&dek, data_id, plaintext)?;
        Ok((self.wrap(data_id, &dek)?, ciphertext))
    }

    /// Opens what [`ChildKey::seal_new`] produced.
    pub fn open_with(&self, data_id: &[u8; 16], wrapped: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let dek = self.unwrap(data_id, wrapped)?;
        open(&dek, data_id, ciphertext)
    }

    /// [`ChildKey::open_with`] where the ciphertext lies: the plaintext is
    /// `ciphertext[range]` afterwards.
    pub fn open_in_place(
        &self,
        data_id: &[u8; 16],
        wrapped: &[u8],
        ciphertext: &mut [u8],
    ) -> Result<std::ops::Range<usize>, CryptoError> {
        let dek = self.unwrap(data_id, wrapped)?;
        crate::aead::open_in_place(&dek, data_id, ciphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sealed_under_one_epoch_does_not_open_under_another() {
        let key = SecretKey::generate().unwrap();
        let e1 = ChildKey::new(key.clone(), [1; 16], 1);
        let e2 = ChildKey::new(key, [1; 16], 2);
        let (wrapped, ct) = e1.seal_new(&[9; 16], b"transcript").unwrap();
        assert_eq!(e1.open_with(&[9; 16], &wrapped, &ct).unwrap(), b"transcript");
        assert!(e2.open_with(&[9; 16], &wrapped, &ct).is_err());
        assert!(e1.open_with(&[8; 16], &wrapped, &ct).is_err());
        let other_child = ChildKey::new(SecretKey::generate().unwrap(), [1; 16], 1);
        assert!(other_child.open_with(&[9; 16], &wrapped, &ct).is_err());
        assert_eq!(format!("{:?}", SecretKey::generate().unwrap()), "SecretKey(<redacted>)");
    }
}
