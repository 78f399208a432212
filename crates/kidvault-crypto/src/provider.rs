//! Root-key providers. The root key wraps child keys and never leaves the provider.
//! [`FileKeyProvider`] keeps it in a file outside the data directory (mode 0600,
//! created on first run); a KMS-backed provider implements the same trait.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::aead::{open, seal};
use crate::{random_bytes, sha256, CryptoError, SecretKey};

/// Wraps and unwraps child keys under a root key it never reveals.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// A short public fingerprint of the root key (safe to log).
    fn key_id(&self) -> &str;
    fn wrap(&self, context: &[u8], key: &SecretKey) -> Result<Vec<u8>, CryptoError>;
    fn unwrap(&self, context: &[u8], wrapped: &[u8]) -> Result<SecretKey, CryptoError>;
}

const HEADER: &str = "kidvault-root-key v1";

/// A root key held in a local file.
pub struct FileKeyProvider {
    key: SecretKey,
    key_id: String,
    path: PathBuf,
}

impl std::fmt::Debug for FileKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeyProvider")
            .field("key_id", &self.key_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileKeyProvider {
    /// Loads the root key from `path`, creating it (and its directory, mode 0700)
    /// with mode 0600 if absent. Returns whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), CryptoError> {
        let err = |reason: String| CryptoError::KeyFile { path: path.display().to_string(), reason };
        let created = if path.exists() {
            false
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| err(e.to_string()))?;
            }
            let mut raw = zeroize::Zeroizing::new([0u8; 32]);
            random_bytes(raw.as_mut())?;
            let text = zeroize::Zeroizing::new(format!("{HEADER}\n{}\n", hex_encode(raw.as_ref())));
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| err(e.to_string()))?;
            f.write_all(text.as_bytes()).map_err(|e| err(e.to_string()))?;
            f.sync_all().map_err(|e| err(e.to_string()))?;
            true
        };
        let meta = fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(err("is readable by group or others; chmod 600 it".into()));
        }
        let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(err(format!("does not start with {HEADER:?}")));
        }
        let raw = zeroize::Zeroizing::new(
            hex_decode(lines.next().unwrap_or("").trim()).ok_or_else(|| err("malformed key line".into()))?,
        );
        let key = SecretKey::from_bytes(&raw).map_err(|_| err("key must be 32 bytes".into()))?;
        let mut fp = b"kidvault/key-id/v1".to_vec();
        fp.extend_from_slice(key.expose());
        let key_id = hex_encode(&sha256(&fp)[..8]);
        Ok((Self { key, key_id, path: path.to_owned() }, created))
    }
}

impl KeyProvider for FileKeyProvider {
    fn key_id(&self) -> &str {
        &self.key_id
    }
    fn wrap(&self, context: &[u8], key: &SecretKey) -> Result<Vec<u8>, CryptoError> {
        seal(&self.key, context, key.expose())
    }
    fn unwrap(&self, context: &[u8], wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
        let raw = zeroize::Zeroizing::new(open(&self.key, context, wrapped)?);
        SecretKey::from_bytes(&raw)
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_key_is_created_private_and_reloads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/root.key");
        let (p1, created) = FileKeyProvider::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let child = SecretKey::generate().unwrap();
        let wrapped = p1.wrap(b"ctx", &child).unwrap();
        let (p2, created) = FileKeyProvider::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(p1.key_id(), p2.key_id());
        assert_eq!(p2.unwrap(b"ctx", &wrapped).unwrap().expose(), child.expose());
        assert!(p2.unwrap(b"other", &wrapped).is_err());
        assert!(!format!("{p2:?}").contains(&hex_encode(child.expose())));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(FileKeyProvider::load_or_create(&path).is_err());
    }
}
