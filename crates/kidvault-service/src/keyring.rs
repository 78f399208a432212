//! The key ring: child keys, created wrapped under the root key, stored in the
//! keystore, and cached unwrapped in memory (zeroed when evicted) so ingest does
//! not unwrap on every request; and item data keys, wrapped under their child's
//! key and held only in the keystore.
//!
//! Why item keys live in the keystore and not beside their ciphertext: deleting
//! one item must make it unreadable in every copy of the data store (backups
//! included) while the child's other items stay readable from those copies. With
//! the data key in the keystore, destroying that one row does both: a data backup
//! carries ciphertext and no key; the survivors' keys are still in the keystore.
//! (The first design kept wrapped data keys in the data store and rotated the
//! child key on every item deletion, so a restored data backup lost every
//! survivor.) The child key stays one level up so that deleting a child is one
//! row, effective in every copy at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kidvault_crypto::{ChildKey, KeyProvider, SecretKey};
use kidvault_domain::ids::ChildId;
use kidvault_domain::ids::ItemId;
use kidvault_domain::Timestamp;
use kidvault_store::{ItemKey, Keystore, Sealed};

use crate::{Result, ServiceError};

const CACHE_LIMIT: usize = 10_000;

#[derive(Debug)]
pub struct KeyRing {
    provider: Arc<dyn KeyProvider>,
    keystore: Arc<dyn Keystore>,
    cache: RwLock<HashMap<(ChildId, u32), ChildKey>>,
    latest: RwLock<HashMap<ChildId, u32>>,
}

/// The associated data a child key is wrapped with under the root key.
pub fn root_context(child: ChildId, epoch: u32) -> Vec<u8> {
    let mut ctx = b"kidvault/child-key/v1\0".to_vec();
    ctx.extend_from_slice(child.as_bytes());
    ctx.extend_from_slice(&epoch.to_be_bytes());
    ctx
}

impl KeyRing {
    pub fn new(provider: Arc<dyn KeyProvider>, keystore: Arc<dyn Keystore>) -> Self {
        Self { provider, keystore, cache: RwLock::default(), latest: RwLock::default() }
    }

    /// Wraps a key that is not a child's (a processor's webhook secret) under the
    /// root key, bound to `context`.
    pub fn wrap_other(&self, context: &[u8], key: &SecretKey) -> Result<Vec<u8>> {
        Ok(self.provider.wrap(context, key)?)
    }

    pub fn unwrap_other(&self, context: &[u8], wrapped: &[u8]) -> Result<SecretKey> {
        Ok(self.provider.unwrap(context, wrapped)?)
    }

    /// Creates a child's first key (epoch 1). Done before the child row exists, so
    /// a crash in between leaves an unused key, never a child without one.
    pub async fn create(&self, child: ChildId, now: Timestamp) -> Result<ChildKey> {
        let key = SecretKey::generate()?;
        let wrapped = self.provider.wrap(&root_context(child, 1), &key)?;
        self.keystore.insert_child_key(child, 1, &wrapped, now).await?;
        let ck = ChildKey::new(key, *child.as_bytes(), 1);
        self.remember(child, ck.clone());
        Ok(ck)
    }

    /// The child's key at its newest epoch (what new data is sealed under).
    pub async fn current(&self, child: ChildId) -> Result<ChildKey> {
        let epoch = self.latest.read().ok().and_then(|l| l.get(&child).copied());
        if let Some(epoch) = epoch {
            if let Some(k) = self.cached(child, epoch) {
                return Ok(k);
            }
        }
        let (epoch, wrapped) = self
            .keystore
            .latest_child_key(child)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("child {child} has no key")))?;
        self.unwrap_and_remember(child, epoch, &wrapped)
    }

    /// The child's key at `epoch`; `NotFound` if that epoch was destroyed.
    pub async fn at_epoch(&self, child: ChildId, epoch: u32) -> Result<ChildKey> {
        if let Some(k) = self.cached(child, epoch) {
            return Ok(k);
        }
        let wrapped = self.keystore.child_key(child, epoch).await?.ok_or(ServiceError::NotFound)?;
        self.unwrap_and_remember(child, epoch, &wrapped)
    }

    fn cached(&self, child: ChildId, epoch: u32) -> Option<ChildKey> {
        self.cache.read().ok()?.get(&(child, epoch)).cloned()
    }

    fn unwrap_and_remember(&self, child: ChildId, epoch: u32, wrapped: &[u8]) -> Result<ChildKey> {
        let key = self.provider.unwrap(&root_context(child, epoch), wrapped)?;
        let ck = ChildKey::new(key, *child.as_bytes(), epoch);
        self.remember(child, ck.clone());
        Ok(ck)
    }

    fn remember(&self, child: ChildId, key: ChildKey) {
        let epoch = key.epoch();
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert((child, epoch), key);
        }
        if let Ok(mut latest) = self.latest.write() {
            if latest.len() >= CACHE_LIMIT {
                latest.clear();
            }
            let e = latest.entry(child).or_insert(epoch);
            *e = (*e).max(epoch);
        }
    }

    /// Destroys every epoch of the child's key and its items' data keys: all of
    /// its data, in every copy, becomes unreadable. Returns how many epochs were
    /// destroyed. (Call [`KeyRing::scrub`] before reporting it done.)
    pub async fn destroy(&self, child: ChildId) -> Result<u64> {
        let n = self.keystore.destroy_child_keys(child).await?;
        self.forget(child);
        Ok(n)
    }

    /// Seals an item's content under a new data key, wrapped under the child's
    /// current key. Returns the sealed value (its `wrapped_key` empty) and the
    /// data key, which the caller stores with [`KeyRing::put_item_key`] before
    /// the item: an item is never stored without its key.
    pub async fn seal_item(&self, child: ChildId, item: ItemId, plaintext: &[u8]) -> Result<(Sealed, ItemKey)> {
        let key = self.current(child).await?;
        let (wrapped, ciphertext) = key.seal_new(item.as_bytes(), plaintext)?;
        let sealed = Sealed { epoch: key.epoch(), wrapped_key: Vec::new(), ciphertext };
        Ok((sealed, ItemKey { item, child, epoch: key.epoch(), wrapped }))
    }

    pub async fn put_item_key(&self, key: ItemKey) -> Result<()> {
        Ok(self.keystore.put_item_keys(&[key]).await?)
    }

    /// Opens sealed content of the child bound to `data_id`: its data key is the
    /// one wrapped beside it (profiles, device names) or, when that is empty, the
    /// item's in the keystore. `NotFound` once that key is destroyed.
    pub async fn open(&self, child: ChildId, data_id: &[u8; 16], sealed: &Sealed) -> Result<Vec<u8>> {
        if !sealed.wrapped_key.is_empty() {
            let key = self.at_epoch(child, sealed.epoch).await?;
            return Ok(key.open_with(data_id, &sealed.wrapped_key, &sealed.ciphertext)?);
        }
        let item = ItemId(uuid::Uuid::from_bytes(*data_id));
        let (epoch, wrapped) = self.keystore.item_key(item).await?.ok_or(ServiceError::NotFound)?;
        let key = self.at_epoch(child, epoch).await?;
        Ok(key.open_with(data_id, &wrapped, &sealed.ciphertext)?)
    }

    /// Destroys the items' data keys: each item is unreadable in every copy of
    /// the data store. Returns how many keys existed.
    pub async fn destroy_items(&self, items: &[ItemId]) -> Result<u64> {
        Ok(self.keystore.destroy_item_keys(items).await?)
    }

    /// Makes destroyed keys leave no copy in any file of the keystore.
    pub async fn scrub(&self) -> Result<()> {
        Ok(self.keystore.scrub().await?)
    }

    /// Moves data keys still wrapped in the data store (deployments from before
    /// item keys moved to the keystore; a coarsening cut short) into the
    /// keystore, then blanks them in the data store and scrubs both. Returns how
    /// many moved.
    pub async fn move_legacy_item_keys(&self, store: &dyn kidvault_store::Store) -> Result<u64> {
        let mut moved = 0;
        loop {
            let keys = store.legacy_item_keys(1000).await?;
            if keys.is_empty() {
                break;
            }
            self.keystore.put_item_keys(&keys).await?;
            let cleared = store.clear_legacy_item_keys(&keys).await?;
            if cleared == 0 {
                return Err(ServiceError::Internal("legacy item keys could not be cleared".into()));
            }
            moved += cleared;
        }
        if moved > 0 {
            self.keystore.scrub().await?;
            store.scrub().await?;
        }
        Ok(moved)
    }

    /// The root key's public fingerprint.
    pub fn root_key_id(&self) -> &str {
        self.provider.key_id()
    }

    pub fn keystore(&self) -> &dyn Keystore {
        self.keystore.as_ref()
    }

    /// Drops the child's keys from the cache (they are re-read on next use).
    pub fn forget(&self, child: ChildId) {
        if let Ok(mut cache) = self.cache.write() {
            cache.retain(|(c, _), _| *c != child);
        }
        if let Ok(mut latest) = self.latest.write() {
            latest.remove(&child);
        }
    }
}
