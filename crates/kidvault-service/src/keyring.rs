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
//!
//! Every keystore row is sealed once more under the seal chain's current
//! generation (`kidvault_crypto::chain`): a row a backend cannot scrub from its
//! files (PostgreSQL's dead rows and WAL, base backups) stops opening once the
//! chain has stepped past the generation it was sealed under (see
//! [`crate::reseal`]). Rows from before the chain (the root key's framing
//! alone) are read as they are until the first re-seal.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use kidvault_crypto::chain::generation_of;
use kidvault_crypto::{ChildKey, KeyProvider, SealChain, SecretKey};
use kidvault_domain::ids::ChildId;
use kidvault_domain::ids::ItemId;
use kidvault_domain::Timestamp;
use kidvault_store::{ItemKey, KeyRowId, Keystore, Sealed};

use crate::{Result, ServiceError};

const CACHE_LIMIT: usize = 10_000;

/// How many item keys are made (and stored in one keystore write) at a time.
const POOL_REFILL: usize = 32;

#[derive(Debug)]
pub struct KeyRing {
    provider: Arc<dyn KeyProvider>,
    pub(crate) chain: Arc<SealChain>,
    /// The seal chain's generation new rows are sealed under.
    pub(crate) generation: AtomicU32,
    keystore: Arc<dyn Keystore>,
    cache: RwLock<HashMap<(ChildId, u32), ChildKey>>,
    latest: RwLock<HashMap<ChildId, u32>>,
    /// Item ids whose data keys are already durable in the keystore, per child,
    /// with the key (zeroed on drop): ingest takes one and writes only its row.
    pool: std::sync::Mutex<HashMap<ChildId, Vec<Pooled>>>,
}

/// An item id made ahead, and its data key (already in the keystore).
struct Pooled {
    item: ItemId,
    epoch: u32,
    key: SecretKey,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("item", &self.item).finish_non_exhaustive()
    }
}

/// A keystore row's wrapped key, opened from `chain` (rows from before the
/// chain are returned as they are). Public for tests that play an attacker
/// holding a copy of the key directory.
pub fn open_row(chain: &SealChain, row: KeyRowId, stored: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    if generation_of(stored).is_none() {
        return Ok(zeroize::Zeroizing::new(stored.to_vec()));
    }
    Ok(chain.open(&row_context(row), stored)?)
}

/// The associated data a keystore row is sealed with under the seal chain.
pub fn row_context(row: KeyRowId) -> Vec<u8> {
    let mut ctx = Vec::with_capacity(32);
    match row {
        KeyRowId::Child(child, epoch) => {
            ctx.extend_from_slice(b"child-key\0");
            ctx.extend_from_slice(child.as_bytes());
            ctx.extend_from_slice(&epoch.to_be_bytes());
        }
        KeyRowId::Item(item) => {
            ctx.extend_from_slice(b"item-key\0");
            ctx.extend_from_slice(item.as_bytes());
        }
    }
    ctx
}

/// The associated data a child key is wrapped with under the root key.
pub fn root_context(child: ChildId, epoch: u32) -> Vec<u8> {
    let mut ctx = b"kidvault/child-key/v1\0".to_vec();
    ctx.extend_from_slice(child.as_bytes());
    ctx.extend_from_slice(&epoch.to_be_bytes());
    ctx
}

impl KeyRing {
    pub fn new(provider: Arc<dyn KeyProvider>, chain: Arc<SealChain>, keystore: Arc<dyn Keystore>) -> Self {
        Self {
            provider,
            generation: AtomicU32::new(chain.oldest()),
            chain,
            keystore,
            cache: RwLock::default(),
            latest: RwLock::default(),
            pool: Default::default(),
        }
    }

    /// Seals a keystore row's wrapped key under the chain's current generation.
    pub(crate) fn seal_row(&self, row: KeyRowId, inner: &[u8]) -> Result<Vec<u8>> {
        Ok(self.chain.seal(self.generation.load(Ordering::Acquire), &row_context(row), inner)?)
    }

    /// A keystore row's wrapped key, opened from the seal chain (rows from
    /// before the chain are returned as they are).
    pub(crate) fn open_row(&self, row: KeyRowId, stored: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        open_row(&self.chain, row, stored)
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
        let wrapped = self.seal_row(KeyRowId::Child(child, 1), &wrapped)?;
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
    /// The child's current key, or `None` once its keys are destroyed.
    pub async fn current_if_any(&self, child: ChildId) -> Result<Option<ChildKey>> {
        match self.keystore.latest_child_key(child).await? {
            None => Ok(None),
            Some((epoch, wrapped)) => self.unwrap_and_remember(child, epoch, &wrapped).map(Some),
        }
    }

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
        let wrapped = self.open_row(KeyRowId::Child(child, epoch), wrapped)?;
        let key = self.provider.unwrap(&root_context(child, epoch), &wrapped)?;
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
        self.destroy_many(&[child]).await
    }

    /// [`KeyRing::destroy`] for many children in one keystore transaction.
    pub async fn destroy_many(&self, children: &[ChildId]) -> Result<u64> {
        let n = self.keystore.destroy_child_keys(children).await?;
        for child in children {
            self.forget(*child);
        }
        Ok(n)
    }

    /// Seals an item's content under a new data key, wrapped under the child's
    /// current key. Returns the sealed value (its `wrapped_key` empty) and the
    /// data key, which the caller stores with [`KeyRing::put_item_key`] before
    /// the item: an item is never stored without its key.
    pub async fn seal_item(&self, child: ChildId, item: ItemId, plaintext: &[u8]) -> Result<(Sealed, ItemKey)> {
        let key = self.current(child).await?;
        let (wrapped, ciphertext) = key.seal_new(item.as_bytes(), plaintext)?;
        let wrapped = self.seal_row(KeyRowId::Item(item), &wrapped)?;
        let sealed = Sealed { epoch: key.epoch(), wrapped_key: Vec::new(), ciphertext };
        Ok((sealed, ItemKey { item, child, epoch: key.epoch(), wrapped }))
    }

    /// Seals a new item's content under a data key that is already durable in
    /// the keystore, and returns the item's id with it: the item's row can be
    /// written at once, and never exists without its key. Keys are made
    /// [`POOL_REFILL`] at a time, in one keystore write (a crash leaves unused
    /// keys to nothing; a child's deletion destroys them with the rest).
    pub async fn seal_new_item(&self, child: ChildId, now: Timestamp, plaintext: &[u8]) -> Result<(ItemId, Sealed)> {
        let pooled = match self.take_pooled(child) {
            Some(p) => p,
            None => {
                let ck = self.current(child).await?;
                let mut made = Vec::with_capacity(POOL_REFILL);
                let mut keys = Vec::with_capacity(POOL_REFILL);
                for _ in 0..POOL_REFILL {
                    let item = ItemId::generate(now);
                    let key = SecretKey::generate()?;
                    let wrapped = self.seal_row(KeyRowId::Item(item), &ck.wrap(item.as_bytes(), &key)?)?;
                    keys.push(ItemKey { item, child, epoch: ck.epoch(), wrapped });
                    made.push(Pooled { item, epoch: ck.epoch(), key });
                }
                self.keystore.put_item_keys(&keys).await?;
                let first = made.pop().ok_or_else(|| ServiceError::Internal("empty key pool".into()))?;
                if let Ok(mut pool) = self.pool.lock() {
                    if pool.len() >= CACHE_LIMIT {
                        pool.clear();
                    }
                    pool.entry(child).or_default().extend(made);
                }
                first
            }
        };
        let ciphertext = kidvault_crypto::seal(&pooled.key, pooled.item.as_bytes(), plaintext)?;
        Ok((pooled.item, Sealed { epoch: pooled.epoch, wrapped_key: Vec::new(), ciphertext }))
    }

    /// Destroys the keys made ahead and not used (at a clean shutdown): they
    /// open nothing, and would otherwise stay in the keystore. Returns how many.
    pub async fn release_pool(&self) -> Result<u64> {
        let ids: Vec<ItemId> = match self.pool.lock() {
            Ok(mut pool) => pool.drain().flat_map(|(_, made)| made.into_iter().map(|p| p.item)).collect(),
            Err(_) => return Ok(0),
        };
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(self.keystore.destroy_item_keys(&ids).await?)
    }

    fn take_pooled(&self, child: ChildId) -> Option<Pooled> {
        self.pool.lock().ok()?.get_mut(&child)?.pop()
    }

    pub async fn put_item_key(&self, key: ItemKey) -> Result<()> {
        Ok(self.keystore.put_item_keys(&[key]).await?)
    }

    /// Opens sealed content of the child bound to `data_id`: its data key is the
    /// one wrapped beside it (profiles, device names) or, when that is empty, the
    /// item's in the keystore. `NotFound` once that key is destroyed.
    pub async fn open(&self, child: ChildId, data_id: &[u8; 16], sealed: &Sealed) -> Result<Vec<u8>> {
        let (key, wrapped) = self.opener(child, data_id, sealed).await?;
        Ok(key.open_with(data_id, wrapped.as_deref().unwrap_or(&sealed.wrapped_key), &sealed.ciphertext)?)
    }

    /// [`Keyring::open`] without a copy: the content is decrypted where it
    /// lies and returned as a slice of the same buffer.
    pub async fn open_owned(&self, child: ChildId, data_id: &[u8; 16], sealed: Sealed) -> Result<bytes::Bytes> {
        let (key, wrapped) = self.opener(child, data_id, &sealed).await?;
        let wrapped = wrapped.unwrap_or(sealed.wrapped_key);
        let mut buf = sealed.ciphertext;
        let plain = key.open_in_place(data_id, &wrapped, &mut buf)?;
        Ok(bytes::Bytes::from(buf).slice(plain))
    }

    /// The child key that opens `sealed`, and the item's wrapped data key from
    /// the keystore when none is stored beside the content.
    async fn opener(&self, child: ChildId, data_id: &[u8; 16], sealed: &Sealed) -> Result<(ChildKey, Option<Vec<u8>>)> {
        if !sealed.wrapped_key.is_empty() {
            return Ok((self.at_epoch(child, sealed.epoch).await?, None));
        }
        let item = ItemId(uuid::Uuid::from_bytes(*data_id));
        let (epoch, wrapped) = self.keystore.item_key(item).await?.ok_or(ServiceError::NotFound)?;
        let wrapped = self.open_row(KeyRowId::Item(item), &wrapped)?.to_vec();
        Ok((self.at_epoch(child, epoch).await?, Some(wrapped)))
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
            let sealed = keys
                .iter()
                .map(|k| Ok(ItemKey { wrapped: self.seal_row(KeyRowId::Item(k.item), &k.wrapped)?, ..k.clone() }))
                .collect::<Result<Vec<_>>>()?;
            self.keystore.put_item_keys(&sealed).await?;
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
        if let Ok(mut pool) = self.pool.lock() {
            pool.remove(&child);
        }
        if let Ok(mut cache) = self.cache.write() {
            cache.retain(|(c, _), _| *c != child);
        }
        if let Ok(mut latest) = self.latest.write() {
            latest.remove(&child);
        }
    }
}
