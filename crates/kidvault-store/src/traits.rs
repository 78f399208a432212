//! The storage traits. Semantics are the backends' contract; the
//! [`crate::conformance`] suite checks them.

use async_trait::async_trait;
use bytes::Bytes;
use kidvault_domain::consent::{Consent, ConsentScope};
use kidvault_domain::ids::{ChildId, DeviceId, GuardianId, HouseholdId, ItemId};
use kidvault_domain::Timestamp;
use uuid::Uuid;

use crate::model::*;
use crate::Result;

/// The data store. Every method is one atomic transaction.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Liveness check for `/healthz`.
    async fn ping(&self) -> Result<()>;

    /// Creates a household and its first guardian. `Conflict` if the e-mail is taken.
    async fn create_household(
        &self,
        household: HouseholdId,
        guardian: &GuardianRecord,
    ) -> Result<()>;
    async fn guardian_by_email(&self, email: &str) -> Result<Option<GuardianRecord>>;

    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>>;

    async fn create_child(&self, child: &ChildRecord) -> Result<()>;
    async fn child(&self, id: ChildId) -> Result<Option<ChildRecord>>;
    /// The household's children, oldest first.
    async fn children_of(&self, household: HouseholdId) -> Result<Vec<ChildRecord>>;

    /// Records a consent and makes its child `active`.
    async fn record_consent(&self, consent: &Consent) -> Result<()>;
    /// The child's consents, oldest first, each with its scopes.
    async fn consents_of(&self, child: ChildId) -> Result<Vec<Consent>>;
    /// Withdraws `scope` from every consent of the child that still grants it;
    /// returns how many grants were withdrawn.
    async fn withdraw_scope(
        &self,
        child: ChildId,
        scope: ConsentScope,
        at: Timestamp,
    ) -> Result<u64>;

    async fn create_device(&self, device: &DeviceRecord) -> Result<()>;
    async fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>>;
    /// Marks a device revoked; false if it was already revoked or does not exist.
    async fn revoke_device(&self, id: DeviceId, at: Timestamp) -> Result<bool>;
    /// The device holding this token (revoked or not), its child and the child's
    /// consents, in one read.
    async fn ingest_context(&self, token_hash: &[u8; 32]) -> Result<Option<IngestContext>>;

    /// Inserts an item and its lineage edges and marks the child active at the
    /// item's `received_at` (to the minute: an earlier mark less than a minute old
    /// is kept). The sources are checked with
    /// [`kidvault_domain::lineage::check_derivation`] inside the same transaction,
    /// so an item is never derived from a source deleted concurrently.
    async fn insert_item(&self, item: &ItemRecord) -> Result<()>;
    async fn item(&self, id: ItemId) -> Result<Option<ItemRecord>>;
    /// A page of the child's live items (metadata only), newest first by
    /// `(recorded_at, id)`.
    async fn list_items(
        &self,
        child: ChildId,
        filter: &ItemFilter,
    ) -> Result<Vec<kidvault_domain::item::ItemMeta>>;
    /// Items derived directly from `id`.
    async fn derived_from(&self, id: ItemId) -> Result<Vec<ItemId>>;

    async fn record_access(&self, record: &AccessRecord) -> Result<()>;
    /// The access log of one child, oldest first.
    async fn access_log(&self, child: ChildId) -> Result<Vec<AccessRecord>>;

    /// Removes a guardian's session (sign-out).
    async fn revoke_session(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<()>;
    /// Used by tests of the guardian-facing API.
    async fn guardian_ids(&self, household: HouseholdId) -> Result<Vec<GuardianId>>;
}

/// Wrapped child keys, kept apart from the data store.
#[async_trait]
pub trait Keystore: Send + Sync + std::fmt::Debug {
    /// Stores a child key at a new epoch. `Conflict` if that epoch exists.
    async fn insert_child_key(
        &self,
        child: ChildId,
        epoch: u32,
        wrapped: &[u8],
        at: Timestamp,
    ) -> Result<()>;
    async fn child_key(&self, child: ChildId, epoch: u32) -> Result<Option<Vec<u8>>>;
    /// The newest epoch of the child's key.
    async fn latest_child_key(&self, child: ChildId) -> Result<Option<(u32, Vec<u8>)>>;
    /// Destroys every epoch of the child's key (crypto-shredding). Returns how many.
    async fn destroy_child_keys(&self, child: ChildId) -> Result<u64>;
}

/// Ciphertext blobs. `put` returns only once the blob is durable.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    async fn put(&self, id: Uuid, ciphertext: Bytes) -> Result<BlobLocator>;
    async fn get(&self, locator: &BlobLocator) -> Result<Bytes>;
    /// Removes the blob's bytes (overwritten in place, then synced).
    async fn delete(&self, locator: &BlobLocator) -> Result<()>;
}
