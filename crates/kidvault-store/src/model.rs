//! Records as the store holds them. Anything that is child data (a child's name,
//! a device's name, item content) appears here only as [`Sealed`] ciphertext.

use kidvault_domain::entities::{Child, Device, Guardian};
use kidvault_domain::ids::{ChildId, GuardianId, HouseholdId, ItemId};
use kidvault_domain::item::ItemMeta;
use kidvault_domain::Timestamp;

/// A value sealed under a data key that is itself wrapped by the child key of
/// epoch `epoch`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub epoch: u32,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed(epoch {}, {} bytes)", self.epoch, self.ciphertext.len())
    }
}

/// Where a blob lives; opaque outside the blob store that issued it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobLocator(pub String);

/// Where an item's ciphertext lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredContent {
    /// Small content, sealed, in the item row.
    Inline(Vec<u8>),
    /// Large content, sealed, in the blob store.
    Blob(BlobLocator),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildRecord {
    pub child: Child,
    /// The sealed [`kidvault_domain::entities::ChildProfile`] (JSON).
    pub profile: Sealed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device: Device,
    /// The device's name, sealed under its child's key.
    pub name: Sealed,
    pub token_hash: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardianRecord {
    pub guardian: Guardian,
    pub password_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: [u8; 32],
    pub guardian_id: GuardianId,
    pub household_id: HouseholdId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Which browser or app it is ("Chrome on Android"), when known.
    pub label: Option<String>,
}

/// An item: metadata, its wrapped data key and where its ciphertext is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRecord {
    pub meta: ItemMeta,
    pub key_epoch: u32,
    /// Empty: the data key is in the keystore ([`ItemKey`]), as for every item
    /// since data keys moved there. Non-empty only until that move.
    pub wrapped_key: Vec<u8>,
    pub content: StoredContent,
}

/// An item's data key, wrapped under its child's key at `epoch`, as the
/// keystore holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemKey {
    pub item: ItemId,
    pub child: ChildId,
    pub epoch: u32,
    pub wrapped: Vec<u8>,
}

/// Everything a device request needs, read in one go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestContext {
    pub device: DeviceRecord,
    pub child: ChildRecord,
    pub consents: Vec<kidvault_domain::consent::Consent>,
}

/// A ledger entry as stored: its place and canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: u64,
    pub kind: kidvault_ledger::entry::EntryKind,
    pub household: Option<String>,
    pub child: Option<String>,
    /// The canonical entry bytes (the Merkle leaf input).
    pub body: Vec<u8>,
}

/// Which of a child's items to list, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemFilter {
    pub kind: Option<kidvault_domain::item::ItemKind>,
    /// Inclusive lower bound on `recorded_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `recorded_at`.
    pub to: Option<Timestamp>,
    /// Continue after this (recorded_at, id): the last item of the previous page.
    pub after: Option<(Timestamp, ItemId)>,
    /// Or the page just newer than this (recorded_at, id): the first item of
    /// the page after it (the page is still returned newest first).
    pub before: Option<(Timestamp, ItemId)>,
    /// Only what this device sent.
    pub device: Option<kidvault_domain::ids::DeviceId>,
    pub limit: u32,
}

/// A deletion request and how far it has got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionRecord {
    pub id: kidvault_domain::ids::DeletionId,
    pub household_id: HouseholdId,
    pub child_id: ChildId,
    pub requested_by: String,
    pub reason: kidvault_domain::deletion::DeletionReason,
    pub scope: kidvault_domain::deletion::DeletionScope,
    pub step: kidvault_domain::deletion::DeletionStep,
    pub requested_at: Timestamp,
    pub updated_at: Timestamp,
    /// For item deletions: the child-key epoch the survivors are re-wrapped to.
    pub rotation_epoch: Option<u32>,
    /// The receipt body (JSON), once complete.
    pub summary: Option<String>,
    /// The `deletion.completed` ledger entry, once complete.
    pub ledger_index: Option<u64>,
}

impl DeletionRecord {
    /// A deletion as it is first recorded (step `requested`).
    pub fn requested(
        child_id: ChildId,
        household_id: HouseholdId,
        requested_by: String,
        reason: kidvault_domain::deletion::DeletionReason,
        scope: kidvault_domain::deletion::DeletionScope,
        now: Timestamp,
    ) -> Self {
        DeletionRecord {
            id: kidvault_domain::ids::DeletionId::generate(now),
            household_id,
            child_id,
            requested_by,
            reason,
            scope,
            step: kidvault_domain::deletion::DeletionStep::Requested,
            requested_at: now,
            updated_at: now,
            rotation_epoch: None,
            summary: None,
            ledger_index: None,
        }
    }
}

/// One item a deletion covers (kept after the purge as proof: ids, kind, category).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionItem {
    pub item_id: ItemId,
    pub kind: kidvault_domain::item::ItemKind,
    pub category: kidvault_domain::item::DataCategory,
    pub blob: Option<BlobLocator>,
}

/// Something sealed under a child's key, whose data key is wrapped by an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTarget {
    Item(ItemId),
    Profile,
    Device(kidvault_domain::ids::DeviceId),
}

impl KeyTarget {
    /// The id the data key is bound to (associated data when wrapping).
    pub fn owner_bytes(&self, child: ChildId) -> [u8; 16] {
        match self {
            KeyTarget::Item(i) => *i.as_bytes(),
            KeyTarget::Profile => *child.as_bytes(),
            KeyTarget::Device(d) => *d.as_bytes(),
        }
    }
}

/// A staff account.
#[derive(Clone, Debug)]
pub struct StaffRecord {
    pub id: kidvault_domain::ids::StaffId,
    pub role: kidvault_domain::staff::StaffRole,
    pub name: String,
    /// SHA-256 of the sign-in key (the first factor).
    pub token_hash: [u8; 32],
    /// The TOTP secret (the second factor), wrapped by the root key.
    pub totp_wrapped: Vec<u8>,
    /// The last TOTP step used: no code works twice.
    pub last_step: Option<i64>,
    pub created_at: Timestamp,
    /// Set when the account was disabled: no sign-in, no session.
    pub disabled_at: Option<Timestamp>,
}

/// A staff sign-in: a short-lived bearer session.
#[derive(Clone, Debug)]
pub struct StaffSessionRecord {
    pub token_hash: [u8; 32],
    pub staff_id: kidvault_domain::ids::StaffId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A guardian's permission for support to see one child's data, until a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportGrant {
    pub id: kidvault_domain::ids::SupportGrantId,
    pub child_id: ChildId,
    pub guardian_id: kidvault_domain::ids::GuardianId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl SupportGrant {
    pub fn active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A break-glass access and the privacy officer's review of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessReview {
    pub id: kidvault_domain::ids::ReviewId,
    pub staff_id: kidvault_domain::ids::StaffId,
    pub role: kidvault_domain::staff::StaffRole,
    pub child_id: ChildId,
    pub action: String,
    pub purpose: String,
    pub ticket: String,
    /// What the staff member wrote, sealed under the child's key (its data key
    /// wrapped beside it, bound to the review's id); `None` once the child's
    /// data is deleted.
    pub justification: Option<Sealed>,
    /// The ledger entry that records the access.
    pub ledger_index: u64,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    pub decided_by: Option<kidvault_domain::ids::StaffId>,
    /// `justified` or `not_justified`.
    pub decision: Option<String>,
    pub note: Option<String>,
}

/// A staff request the access policy refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessDenial {
    pub id: kidvault_domain::ids::DenialId,
    pub staff_id: kidvault_domain::ids::StaffId,
    pub role: kidvault_domain::staff::StaffRole,
    pub child_id: Option<ChildId>,
    pub action: String,
    pub purpose: Option<String>,
    pub ticket: String,
    pub code: String,
    pub at: Timestamp,
}

/// A downstream processor.
#[derive(Clone, Debug)]
pub struct ProcessorRecord {
    pub id: kidvault_domain::ids::ProcessorId,
    pub name: String,
    pub url: String,
    /// Why it receives children's data; decides which consent it needs.
    pub purpose: kidvault_domain::disclosure::Purpose,
    pub categories: Vec<kidvault_domain::item::DataCategory>,
    /// The webhook secret, wrapped by the root key.
    pub secret_wrapped: Vec<u8>,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
}

/// A request to one processor to delete what it holds of a child: its part of a
/// deletion (`deletion_id` set), or a recall of what it received for a purpose
/// the parent withdrew (`deletion_id` empty).
#[derive(Clone, Debug)]
pub struct TaskRecord {
    pub id: kidvault_domain::ids::TaskId,
    pub deletion_id: Option<kidvault_domain::ids::DeletionId>,
    pub child_id: ChildId,
    pub processor_id: kidvault_domain::ids::ProcessorId,
    /// Read with the task (not stored on it).
    pub processor_name: String,
    pub state: kidvault_domain::downstream::TaskState,
    /// The webhook body (JSON: ids, categories, counts; never content).
    pub payload: String,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub deadline: Timestamp,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub acknowledged_at: Option<Timestamp>,
    /// `response` (in the webhook's reply) or `endpoint` (the ack endpoint).
    pub acknowledged_via: Option<String>,
    pub last_error: Option<String>,
}

impl TaskRecord {
    /// A new task, due at once: a deletion's part (`deletion` set) or a recall.
    pub fn pending(
        id: kidvault_domain::ids::TaskId,
        deletion: Option<kidvault_domain::ids::DeletionId>,
        child: ChildId,
        processor: &ProcessorRecord,
        payload: String,
        now: Timestamp,
        deadline: Timestamp,
    ) -> Self {
        Self {
            id,
            deletion_id: deletion,
            child_id: child,
            processor_id: processor.id,
            processor_name: processor.name.clone(),
            state: kidvault_domain::downstream::TaskState::Pending,
            payload,
            attempts: 0,
            next_attempt_at: Some(now),
            deadline,
            created_at: now,
            delivered_at: None,
            acknowledged_at: None,
            acknowledged_via: None,
            last_error: None,
        }
    }

    /// Unacknowledged past its deadline.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.state != kidvault_domain::downstream::TaskState::Acknowledged && now > self.deadline
    }
}

/// How a delivery attempt ended.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// The processor acknowledged in its response.
    Acknowledged,
    /// Accepted; the processor will acknowledge through the ack endpoint.
    Delivered,
    /// Failed (network, timeout, non-2xx): try again at `retry_at`.
    Failed { error: String, retry_at: Timestamp },
}

/// One notice to one guardian in the outbox.
#[derive(Clone, Debug)]
pub struct NoticeRecord {
    pub id: kidvault_domain::ids::NoticeId,
    pub household_id: kidvault_domain::ids::HouseholdId,
    pub guardian_id: kidvault_domain::ids::GuardianId,
    /// The guardian's address when the notice was written.
    pub email: String,
    pub kind: kidvault_domain::notice::NoticeKind,
    pub subject: String,
    pub body: String,
    pub created_at: Timestamp,
    pub attempts: u32,
    /// When the worker next tries; `None` once delivered. Claiming moves it past
    /// a lease, so a worker that dies mid-delivery leaves the notice due again.
    pub next_attempt_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    /// `mailbox` (the portal's) or `smtp`.
    pub delivered_via: Option<String>,
    pub last_error: Option<String>,
}

/// How an attempt to deliver a notice ended.
#[derive(Clone, Debug)]
pub enum NoticeDelivery {
    Delivered { via: String },
    Failed { error: String, retry_at: Timestamp },
}

/// An invitation to join a household as another guardian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteRecord {
    pub token_hash: [u8; 32],
    pub household_id: HouseholdId,
    pub invited_by: kidvault_domain::ids::GuardianId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A sign-up waiting for the link e-mailed to its address: the account it
/// will create (password already hashed) and the hash of the link's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignUp {
    pub token_hash: [u8; 32],
    pub household_id: kidvault_domain::ids::HouseholdId,
    pub record: GuardianRecord,
    pub expires_at: Timestamp,
}

/// A device's request to be paired (RFC 8628): hashes of its device code and
/// of the token it will receive, and the short code a guardian enters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCodeRecord {
    pub code_hash: [u8; 32],
    pub user_code: String,
    pub token_hash: [u8; 32],
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a guardian's approval of a user code did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceApproval {
    /// The device row exists now, with the token the device will collect.
    Approved,
    Unknown,
    Expired,
    /// Someone approved this code already: nothing more was created.
    AlreadyApproved,
}

/// What a device's poll found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicePoll {
    Unknown,
    Expired,
    Pending,
    /// Polled sooner than the interval allows.
    SlowDown,
    /// Approved: the device collects its token now (once).
    Approved {
        device: kidvault_domain::ids::DeviceId,
    },
    /// The token was collected already.
    Claimed,
}

/// What accepting an invitation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteOutcome {
    Accepted { household: HouseholdId },
    Unknown,
    Used,
    Expired,
    HouseholdClosing,
}

/// An e-mail-plus consent waiting for its confirmation link to be followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingConsent {
    pub token_hash: [u8; 32],
    pub household_id: HouseholdId,
    /// As it will be recorded (its `granted_at` becomes the confirmation time).
    pub consent: kidvault_domain::consent::Consent,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What following a confirmation link did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Confirmed(kidvault_domain::consent::Consent),
    /// Unknown, another guardian's, or its child is gone.
    Unknown,
    Used,
    Expired,
}

/// A guardian's TOTP second factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpRecord {
    /// The secret, wrapped by the root key.
    pub secret_wrapped: Vec<u8>,
    /// `None` while enrolment waits for the first code.
    pub enabled_at: Option<Timestamp>,
    pub last_step: Option<i64>,
}

/// A child's standing under the dormancy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildRetention {
    pub created_at: Timestamp,
    /// The child's last use of a device (`None`: never).
    pub last_active_at: Option<Timestamp>,
    pub dormant_at: Option<Timestamp>,
    /// When a dormant profile will be deleted.
    pub deletion_at: Option<Timestamp>,
    pub reminded_at: Option<Timestamp>,
    /// A guardian chose to keep the profile even when dormant.
    pub kept_at: Option<Timestamp>,
}

/// One item sent to one processor, and the consent it was sent under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disclosure {
    pub processor_id: kidvault_domain::ids::ProcessorId,
    pub item_id: kidvault_domain::ids::ItemId,
    pub child_id: ChildId,
    pub category: kidvault_domain::item::DataCategory,
    pub consent_id: kidvault_domain::ids::ConsentId,
    pub disclosed_at: Timestamp,
}

/// What one processor received of one child in one category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosureSummary {
    pub processor_id: kidvault_domain::ids::ProcessorId,
    pub processor_name: String,
    pub purpose: kidvault_domain::disclosure::Purpose,
    pub category: kidvault_domain::item::DataCategory,
    pub items: u64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// Of these, how many a recall task has asked the processor to delete.
    pub recalled: u64,
}

/// Disclosures to recall: what one processor received of one child for a
/// purpose the parent has since withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recall {
    pub processor_id: kidvault_domain::ids::ProcessorId,
    pub child_id: ChildId,
    pub items: Vec<kidvault_domain::ids::ItemId>,
    pub categories: Vec<kidvault_domain::item::DataCategory>,
}

/// A dataset to snapshot: every item the training processor may receive now,
/// of these kinds and recording times, assigned to `shards` shards by child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDataset {
    pub id: kidvault_domain::ids::DatasetId,
    pub processor_id: kidvault_domain::ids::ProcessorId,
    pub kinds: Vec<kidvault_domain::item::ItemKind>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub shards: u32,
    /// The criteria as the manifest states them (JSON).
    pub criteria: String,
    pub created_at: Timestamp,
}

/// What the ledger entries of a disclosure say besides its counts: who
/// received it and why (the store writes one entry per child).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosureNote {
    /// `processor:<id>`.
    pub actor: String,
    pub purpose: String,
    pub processor_name: String,
    /// RFC 3339 with microseconds.
    pub at: String,
}

/// A snapshot as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetRecord {
    pub id: kidvault_domain::ids::DatasetId,
    pub processor_id: kidvault_domain::ids::ProcessorId,
    pub criteria: String,
    pub shards: u32,
    pub items: u64,
    pub created_at: Timestamp,
}

/// One item of a snapshot. `removed`: deleted, or recalled after a withdrawal,
/// since the snapshot was taken (no longer served; models trained on it are flagged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetItem {
    pub item_id: ItemId,
    pub child_id: ChildId,
    pub kind: kidvault_domain::item::ItemKind,
    /// For a derived item: its source, when the source is in the snapshot too.
    pub source_id: Option<ItemId>,
    pub recorded_at: Timestamp,
    pub shard: u32,
    pub removed: bool,
}

/// A model a training processor registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRecord {
    pub id: kidvault_domain::ids::ModelId,
    pub processor_id: kidvault_domain::ids::ProcessorId,
    pub name: String,
    pub version: String,
    pub created_at: Timestamp,
    /// `retrained` or `destroyed`, once the processor acknowledged its flags.
    pub outcome: Option<String>,
    pub replaced_by: Option<kidvault_domain::ids::ModelId>,
    pub evidence: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

/// A model trained on a shard holding an item since deleted or withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFlag {
    pub model_id: kidvault_domain::ids::ModelId,
    pub item_id: ItemId,
    pub dataset_id: kidvault_domain::ids::DatasetId,
    pub shard: u32,
    /// `deletion` or `withdrawal`.
    pub cause: String,
    pub deletion_id: Option<kidvault_domain::ids::DeletionId>,
    pub raised_at: Timestamp,
}

/// A processor's acknowledgement of a flagged model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelResolution {
    /// `retrained` or `destroyed`.
    pub outcome: String,
    /// With `retrained`: the model trained without the data.
    pub replaced_by: Option<kidvault_domain::ids::ModelId>,
    pub evidence: String,
    pub at: Timestamp,
}

/// Datasets and models whose lineage event is still to be delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineageBacklog {
    pub datasets: Vec<DatasetRecord>,
    /// Each with the (dataset, shard) pairs it was trained on.
    pub models: Vec<(ModelRecord, Vec<(kidvault_domain::ids::DatasetId, u32)>)>,
}

/// A profile due to become dormant, with when it was last active (`None`:
/// never, since it was created), so the notice can say so without reading it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InactiveChild {
    pub child: ChildId,
    pub household: HouseholdId,
    pub last_active_at: Option<Timestamp>,
}

/// A dormant profile to remind its guardians of, with when it will be deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DormantChild {
    pub child: ChildId,
    pub household: HouseholdId,
    pub deletion_at: Timestamp,
}

/// A profile to make dormant: its ledger entry and its guardians' notice.
#[derive(Clone, Debug)]
pub struct DormancyMark {
    pub child: ChildId,
    pub household: HouseholdId,
    pub entry: kidvault_ledger::entry::NewEntry,
    pub notice: kidvault_domain::notice::NewNotice,
}

/// One generation of the keystore's seal chain (see `kidvault_crypto::chain`):
/// the fingerprint of its key, when rows began to be sealed under it, and when
/// every row was (until then, older generations are still in use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealGeneration {
    pub generation: u32,
    pub fingerprint: String,
    pub began_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// A keystore row: a child key at one epoch, or an item's data key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyRowId {
    Child(ChildId, u32),
    Item(ItemId),
}

/// A keystore row's wrapped bytes, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub id: KeyRowId,
    pub wrapped: Vec<u8>,
}

/// A keystore row sealed again: replaced only if it still holds `old` (a row
/// replaced or destroyed meanwhile is left as it is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resealed {
    pub id: KeyRowId,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}
