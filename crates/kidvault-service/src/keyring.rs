//! The key ring: child keys, created wrapped under the root key, stored in the
//! keystore, and cached unwrapped in memory (zeroed when evicted) so ingest does
//! not unwrap on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kidvault_crypto::{ChildKey, KeyProvider, SecretKey};
use kidvault_domain::ids::ChildId;
use kidvault_domain::Timestamp;
use kidvault_store::Keystore;

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

    /// Destroys every epoch of the child's key: all of its data, in every copy,
    /// becomes unreadable. Returns how many epochs were destroyed.
    pub async fn destroy(&self, child: ChildId) -> Result<u64> {
        let n = self.keystore.destroy_child_keys(child).await?;
        self.forget(child);
        Ok(n)
    }

    /// The newest epoch of the child's key, if any epoch still exists.
    pub async fn latest_epoch(&self, child: ChildId) -> Result<Option<u32>> {
        Ok(self.keystore.latest_child_key(child).await?.map(|(e, _)| e))
    }

    /// Creates the child's key at a new epoch (the newest + 1) and returns it;
    /// `NotFound` if the child has no key any more.
    pub async fn rotate(&self, child: ChildId, now: Timestamp) -> Result<ChildKey> {
        let (latest, _) = self.keystore.latest_child_key(child).await?.ok_or(ServiceError::NotFound)?;
        let epoch = latest + 1;
        let key = SecretKey::generate()?;
        let wrapped = self.provider.wrap(&root_context(child, epoch), &key)?;
        self.keystore.insert_child_key(child, epoch, &wrapped, now).await?;
        let ck = ChildKey::new(key, *child.as_bytes(), epoch);
        self.remember(child, ck.clone());
        Ok(ck)
    }

    /// Destroys the child's key epochs below `epoch`.
    pub async fn destroy_below(&self, child: ChildId, epoch: u32) -> Result<u64> {
        let n = self.keystore.destroy_child_keys_below(child, epoch).await?;
        self.forget(child);
        Ok(n)
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
