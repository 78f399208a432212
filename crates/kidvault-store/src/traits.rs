//! The storage traits. Semantics are the backends' contract; the
//! [`crate::conformance`] suite checks them.

use std::collections::HashMap;

use async_trait::async_trait;
use bytes::Bytes;
use kidvault_domain::consent::{Consent, ConsentScope};
use kidvault_domain::deletion::{DeletionScope, DeletionStep};
use kidvault_domain::ids::{
    ChildId, DatasetId, DeletionId, DeviceId, GuardianId, HouseholdId, ItemId, ModelId, NoticeId, ProcessorId,
    ReviewId, StaffId, TaskId,
};
use kidvault_domain::item::ItemKind;
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use uuid::Uuid;

use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_ledger::Hash;

use crate::model::*;
use crate::Result;

/// The data store. Every method is one atomic transaction.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Liveness check for `/healthz`.
    async fn ping(&self) -> Result<()>;
    /// Checks the store's files for damage while serving (see
    /// [`crate::sql::backend::SqlExecutor::check_integrity`]); `Corrupt` says what is wrong.
    async fn check_integrity(&self) -> Result<()>;

    /// Creates a household and its first guardian. `Conflict` if the e-mail is taken.
    async fn create_household(&self, household: HouseholdId, guardian: &GuardianRecord) -> Result<()>;
    /// Keeps a sign-up until the link e-mailed to its address is followed.
    async fn create_sign_up(&self, sign_up: &crate::model::PendingSignUp) -> Result<()>;
    /// Follows a sign-up's link: creates its household and guardian, once;
    /// `None` for an unknown, used or expired link; `Conflict` if the e-mail
    /// was taken in the meantime.
    async fn finish_sign_up(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<Option<GuardianRecord>>;
    /// Forgets sign-ups whose links expired before `before`.
    async fn prune_sign_ups(&self, before: Timestamp) -> Result<u64>;
    async fn guardian_by_email(&self, email: &str) -> Result<Option<GuardianRecord>>;

    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>>;

    /// Stores a child. `Conflict` if its household is closing.
    async fn create_child(&self, child: &ChildRecord) -> Result<()>;
    async fn child(&self, id: ChildId) -> Result<Option<ChildRecord>>;
    /// The household's children, oldest first.
    async fn children_of(&self, household: HouseholdId) -> Result<Vec<ChildRecord>>;

    /// Records a consent, makes its child `active`, and appends `entry` to the
    /// ledger, all in one transaction.
    async fn record_consent(&self, consent: &Consent, entry: &NewEntry) -> Result<()>;
    /// The child's consents, oldest first, each with its scopes.
    async fn consents_of(&self, child: ChildId) -> Result<Vec<Consent>>;
    /// Withdraws `scope` from every consent of the child that still grants it;
    /// returns how many grants were withdrawn. If any were, `entry` is appended to
    /// the ledger in the same transaction.
    async fn withdraw_scope(&self, child: ChildId, scope: ConsentScope, at: Timestamp, entry: &NewEntry)
        -> Result<u64>;

    /// Stores a device. `StaleKeyEpoch` if its name is sealed under a retired epoch.
    /// Records a device's pairing request. `Conflict` if the user code is taken.
    async fn create_device_code(&self, code: &DeviceCodeRecord) -> Result<()>;
    /// A guardian approves a user code: creates `device` (with the code's token
    /// hash) in the same transaction, once.
    async fn approve_device_code(
        &self,
        user_code: &str,
        device: &DeviceRecord,
        now: Timestamp,
    ) -> Result<DeviceApproval>;
    /// A device polls with its code (at most once per `interval_secs`).
    async fn poll_device_code(&self, code_hash: &[u8; 32], now: Timestamp, interval_secs: i64) -> Result<DevicePoll>;
    /// Forgets pairing codes that expired before `before`; returns how many.
    async fn prune_device_codes(&self, before: Timestamp) -> Result<u64>;
    async fn create_device(&self, device: &DeviceRecord) -> Result<()>;
    async fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>>;
    /// Marks a device revoked; false if it was already revoked or does not exist.
    async fn revoke_device(&self, id: DeviceId, at: Timestamp) -> Result<bool>;
    /// The child's devices, revoked ones included, oldest first.
    async fn devices_of(&self, child: ChildId) -> Result<Vec<DeviceRecord>>;
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
    async fn list_items(&self, child: ChildId, filter: &ItemFilter) -> Result<Vec<kidvault_domain::item::ItemMeta>>;
    /// Items derived directly from `id`.
    async fn derived_from(&self, id: ItemId) -> Result<Vec<ItemId>>;
    /// Items whose content is a blob, in id order after `after`, at most `limit`
    /// (moving blobs from one blob store to another).
    async fn blob_items(&self, after: Option<ItemId>, limit: u32) -> Result<Vec<(ItemId, BlobLocator)>>;
    /// Points `item`'s content at `to` if it is still at `from`; returns whether
    /// it was (a deletion may have purged the item meanwhile).
    async fn relocate_blob(&self, item: ItemId, from: &BlobLocator, to: &BlobLocator) -> Result<bool>;

    /// Appends entries to the ledger, in order, in one transaction; returns their
    /// indexes. Appends are totally ordered: no gaps, no forks.
    async fn append_entries(&self, entries: &[NewEntry]) -> Result<Vec<u64>>;
    async fn ledger_size(&self) -> Result<u64>;
    async fn ledger_entry(&self, index: u64) -> Result<Option<StoredEntry>>;
    /// The latest entry of `kind` about the deployment itself (no household).
    async fn latest_global_entry(&self, kind: EntryKind) -> Result<Option<StoredEntry>>;
    /// Entries about a child, oldest first, optionally of one kind.
    async fn child_entries(&self, child: ChildId, kind: Option<EntryKind>) -> Result<Vec<StoredEntry>>;
    /// The root of the first `size` entries.
    async fn ledger_root(&self, size: u64) -> Result<Hash>;
    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>>;
    async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>>;
    /// Keeps a signed checkpoint (old ones are never removed).
    async fn save_checkpoint(&self, size: u64, at: Timestamp, note: &str) -> Result<()>;
    /// The newest checkpoint: (size, note).
    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>>;
    async fn checkpoint_at(&self, size: u64) -> Result<Option<String>>;

    /// Records a deletion request. For a child scope the child becomes
    /// `deleting` in the same transaction (nothing is served or collected).
    async fn create_deletion(&self, deletion: &DeletionRecord) -> Result<()>;
    async fn deletion(&self, id: DeletionId) -> Result<Option<DeletionRecord>>;
    /// The deletions named that exist, in no particular order (one snapshot).
    async fn deletions(&self, ids: &[DeletionId]) -> Result<Vec<DeletionRecord>>;
    /// Deletions not yet completed, oldest first.
    async fn open_deletions(&self) -> Result<Vec<DeletionRecord>>;
    /// Step `requested → resolved`: resolves the scope through lineage (everything
    /// derived, transitively), records the items, and stops serving them and
    /// deriving from them (state `pending_deletion`). Returns how many items.
    async fn resolve_deletion(&self, id: DeletionId, at: Timestamp) -> Result<u64>;
    /// Records deletions and resolves them ([`Store::create_deletion`] then
    /// [`Store::resolve_deletion`] for each), all in one transaction: the
    /// policy's deletions of many children at once, all recorded or none.
    async fn record_resolved_deletions(&self, deletions: &[DeletionRecord]) -> Result<()>;
    /// Step `resolved → shredded` for item scopes: destroys the wrapped data keys.
    async fn shred_deletion_items(&self, id: DeletionId, at: Timestamp) -> Result<()>;
    /// Records a step reached by work done elsewhere (keystore, blobs).
    async fn set_deletion_step(&self, id: DeletionId, step: DeletionStep, at: Timestamp) -> Result<()>;
    /// Records the epoch a rotation moves to and makes it the child's current key
    /// epoch: from then on, an item sealed under an older epoch is refused with
    /// `StaleKeyEpoch` (the caller re-seals under the current key).
    async fn set_rotation_epoch(&self, id: DeletionId, epoch: u32) -> Result<()>;
    /// Items whose data key is still wrapped in the data store (written before
    /// data keys moved to the keystore, or by a coarsening not yet finished), at
    /// most `limit`: (item, child, epoch, wrapped key).
    async fn legacy_item_keys(&self, limit: u32) -> Result<Vec<ItemKey>>;
    /// Blanks the data store's copy of each item's data key, if it is still the
    /// given one (the keystore now holds it). Returns how many were blanked.
    async fn clear_legacy_item_keys(&self, keys: &[ItemKey]) -> Result<u64>;
    /// Leaves no copy of deleted or overwritten rows in any file of the store:
    /// on SQLite the WAL is checkpointed and truncated (freed pages are already
    /// zeroed by `secure_delete`); PostgreSQL cannot promise this (see README).
    async fn scrub(&self) -> Result<()>;
    /// The deployment this store is bound to (opaque text), if any.
    async fn deployment_binding(&self) -> Result<Option<String>>;
    /// Binds an unbound store to `binding`; returns the binding in force (the
    /// one given, or the one another node stored first).
    async fn bind_deployment(&self, binding: &str) -> Result<String>;
    async fn deletion_items(&self, id: DeletionId) -> Result<Vec<DeletionItem>>;
    /// The items each of `ids` covers (one snapshot), each deletion's by item id.
    async fn deletions_items(&self, ids: &[DeletionId]) -> Result<HashMap<DeletionId, Vec<DeletionItem>>>;
    /// What a deletion of `scope` would cover if requested now: live items of the
    /// child by kind, lineage included (read only; the confirmation page).
    async fn preview_deletion(&self, child: ChildId, scope: &DeletionScope) -> Result<Vec<(ItemKind, u64)>>;
    /// The household's deletions, newest first.
    async fn household_deletions(&self, household: HouseholdId, limit: u32) -> Result<Vec<DeletionRecord>>;
    /// Step `rotated → purged`: removes the items' rows and lineage (and for a child
    /// scope its consents, devices and profile); forgets blob locators.
    async fn purge_deletion(&self, id: DeletionId, at: Timestamp) -> Result<()>;
    /// Step `acknowledged → completed`: appends the ledger entries, keeps the receipt
    /// body and writes the notices to the household's guardians, in one
    /// transaction. Returns the entries' indexes.
    async fn complete_deletion(
        &self,
        id: DeletionId,
        at: Timestamp,
        summary: &str,
        entries: &[NewEntry],
        notices: &[NewNotice],
    ) -> Result<Vec<u64>>;

    /// Stores a staff account. `Conflict` if its id or key is taken.
    async fn create_staff(&self, staff: &StaffRecord) -> Result<()>;
    /// The enabled account whose sign-in key hashes to `key_hash`.
    async fn staff_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<StaffRecord>>;
    async fn staff(&self, id: StaffId) -> Result<Option<StaffRecord>>;
    async fn list_staff(&self) -> Result<Vec<StaffRecord>>;
    /// Uses TOTP `step` (only if later than the last one used, on an enabled
    /// account) and opens `session`, together. `false`: step reused or disabled.
    async fn staff_sign_in(&self, step: i64, session: &StaffSessionRecord) -> Result<bool>;
    /// The enabled account of an unexpired session.
    async fn staff_session(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<Option<StaffRecord>>;
    /// Ends every session of the account (and with `disable`, the account).
    /// Returns how many sessions ended; `NotFound` for an unknown account.
    async fn end_staff_sessions(&self, id: StaffId, disable: Option<Timestamp>) -> Result<u64>;
    /// Ends one staff session (signing out); `false` if it was not live.
    async fn end_staff_session(&self, token_hash: &[u8; 32]) -> Result<bool>;

    /// Records a guardian's support grant (ending one still active) with its
    /// ledger entry; returns the entry's index.
    async fn grant_support(&self, grant: &SupportGrant, entry: &NewEntry) -> Result<u64>;
    /// Ends the child's active grant with its ledger entry; `None` if none was active.
    async fn revoke_support(&self, child: ChildId, at: Timestamp, entry: &NewEntry) -> Result<Option<u64>>;
    /// The child's grants, newest first.
    async fn support_grants(&self, child: ChildId, limit: u32) -> Result<Vec<SupportGrant>>;
    /// A break-glass access: its ledger entry, its review and the notices to
    /// the household's guardians, in one transaction; returns the entry's index.
    async fn break_glass(
        &self,
        review: &AccessReview,
        entry: &NewEntry,
        household: HouseholdId,
        notices: &[NewNotice],
    ) -> Result<u64>;
    /// Reviews, oldest first (`open`: only undecided ones).
    async fn access_reviews(&self, open: bool, limit: u32) -> Result<Vec<AccessReview>>;
    async fn access_review(&self, id: ReviewId) -> Result<Option<AccessReview>>;
    /// Closes an open review (with `entry` appended); `false` if already decided.
    async fn decide_review(&self, decided: &AccessReview, entry: Option<&NewEntry>) -> Result<bool>;
    async fn record_denial(&self, denial: &AccessDenial) -> Result<()>;
    /// The latest refusals, newest first, and the total ever.
    async fn access_denials(&self, limit: u32) -> Result<(Vec<AccessDenial>, u64)>;
    /// How many staff requests have been refused, ever, and how many reviews are open.
    async fn staff_access_counts(&self) -> Result<(u64, u64)>;
    /// Justifications stored in plaintext by an earlier version, oldest first:
    /// review, child and text.
    async fn plain_justifications(&self, limit: u32) -> Result<Vec<(ReviewId, ChildId, String)>>;
    /// Replaces a plaintext justification with its sealed form (`None`: the
    /// child's keys are gone, the text is dropped).
    async fn seal_justification(&self, id: ReviewId, sealed: Option<&Sealed>) -> Result<()>;

    /// Registers a processor. `Conflict` if the name is taken.
    async fn create_processor(&self, processor: &ProcessorRecord) -> Result<()>;
    async fn processor(&self, id: ProcessorId) -> Result<Option<ProcessorRecord>>;
    /// Every processor, disabled ones included, by name.
    async fn processors(&self) -> Result<Vec<ProcessorRecord>>;
    /// Stops telling a processor of new deletions (its open tasks stay open);
    /// false if it was already disabled or does not exist.
    async fn disable_processor(&self, id: ProcessorId, at: Timestamp) -> Result<bool>;
    /// Step `purged → dispatched`: stores the deletion's tasks (due at once).
    async fn dispatch_deletion(&self, id: DeletionId, at: Timestamp, tasks: &[TaskRecord]) -> Result<()>;
    /// Claims up to `limit` pending tasks due at `now`, oldest due first: each
    /// attempt is counted and the task is not due again before `lease_until`, so
    /// no other claimant takes it while this one delivers.
    async fn claim_due_tasks(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<TaskRecord>>;
    /// Records how a claimed delivery attempt ended. An acknowledged task stays so.
    async fn record_delivery(&self, task: TaskId, at: Timestamp, outcome: &Delivery) -> Result<()>;
    /// Marks a task acknowledged (idempotent: a second ack keeps the first time).
    async fn acknowledge_task(&self, task: TaskId, at: Timestamp, via: &str) -> Result<()>;
    async fn task(&self, id: TaskId) -> Result<Option<TaskRecord>>;
    /// A deletion's tasks, by processor name.
    async fn deletion_tasks(&self, id: DeletionId) -> Result<Vec<TaskRecord>>;
    /// The tasks of each of `ids` (one snapshot), by deletion then processor name.
    async fn deletions_tasks(&self, ids: &[DeletionId]) -> Result<Vec<TaskRecord>>;
    /// Unacknowledged tasks, earliest deadline first.
    async fn open_tasks(&self, limit: u32) -> Result<Vec<TaskRecord>>;
    /// Every task (deletions and recalls) that concerns a child, oldest first.
    async fn child_tasks(&self, child: ChildId) -> Result<Vec<TaskRecord>>;

    /// Up to `limit` items the processor may receive now (its purpose's consents
    /// in force under `notice`) and has not received, oldest received first.
    /// `NotFound` for an unknown processor; none for a disabled one.
    async fn disclosable_items(&self, processor: ProcessorId, notice: &str, limit: u32) -> Result<Vec<ItemRecord>>;
    /// Records items sent to processors, with their ledger entries, in one
    /// transaction. Returns the rows added (an item already recorded stays).
    async fn record_disclosures(&self, rows: &[Disclosure], entries: &[NewEntry]) -> Result<u64>;
    /// What each processor received of a child, per category.
    async fn child_disclosures(&self, child: ChildId) -> Result<Vec<DisclosureSummary>>;
    /// Every item of a child each processor received, as (processor, item),
    /// recalled or not: who must hear of a deletion (a whole child's register
    /// rows go when its deletion is dispatched, so this still answers after
    /// the purge).
    async fn child_disclosed_items(&self, child: ChildId) -> Result<Vec<(ProcessorId, ItemId)>>;
    /// Disclosures made for a purpose the parent has since withdrawn and not yet
    /// recalled, per processor and child (at most `limit` items).
    async fn recalls_due(&self, limit: u32) -> Result<Vec<Recall>>;
    /// Stores recall tasks (each with the items it recalls, marked recalled in
    /// the same transaction); a task whose items are already recalled is
    /// dropped. Returns the tasks stored.
    async fn create_recalls(&self, tasks: &[(TaskRecord, Vec<ItemId>)]) -> Result<u32>;

    /// Snapshots a training dataset: every item the (enabled, `training`)
    /// processor may receive under `notice` that matches, sharded by child, with
    /// the disclosure register's rows and one ledger entry per child, in one
    /// transaction. `Conflict` for a processor that is not an enabled training one.
    async fn create_dataset(&self, dataset: &NewDataset, notice: &str, note: &DisclosureNote) -> Result<DatasetRecord>;
    /// What [`Store::create_dataset`] would take now, as (children with items,
    /// items), without writing anything (a read: it does not hold up writes).
    async fn preview_dataset(&self, dataset: &NewDataset, notice: &str) -> Result<(u64, u64)>;
    async fn dataset(&self, id: DatasetId) -> Result<Option<DatasetRecord>>;
    /// A dataset's items (one shard or all), marked removed once deleted or recalled.
    async fn dataset_items(&self, id: DatasetId, shard: Option<u32>) -> Result<Vec<DatasetItem>>;
    /// Registers a model trained on (dataset, shard) pairs of its processor's
    /// datasets, with its ledger entry; flags it at once for shards already
    /// holding removed items. Returns the flags raised. `NotFound` for a dataset
    /// not the processor's or a shard it lacks; `Conflict` for a name and
    /// version already registered.
    async fn register_model(&self, model: &ModelRecord, inputs: &[(DatasetId, u32)], entry: &NewEntry) -> Result<u64>;
    async fn model(&self, id: ModelId) -> Result<Option<ModelRecord>>;
    async fn model_flags(&self, id: ModelId) -> Result<Vec<ModelFlag>>;
    /// Resolves a flagged model (retrained as `replaced_by`, or destroyed), with
    /// its ledger entry. Idempotent: a resolved model keeps its first outcome
    /// (and no second entry is written).
    async fn resolve_model(
        &self,
        id: ModelId,
        processor: ProcessorId,
        resolution: &ModelResolution,
        entry: &NewEntry,
    ) -> Result<ModelRecord>;
    /// Datasets and models whose OpenLineage event is still to be delivered
    /// (up to `limit` of each), oldest first.
    async fn lineage_backlog(&self, limit: u32) -> Result<LineageBacklog>;
    /// Marks their lineage events delivered.
    async fn lineage_sent(&self, datasets: &[DatasetId], models: &[ModelId], at: Timestamp) -> Result<()>;
    /// Unresolved flagged models (with `None`), or the models a deletion
    /// flagged: each with its number of flags and when the first was raised.
    async fn flagged_models(&self, deletion: Option<DeletionId>) -> Result<Vec<(ModelRecord, u64, Timestamp)>>;
    /// The models each of `ids` flagged: (deletion, model, flags, first raised).
    async fn models_flagged_by(&self, ids: &[DeletionId]) -> Result<Vec<(DeletionId, ModelRecord, u64, Timestamp)>>;

    async fn guardian(&self, id: GuardianId) -> Result<Option<GuardianRecord>>;
    /// Sets (or clears) a guardian's time zone; `false` if there is no such guardian.
    async fn set_time_zone(&self, id: GuardianId, zone: Option<&str>) -> Result<bool>;
    /// Sets (or clears) the language a guardian reads kidvault in; `false` if
    /// there is no such guardian.
    async fn set_language(&self, id: GuardianId, language: Option<&str>) -> Result<bool>;
    /// Marks the household closing (idempotent): no child can be added from now on.
    async fn begin_household_closure(&self, household: HouseholdId, at: Timestamp) -> Result<()>;
    /// Households closing, oldest first.
    async fn closing_households(&self) -> Result<Vec<HouseholdId>>;
    /// Removes a closing household's guardians, sessions and row, and appends
    /// `entry`, in one transaction — only once it has no child, no open deletion,
    /// and no deletion completed at or after `settled_before`. Returns whether it did.
    async fn purge_household(
        &self,
        household: HouseholdId,
        settled_before: Timestamp,
        entry: &NewEntry,
    ) -> Result<bool>;

    /// Stores an e-mail-plus consent waiting for confirmation, and writes
    /// `notice` (with the link) to the guardian who gave it, in one transaction.
    async fn request_consent_confirmation(&self, pending: &PendingConsent, notice: &NewNotice) -> Result<()>;
    /// The consent a confirmation link waits for (used or not), if any.
    async fn pending_consent(&self, token_hash: &[u8; 32]) -> Result<Option<kidvault_domain::consent::Consent>>;
    /// Follows a confirmation link: records the consent (granted at `at`) and
    /// `entry`, once, if `guardian` gave it, it has not expired and the child is live.
    async fn confirm_consent(
        &self,
        token_hash: &[u8; 32],
        guardian: GuardianId,
        at: Timestamp,
        entry: &NewEntry,
    ) -> Result<ConfirmOutcome>;
    /// Starts (or restarts) TOTP enrolment with a new wrapped secret; refused
    /// (`Conflict`) while TOTP is on.
    async fn begin_totp(&self, guardian: GuardianId, secret_wrapped: &[u8]) -> Result<()>;
    async fn totp(&self, guardian: GuardianId) -> Result<Option<TotpRecord>>;
    /// Turns TOTP on (the first code's step used up) with new recovery code hashes.
    async fn enable_totp(&self, guardian: GuardianId, at: Timestamp, step: i64, codes: &[[u8; 32]]) -> Result<()>;
    /// Uses a code's step: false when it is not after the last one used (a replay).
    async fn use_totp_step(&self, guardian: GuardianId, step: i64) -> Result<bool>;
    /// Uses a recovery code: false when unknown or already used.
    async fn use_recovery_code(&self, guardian: GuardianId, code_hash: &[u8; 32], at: Timestamp) -> Result<bool>;
    async fn disable_totp(&self, guardian: GuardianId) -> Result<()>;
    /// Live locations still stored precisely, recorded before `before`.
    async fn precise_locations(&self, before: Timestamp, limit: u32) -> Result<Vec<ItemRecord>>;
    /// Replaces a precise location's content with its approximate form (new
    /// category, data key and ciphertext) in place; false if it is no longer a
    /// live precise location. Refused (`StaleKeyEpoch`) under a retired epoch.
    async fn coarsen_location(&self, item: &ItemRecord) -> Result<bool>;
    /// Children with live items of `kind` recorded before `before` (retention).
    async fn expired_items(&self, kind: ItemKind, before: Timestamp, limit: u32)
        -> Result<Vec<(ChildId, HouseholdId)>>;
    /// Children never consented for, created before `before`.
    async fn abandoned_children(&self, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>>;
    /// Active children, neither dormant nor kept, with no activity since `before`.
    async fn inactive_children(&self, before: Timestamp, limit: u32) -> Result<Vec<crate::model::InactiveChild>>;
    /// Marks children dormant (deletion due at `delete_at`), each with its
    /// ledger entry and its guardians' notice, all in one transaction; a child
    /// no longer inactive since `inactive_before`, kept, or already dormant is
    /// left alone (no entry, no notice). Returns the children marked.
    async fn mark_dormant(
        &self,
        marks: &[DormancyMark],
        inactive_before: Timestamp,
        at: Timestamp,
        delete_at: Timestamp,
    ) -> Result<Vec<ChildId>>;
    /// Dormant children not yet reminded whose deletion is due by `by`.
    async fn dormant_to_remind(&self, by: Timestamp, limit: u32) -> Result<Vec<crate::model::DormantChild>>;
    /// Records the reminders of a batch and writes their notices, each child
    /// once, in one transaction; returns the children reminded now.
    async fn mark_reminded(&self, reminders: &[(ChildId, NewNotice)], at: Timestamp) -> Result<Vec<ChildId>>;
    /// Dormant, unkept children whose grace period ended by `now`.
    async fn dormant_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>>;
    /// Children with a live recording older than their parents' auto-delete
    /// choice (shorter than the policy), each with the choice in days.
    async fn auto_delete_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId, u32)>>;
    /// Sets a child's auto-delete choice for recordings, with its ledger entry.
    async fn set_keep_recordings(&self, child: ChildId, days: Option<u32>, entry: &NewEntry) -> Result<()>;
    async fn child_retention(&self, child: ChildId) -> Result<Option<ChildRetention>>;
    /// A guardian's choice to keep the profile when dormant (ends any dormancy), or to stop keeping it.
    async fn set_keep_when_dormant(&self, child: ChildId, keep: bool, at: Timestamp, entry: &NewEntry) -> Result<()>;
    /// Stores an invitation to join a household.
    async fn create_invite(&self, invite: &InviteRecord) -> Result<()>;
    /// Accepts an invitation: adds `guardian` to its household and uses the
    /// invitation up, in one transaction, unless it is unknown, used, expired
    /// at `at`, or its household is closing (then nothing changes).
    async fn accept_invite(
        &self,
        token_hash: &[u8; 32],
        guardian: &GuardianRecord,
        at: Timestamp,
    ) -> Result<InviteOutcome>;
    /// A guardian's live sessions (neither revoked nor expired at `now`), newest first.
    /// Names a session by its browser or app ("Chrome on Android").
    async fn label_session(&self, token_hash: &[u8; 32], label: &str) -> Result<()>;
    async fn sessions_of(&self, guardian: GuardianId, now: Timestamp) -> Result<Vec<SessionRecord>>;
    /// Removes a guardian's session (sign-out).
    async fn revoke_session(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<()>;
    /// The household's guardians (each receives the household's notices).
    async fn guardian_ids(&self, household: HouseholdId) -> Result<Vec<GuardianId>>;

    /// Claims up to `limit` notices due at `now` for delivery, leasing each until
    /// `lease_until` (a claimant that dies leaves them due again then).
    async fn claim_due_notices(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<NoticeRecord>>;
    /// Records how a delivery attempt ended; a delivered notice stays delivered.
    async fn record_notice_delivery(&self, id: NoticeId, at: Timestamp, outcome: &NoticeDelivery) -> Result<()>;
    /// A guardian's notices, newest first (the portal's mailbox).
    async fn notices_for(&self, guardian: GuardianId, limit: u32) -> Result<Vec<NoticeRecord>>;

    /// Takes or renews the lease `name` for `holder` until `until`, if it is
    /// free, expired at `now`, or already `holder`'s. Returns whether `holder`
    /// now holds it: of all nodes asking at once, exactly one does.
    async fn acquire_lease(&self, name: &str, holder: Uuid, now: Timestamp, until: Timestamp) -> Result<bool>;
    /// Gives up the lease `name` if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: Uuid) -> Result<()>;

    /// Records a failed sign-in at `at` against each throttle key (an opaque
    /// hash of an account or a client address), and forgets those keys'
    /// failures at or before `forget_before`.
    async fn record_sign_in_failure(&self, keys: &[[u8; 32]], at: Timestamp, forget_before: Timestamp) -> Result<()>;
    /// For each key, its latest failures after `since`, at most `limit`,
    /// oldest first.
    async fn sign_in_failures(&self, keys: &[[u8; 32]], since: Timestamp, limit: u32) -> Result<Vec<Vec<Timestamp>>>;
    /// Forgets every failure of `key` (a successful sign-in clears its account).
    async fn clear_sign_in_failures(&self, key: &[u8; 32]) -> Result<()>;
    /// Forgets every failure at or before `before`; returns how many.
    async fn prune_sign_in_failures(&self, before: Timestamp) -> Result<u64>;
}

/// Wrapped child keys and item data keys, kept apart from the data store: a
/// backup of the data store holds no key that opens anything.
#[async_trait]
pub trait Keystore: Send + Sync + std::fmt::Debug {
    /// Stores a child key at a new epoch. `Conflict` if that epoch exists.
    async fn insert_child_key(&self, child: ChildId, epoch: u32, wrapped: &[u8], at: Timestamp) -> Result<()>;
    async fn child_key(&self, child: ChildId, epoch: u32) -> Result<Option<Vec<u8>>>;
    /// The newest epoch of the child's key.
    async fn latest_child_key(&self, child: ChildId) -> Result<Option<(u32, Vec<u8>)>>;
    /// Destroys every epoch of each child's key and every data key of its items
    /// (crypto-shredding), for all of `children` in one transaction. Returns
    /// how many child key epochs.
    async fn destroy_child_keys(&self, children: &[ChildId]) -> Result<u64>;
    /// Stores item data keys (wrapped under their child's key), replacing any
    /// the items had (a re-sealed item gets a new data key; the old one is gone).
    async fn put_item_keys(&self, keys: &[ItemKey]) -> Result<()>;
    /// An item's data key: (epoch of the child key it is wrapped under, wrapped).
    async fn item_key(&self, item: ItemId) -> Result<Option<(u32, Vec<u8>)>>;
    /// Destroys the items' data keys. Returns how many existed.
    async fn destroy_item_keys(&self, items: &[ItemId]) -> Result<u64>;
    /// The seal chain's generations in use, oldest first.
    async fn seal_generations(&self) -> Result<Vec<SealGeneration>>;
    /// Records a new generation; `false` if it is already recorded (another
    /// node began it).
    async fn begin_seal_generation(&self, generation: &SealGeneration) -> Result<bool>;
    /// Records that every row is sealed under `generation` or a newer one.
    async fn complete_seal_generation(&self, generation: u32, at: Timestamp) -> Result<()>;
    /// Forgets the generations before `generation`; returns how many.
    async fn forget_seal_generations_before(&self, generation: u32) -> Result<u64>;
    /// Rows whose wrapped bytes sort below `prefix` (sealed under an older
    /// generation, or before the chain), in key order after `after`, at most
    /// `limit`: child keys first, then item keys.
    async fn key_rows_below(&self, prefix: &[u8], after: Option<KeyRowId>, limit: u32) -> Result<Vec<KeyRow>>;
    /// Replaces rows' wrapped bytes where they still hold the old ones, in one
    /// transaction; returns how many were replaced.
    async fn reseal_key_rows(&self, rows: &[Resealed]) -> Result<u64>;
    /// Leaves no copy of destroyed keys in any file of the keystore (see
    /// [`Store::scrub`]). Called after destroying, before reporting it done.
    async fn scrub(&self) -> Result<()>;
    /// Whether [`Keystore::scrub`] leaves no byte of a destroyed key in the
    /// backend's files (SQLite: yes; PostgreSQL: its table files and WAL keep
    /// them until VACUUM and recycling). What receipts and the portal promise
    /// follows from this.
    fn scrubs_its_files(&self) -> bool;
    /// As [`Store::check_integrity`], for the keystore.
    async fn check_integrity(&self) -> Result<()>;
    /// As [`Store::deployment_binding`], for the keystore.
    async fn deployment_binding(&self) -> Result<Option<String>>;
    /// As [`Store::bind_deployment`], for the keystore.
    async fn bind_deployment(&self, binding: &str) -> Result<String>;
}

/// Ciphertext blobs. `put` returns only once the blob is durable.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    async fn put(&self, id: Uuid, ciphertext: Bytes) -> Result<BlobLocator>;
    async fn get(&self, locator: &BlobLocator) -> Result<Bytes>;
    /// Removes the blob's bytes (overwritten in place, then synced).
    async fn delete(&self, locator: &BlobLocator) -> Result<()>;
    /// Removes many blobs' bytes with as few syncs as the backend allows. Blobs
    /// already gone are skipped.
    async fn delete_many(&self, locators: &[BlobLocator]) -> Result<()>;
    /// Whether `locator` names a blob of this store (moving blobs between stores).
    fn holds(&self, locator: &BlobLocator) -> bool;
}
