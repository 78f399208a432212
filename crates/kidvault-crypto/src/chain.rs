//! The seal chain: a forward-secure sequence of keys that seals every row of the
//! keystore, so that a destroyed key's remnants (dead rows a database has not
//! reused, WAL segments, archived WAL, base backups) stop opening on a known
//! date, on backends that cannot scrub their own files.
//!
//! Generation `g + 1`'s key is `HMAC-SHA256(K_g, "kidvault/seal-chain/next/v1")`:
//! anyone holding `K_g` can step forward, nobody can step back. A node's chain
//! file holds only the oldest generation it still needs; forgetting generations
//! overwrites that file in place (same length, then synced), so the older keys
//! exist nowhere. Every node of a deployment starts from a copy of the same file
//! and steps forward on its own as the keystore's generations advance.
//!
//! A sealed row is `'S' ‖ generation (u32, big-endian) ‖ AES-256-GCM(K_g)`, the
//! generation and the row's own context bound as associated data.

use std::fs;
use std::io::{Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::aead::{open, seal};
use crate::{hmac_sha256, CryptoError, SecretKey};

const HEADER: &str = "kidvault-seal-chain v1";
const MARK: u8 = b'S';
/// How many bytes a sealed row's prefix takes (mark and generation).
pub const CHAIN_PREFIX_LEN: usize = 5;

/// The seal chain of one node, loaded from its file.
pub struct SealChain {
    path: PathBuf,
    /// The oldest generation held and the keys from it on (index 0 = oldest),
    /// derived as far as they have been used.
    state: Mutex<ChainKeys>,
}

struct ChainKeys {
    oldest: u32,
    keys: Vec<SecretKey>,
}

impl std::fmt::Debug for SealChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealChain").field("path", &self.path).field("oldest", &self.oldest()).finish_non_exhaustive()
    }
}

fn next(key: &SecretKey) -> SecretKey {
    let raw = Zeroizing::new(hmac_sha256(key.expose(), b"kidvault/seal-chain/next/v1"));
    SecretKey::from_bytes(raw.as_ref()).unwrap_or_else(|_| unreachable!("HMAC-SHA256 is 32 bytes"))
}

fn file_text(generation: u32, key: &SecretKey) -> Zeroizing<String> {
    Zeroizing::new(format!("{HEADER}\n{generation:010}\n{}\n", hex(key.expose())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl SealChain {
    /// Loads the chain from `path`; `None` when there is no file.
    pub fn load(path: &Path) -> Result<Option<Self>, CryptoError> {
        let err = |reason: String| CryptoError::KeyFile { path: path.display().to_string(), reason };
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e.to_string())),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(err("is readable by group or others; chmod 600 it".into()));
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(err(format!("does not start with {HEADER:?}")));
        }
        let oldest: u32 =
            lines.next().unwrap_or("").trim().parse().map_err(|_| err("malformed generation line".into()))?;
        let raw = Zeroizing::new(unhex(lines.next().unwrap_or("").trim()).ok_or_else(|| err("malformed key".into()))?);
        let key = SecretKey::from_bytes(&raw).map_err(|_| err("key must be 32 bytes".into()))?;
        Ok(Some(Self { path: path.to_owned(), state: Mutex::new(ChainKeys { oldest, keys: vec![key] }) }))
    }

    /// Creates a new chain at generation 0 in `path` (mode 0600), which must not exist.
    pub fn create(path: &Path) -> Result<Self, CryptoError> {
        let err = |reason: String| CryptoError::KeyFile { path: path.display().to_string(), reason };
        let key = SecretKey::generate()?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| err(e.to_string()))?;
        f.write_all(file_text(0, &key).as_bytes()).map_err(|e| err(e.to_string()))?;
        f.sync_all().map_err(|e| err(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| err(e.to_string()))?;
        }
        Ok(Self { path: path.to_owned(), state: Mutex::new(ChainKeys { oldest: 0, keys: vec![key] }) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The oldest generation this chain can open.
    pub fn oldest(&self) -> u32 {
        self.state.lock().map(|s| s.oldest).unwrap_or(u32::MAX)
    }

    /// Runs `f` with generation `generation`'s key; `Open` if it is older than the chain.
    fn with_key<T>(&self, generation: u32, f: impl FnOnce(&SecretKey) -> T) -> Result<T, CryptoError> {
        let mut s = self.state.lock().map_err(|_| CryptoError::Open)?;
        let index = generation.checked_sub(s.oldest).ok_or(CryptoError::Open)? as usize;
        if index > 100_000 {
            return Err(CryptoError::Open);
        }
        while s.keys.len() <= index {
            let k = next(s.keys.last().ok_or(CryptoError::Open)?);
            s.keys.push(k);
        }
        Ok(f(&s.keys[index]))
    }

    /// A public fingerprint of generation `generation`'s key: nodes and the
    /// keystore compare them to tell that they hold the same chain.
    pub fn fingerprint(&self, generation: u32) -> Result<String, CryptoError> {
        self.with_key(generation, |k| hex(&hmac_sha256(k.expose(), b"kidvault/seal-chain/id/v1")[..16]))
    }

    fn aad(context: &[u8], generation: u32) -> Vec<u8> {
        let mut aad = b"kidvault/seal-chain/row/v1\0".to_vec();
        aad.extend_from_slice(&generation.to_be_bytes());
        aad.extend_from_slice(context);
        aad
    }

    /// Seals `plaintext` (a keystore row's wrapped key) under generation `generation`.
    pub fn seal(&self, generation: u32, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let body = self.with_key(generation, |k| seal(k, &Self::aad(context, generation), plaintext))??;
        let mut out = Vec::with_capacity(CHAIN_PREFIX_LEN + body.len());
        out.push(MARK);
        out.extend_from_slice(&generation.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a row sealed by [`SealChain::seal`] with the same context.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let generation = generation_of(sealed).ok_or(CryptoError::Open)?;
        let body = &sealed[CHAIN_PREFIX_LEN..];
        Ok(Zeroizing::new(self.with_key(generation, |k| open(k, &Self::aad(context, generation), body))??))
    }

    /// Forgets every generation before `generation`: the file is overwritten in
    /// place with `generation`'s key and synced before this returns, and the
    /// older keys are zeroed in memory. Rows sealed under them open nowhere.
    pub fn forget_before(&self, generation: u32) -> Result<(), CryptoError> {
        let err = |reason: String| CryptoError::KeyFile { path: self.path.display().to_string(), reason };
        let mut s = self.state.lock().map_err(|_| CryptoError::Open)?;
        if generation <= s.oldest {
            return Ok(());
        }
        let index = (generation - s.oldest) as usize;
        while s.keys.len() <= index {
            let k = next(s.keys.last().ok_or(CryptoError::Open)?);
            s.keys.push(k);
        }
        let text = file_text(generation, &s.keys[index]);
        let mut f = fs::OpenOptions::new().write(true).open(&self.path).map_err(|e| err(e.to_string()))?;
        f.rewind().map_err(|e| err(e.to_string()))?;
        f.write_all(text.as_bytes()).map_err(|e| err(e.to_string()))?;
        f.set_len(text.len() as u64).map_err(|e| err(e.to_string()))?;
        f.sync_all().map_err(|e| err(e.to_string()))?;
        s.keys.drain(..index);
        s.oldest = generation;
        Ok(())
    }
}

/// The generation a row was sealed under, or `None` when it is not a
/// seal-chain row (rows from before the chain: the root key's framing alone).
pub fn generation_of(sealed: &[u8]) -> Option<u32> {
    if sealed.len() <= CHAIN_PREFIX_LEN || sealed[0] != MARK {
        return None;
    }
    Some(u32::from_be_bytes(sealed[1..CHAIN_PREFIX_LEN].try_into().ok()?))
}

/// The prefix every row sealed under `generation` starts with; rows that
/// compare below it (bytewise) are sealed under an older generation or none.
pub fn prefix_of(generation: u32) -> [u8; CHAIN_PREFIX_LEN] {
    let mut p = [MARK, 0, 0, 0, 0];
    p[1..].copy_from_slice(&generation.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_generation_opens_nothing_and_leaves_no_copy_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seal-chain.key");
        let chain = SealChain::create(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let old = chain.seal(0, b"row-1", b"wrapped key one").unwrap();
        let newer = chain.seal(2, b"row-2", b"wrapped key two").unwrap();
        assert_eq!(generation_of(&old), Some(0));
        assert_eq!(generation_of(&newer), Some(2));
        assert!(prefix_of(0).as_slice() <= &old[..5] && &old[..5] < prefix_of(1).as_slice());
        assert_eq!(chain.open(b"row-1", &old).unwrap().as_slice(), b"wrapped key one");
        assert!(chain.open(b"row-2", &old).is_err(), "bound to its row");
        let before = fs::read_to_string(&path).unwrap();
        let fp2 = chain.fingerprint(2).unwrap();

        // A second node from a copy of the file steps forward on its own.
        let copy = dir.path().join("copy.key");
        fs::copy(&path, &copy).unwrap();
        let other = SealChain::load(&copy).unwrap().unwrap();
        assert_eq!(other.fingerprint(2).unwrap(), fp2);

        chain.forget_before(1).unwrap();
        assert_eq!(chain.oldest(), 1);
        assert!(chain.open(b"row-1", &old).is_err(), "generation 0 is gone");
        assert_eq!(chain.open(b"row-2", &newer).unwrap().as_slice(), b"wrapped key two");
        let after = fs::read_to_string(&path).unwrap();
        assert_eq!(after.len(), before.len(), "overwritten in place");
        let old_key_line = before.lines().nth(2).unwrap();
        assert!(!after.contains(old_key_line));
        let reloaded = SealChain::load(&path).unwrap().unwrap();
        assert_eq!(reloaded.oldest(), 1);
        assert!(reloaded.open(b"row-1", &old).is_err());
        assert_eq!(reloaded.fingerprint(2).unwrap(), fp2);
        // The old copy still opens generation 0: why every node must step forward.
        assert!(other.open(b"row-1", &old).is_ok());
    }

    #[test]
    fn a_damaged_or_exposed_chain_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seal-chain.key");
        assert!(SealChain::load(&path).unwrap().is_none());
        SealChain::create(&path).unwrap();
        assert!(SealChain::create(&path).is_err(), "never replaced");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(SealChain::load(&path).is_err());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "kidvault-seal-chain v1\nx\n").unwrap();
        assert!(SealChain::load(&path).is_err());
    }
}
