//! [`Store`] and [`Keystore`], implemented once for every SQL backend: each
//! method names its kind of transaction (write, read, point lookup) and the
//! shared body it runs. A new store method is added here and in the module
//! holding its SQL, once.

use std::collections::HashMap;

use async_trait::async_trait;
use kidvault_domain::consent::{Consent, ConsentScope};
use kidvault_domain::deletion::{DeletionScope, DeletionStep};
use kidvault_domain::ids::*;
use kidvault_domain::item::{ItemKind, ItemMeta};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_ledger::Hash;

use super::backend::{KeystoreBackend, SqlExecutor, StoreBackend};
use super::{
    accounts, children, datasets, deletion_steps, deletions, deployment, disclosures, downstream, items, keys, ledger,
    outbox, pairing, staff, sweeps,
};
use crate::model::*;
use crate::{Keystore, Result, Store};
#[async_trait]
impl<B: StoreBackend> Store for B {
    async fn ping(&self) -> Result<()> {
        self.read(|tx| tx.one("SELECT 1 AS one", &[], |r| r.i64("one"))).await.map(|_| ())
    }

    async fn check_integrity(&self) -> Result<()> {
        SqlExecutor::check_integrity(self).await
    }

    async fn create_household(&self, household: HouseholdId, g: &GuardianRecord) -> Result<()> {
        let g = g.clone();
        self.write(move |tx| accounts::create_household(tx, household, &g)).await
    }

    async fn create_sign_up(&self, s: &crate::model::PendingSignUp) -> Result<()> {
        let s = s.clone();
        self.write(move |tx| accounts::create_sign_up(tx, &s)).await
    }

    async fn finish_sign_up(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<Option<GuardianRecord>> {
        let token_hash = *token_hash;
        self.write(move |tx| accounts::finish_sign_up(tx, &token_hash, now)).await
    }

    async fn prune_sign_ups(&self, before: Timestamp) -> Result<u64> {
        self.write(move |tx| accounts::prune_sign_ups(tx, before)).await
    }

    async fn request_consent_confirmation(&self, pending: &PendingConsent, notice: &NewNotice) -> Result<()> {
        let (p, n) = (pending.clone(), notice.clone());
        self.write(move |tx| accounts::request_consent(tx, &p, &n)).await
    }

    async fn pending_consent(&self, token_hash: &[u8; 32]) -> Result<Option<Consent>> {
        let h = *token_hash;
        self.read(move |tx| accounts::pending_consent(tx, &h)).await
    }

    async fn confirm_consent(
        &self,
        token_hash: &[u8; 32],
        guardian: GuardianId,
        at: Timestamp,
        entry: &NewEntry,
    ) -> Result<ConfirmOutcome> {
        let (h, entry) = (*token_hash, entry.clone());
        self.write(move |tx| accounts::confirm_consent(tx, &h, guardian, at, &entry)).await
    }

    async fn begin_totp(&self, guardian: GuardianId, secret_wrapped: &[u8]) -> Result<()> {
        let w = secret_wrapped.to_vec();
        self.write(move |tx| accounts::begin_totp(tx, guardian, &w)).await
    }

    async fn totp(&self, guardian: GuardianId) -> Result<Option<TotpRecord>> {
        self.read(move |tx| accounts::totp(tx, guardian)).await
    }

    async fn enable_totp(&self, guardian: GuardianId, at: Timestamp, step: i64, codes: &[[u8; 32]]) -> Result<()> {
        let codes = codes.to_vec();
        self.write(move |tx| accounts::enable_totp(tx, guardian, at, step, &codes)).await
    }

    async fn use_totp_step(&self, guardian: GuardianId, step: i64) -> Result<bool> {
        self.write(move |tx| accounts::use_totp_step(tx, guardian, step)).await
    }

    async fn use_recovery_code(&self, guardian: GuardianId, code_hash: &[u8; 32], at: Timestamp) -> Result<bool> {
        let h = *code_hash;
        self.write(move |tx| accounts::use_recovery_code(tx, guardian, &h, at)).await
    }

    async fn disable_totp(&self, guardian: GuardianId) -> Result<()> {
        self.write(move |tx| accounts::disable_totp(tx, guardian)).await
    }

    async fn precise_locations(&self, before: Timestamp, limit: u32) -> Result<Vec<ItemRecord>> {
        self.read(move |tx| items::precise_locations(tx, before, limit)).await
    }

    async fn coarsen_location(&self, item: &ItemRecord) -> Result<bool> {
        let item = item.clone();
        self.write(move |tx| items::coarsen_location(tx, &item)).await
    }

    async fn expired_items(
        &self,
        kind: ItemKind,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.read(move |tx| sweeps::expired(tx, kind, before, limit)).await
    }

    async fn abandoned_children(&self, before: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.read(move |tx| sweeps::abandoned(tx, before, limit)).await
    }

    async fn inactive_children(&self, before: Timestamp, limit: u32) -> Result<Vec<InactiveChild>> {
        self.read(move |tx| sweeps::inactive(tx, before, limit)).await
    }

    async fn mark_dormant(
        &self,
        marks: &[DormancyMark],
        inactive_before: Timestamp,
        at: Timestamp,
        delete_at: Timestamp,
    ) -> Result<Vec<ChildId>> {
        let marks = marks.to_vec();
        self.write(move |tx| sweeps::mark_dormant(tx, &marks, inactive_before, at, delete_at)).await
    }

    async fn dormant_to_remind(&self, by: Timestamp, limit: u32) -> Result<Vec<DormantChild>> {
        self.read(move |tx| sweeps::to_remind(tx, by, limit)).await
    }

    async fn mark_reminded(&self, reminders: &[(ChildId, NewNotice)], at: Timestamp) -> Result<Vec<ChildId>> {
        let reminders = reminders.to_vec();
        self.write(move |tx| sweeps::mark_reminded(tx, &reminders, at)).await
    }

    async fn dormant_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId)>> {
        self.read(move |tx| sweeps::dormant_due(tx, now, limit)).await
    }

    async fn auto_delete_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(ChildId, HouseholdId, u32)>> {
        self.read(move |tx| sweeps::auto_delete_due(tx, now, limit)).await
    }

    async fn set_keep_recordings(&self, child: ChildId, days: Option<u32>, entry: &NewEntry) -> Result<()> {
        let e = entry.clone();
        self.write(move |tx| sweeps::set_keep_recordings(tx, child, days, &e)).await
    }

    async fn child_retention(&self, child: ChildId) -> Result<Option<ChildRetention>> {
        self.read(move |tx| sweeps::retention_of(tx, child)).await
    }

    async fn set_keep_when_dormant(&self, child: ChildId, keep: bool, at: Timestamp, entry: &NewEntry) -> Result<()> {
        let e = entry.clone();
        self.write(move |tx| sweeps::set_keep(tx, child, keep, at, &e)).await
    }

    async fn create_invite(&self, invite: &InviteRecord) -> Result<()> {
        let invite = invite.clone();
        self.write(move |tx| accounts::create_invite(tx, &invite)).await
    }

    async fn accept_invite(
        &self,
        token_hash: &[u8; 32],
        guardian: &GuardianRecord,
        at: Timestamp,
    ) -> Result<InviteOutcome> {
        let (h, g) = (*token_hash, guardian.clone());
        self.write(move |tx| accounts::accept_invite(tx, &h, &g, at)).await
    }

    async fn guardian_by_email(&self, email: &str) -> Result<Option<GuardianRecord>> {
        let email = email.to_owned();
        self.lookup(move |tx| accounts::guardian_by_email(tx, &email)).await
    }

    async fn create_session(&self, s: &SessionRecord) -> Result<()> {
        let s = s.clone();
        self.write(move |tx| accounts::create_session(tx, &s)).await
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>> {
        let h = *token_hash;
        self.lookup(move |tx| accounts::session(tx, &h)).await
    }

    async fn label_session(&self, token_hash: &[u8; 32], label: &str) -> Result<()> {
        let (h, label) = (*token_hash, label.to_owned());
        self.write(move |tx| accounts::label_session(tx, &h, &label)).await
    }

    async fn sessions_of(&self, guardian: GuardianId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        self.read(move |tx| accounts::sessions_of(tx, guardian, now)).await
    }

    async fn revoke_session(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<()> {
        let h = *token_hash;
        self.write(move |tx| children::revoke_session(tx, &h, at)).await
    }

    async fn guardian_ids(&self, household: HouseholdId) -> Result<Vec<GuardianId>> {
        self.read(move |tx| children::guardian_ids(tx, household)).await
    }

    async fn create_child(&self, r: &ChildRecord) -> Result<()> {
        let r = r.clone();
        self.write(move |tx| children::create_child(tx, &r)).await
    }

    async fn child(&self, child: ChildId) -> Result<Option<ChildRecord>> {
        self.lookup(move |tx| children::child(tx, child)).await
    }

    async fn children_of(&self, household: HouseholdId) -> Result<Vec<ChildRecord>> {
        self.read(move |tx| children::children_of(tx, household)).await
    }

    async fn record_consent(&self, consent: &Consent, entry: &NewEntry) -> Result<()> {
        let (k, entry) = (consent.clone(), entry.clone());
        self.write(move |tx| children::record_consent(tx, &k, &entry)).await
    }

    async fn consents_of(&self, child: ChildId) -> Result<Vec<Consent>> {
        self.read(move |tx| children::consents_of(tx, child)).await
    }

    async fn withdraw_scope(
        &self,
        child: ChildId,
        scope: ConsentScope,
        at: Timestamp,
        entry: &NewEntry,
    ) -> Result<u64> {
        let entry = entry.clone();
        self.write(move |tx| children::withdraw_scope(tx, child, scope, at, &entry)).await
    }

    async fn create_device_code(&self, code: &DeviceCodeRecord) -> Result<()> {
        let code = code.clone();
        self.write(move |tx| pairing::create(tx, &code)).await
    }

    async fn approve_device_code(
        &self,
        user_code: &str,
        device: &DeviceRecord,
        now: Timestamp,
    ) -> Result<DeviceApproval> {
        let (user_code, device) = (user_code.to_owned(), device.clone());
        self.write(move |tx| pairing::approve(tx, &user_code, &device, now)).await
    }

    async fn poll_device_code(&self, code_hash: &[u8; 32], now: Timestamp, interval_secs: i64) -> Result<DevicePoll> {
        let h = *code_hash;
        self.write(move |tx| pairing::poll(tx, &h, now, interval_secs)).await
    }

    async fn prune_device_codes(&self, before: Timestamp) -> Result<u64> {
        self.write(move |tx| pairing::prune(tx, before)).await
    }

    async fn create_device(&self, d: &DeviceRecord) -> Result<()> {
        let d = d.clone();
        self.write(move |tx| children::create_device(tx, &d)).await
    }

    async fn device(&self, device: DeviceId) -> Result<Option<DeviceRecord>> {
        self.lookup(move |tx| children::device(tx, device)).await
    }

    async fn devices_of(&self, child: ChildId) -> Result<Vec<DeviceRecord>> {
        self.read(move |tx| children::devices_of(tx, child)).await
    }

    async fn revoke_device(&self, device: DeviceId, at: Timestamp) -> Result<bool> {
        self.write(move |tx| children::revoke_device(tx, device, at)).await
    }

    async fn ingest_context(&self, token_hash: &[u8; 32]) -> Result<Option<IngestContext>> {
        self.single_mergeable(children::IngestContextRead(*token_hash)).await
    }

    async fn insert_item(&self, item: &ItemRecord) -> Result<()> {
        self.write_mergeable(items::ItemInsert(item.clone())).await
    }

    async fn item(&self, item: ItemId) -> Result<Option<ItemRecord>> {
        self.lookup(move |tx| items::get(tx, item)).await
    }

    async fn blob_items(&self, after: Option<ItemId>, limit: u32) -> Result<Vec<(ItemId, BlobLocator)>> {
        self.read(move |tx| items::blob_items(tx, after, limit)).await
    }

    async fn relocate_blob(&self, item: ItemId, from: &BlobLocator, to: &BlobLocator) -> Result<bool> {
        let (from, to) = (from.clone(), to.clone());
        self.write(move |tx| items::relocate_blob(tx, item, &from, &to)).await
    }

    async fn list_items(&self, child: ChildId, f: &ItemFilter) -> Result<Vec<ItemMeta>> {
        let f = f.clone();
        self.read(move |tx| items::list(tx, child, &f)).await
    }

    async fn derived_from(&self, item: ItemId) -> Result<Vec<ItemId>> {
        self.read(move |tx| items::derived_from(tx, item)).await
    }

    async fn append_entries(&self, entries: &[NewEntry]) -> Result<Vec<u64>> {
        let entries = entries.to_vec();
        self.write(move |tx| ledger::append(tx, &entries)).await
    }

    async fn ledger_size(&self) -> Result<u64> {
        self.lookup(ledger::size).await
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<StoredEntry>> {
        StoreBackend::ledger_entry(self, index).await
    }

    async fn latest_global_entry(&self, kind: EntryKind) -> Result<Option<StoredEntry>> {
        self.read(move |tx| ledger::latest_global(tx, kind)).await
    }

    async fn child_entries(&self, child: ChildId, kind: Option<EntryKind>) -> Result<Vec<StoredEntry>> {
        self.read(move |tx| ledger::child_entries(tx, child, kind)).await
    }

    async fn ledger_root(&self, size: u64) -> Result<Hash> {
        if size == 0 {
            return Ok(kidvault_ledger::hash::empty_root());
        }
        Ok(self.ledger_hashes(vec![(0, size)]).await?[0])
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.ledger_hashes(kidvault_ledger::tree::inclusion_ranges(index, size)?).await
    }

    async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>> {
        self.ledger_hashes(kidvault_ledger::tree::consistency_ranges(from, to)?).await
    }

    async fn save_checkpoint(&self, size: u64, at: Timestamp, note: &str) -> Result<()> {
        let note = note.to_owned();
        self.write(move |tx| ledger::save_checkpoint(tx, size, at, &note)).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        self.lookup(ledger::latest_checkpoint).await
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<String>> {
        self.lookup(move |tx| ledger::checkpoint_at(tx, size)).await
    }

    async fn create_deletion(&self, d: &DeletionRecord) -> Result<()> {
        let d = d.clone();
        self.write(move |tx| deletions::create(tx, &d)).await
    }

    async fn deletion(&self, id: DeletionId) -> Result<Option<DeletionRecord>> {
        self.single(move |tx| deletions::get(tx, id)).await
    }

    async fn deletions(&self, ids: &[DeletionId]) -> Result<Vec<DeletionRecord>> {
        let ids = ids.to_vec();
        self.read(move |tx| deletions::many(tx, &ids)).await
    }

    async fn open_deletions(&self) -> Result<Vec<DeletionRecord>> {
        self.single_scan(deletions::open).await
    }

    async fn resolve_deletion(&self, id: DeletionId, at: Timestamp) -> Result<u64> {
        self.write(move |tx| deletions::resolve(tx, id, at)).await
    }

    async fn record_resolved_deletions(&self, records: &[DeletionRecord]) -> Result<()> {
        let records = records.to_vec();
        self.write(move |tx| deletions::create_resolved(tx, &records)).await
    }

    async fn shred_deletion_items(&self, id: DeletionId, at: Timestamp) -> Result<()> {
        self.write(move |tx| deletions::shred_items(tx, id, at)).await
    }

    async fn set_deletion_step(&self, id: DeletionId, step: DeletionStep, at: Timestamp) -> Result<()> {
        self.write_mergeable(deletion_steps::SetStep { id, step, at }).await
    }

    async fn set_rotation_epoch(&self, id: DeletionId, epoch: u32) -> Result<()> {
        self.write(move |tx| deletions::set_rotation_epoch(tx, id, epoch)).await
    }

    async fn legacy_item_keys(&self, limit: u32) -> Result<Vec<ItemKey>> {
        self.read(move |tx| deletions::legacy_item_keys(tx, limit)).await
    }

    async fn clear_legacy_item_keys(&self, keys: &[ItemKey]) -> Result<u64> {
        let keys = keys.to_vec();
        self.write(move |tx| deletions::clear_legacy_item_keys(tx, &keys)).await
    }

    async fn scrub(&self) -> Result<()> {
        SqlExecutor::scrub(self).await
    }

    async fn deployment_binding(&self) -> Result<Option<String>> {
        self.read(deployment::binding).await
    }

    async fn bind_deployment(&self, binding: &str) -> Result<String> {
        let binding = binding.to_owned();
        self.write(move |tx| deployment::bind(tx, &binding)).await
    }

    async fn deletion_items(&self, id: DeletionId) -> Result<Vec<DeletionItem>> {
        self.single_scan(move |tx| deletions::items(tx, id)).await
    }

    async fn deletions_items(&self, ids: &[DeletionId]) -> Result<HashMap<DeletionId, Vec<DeletionItem>>> {
        let ids = ids.to_vec();
        let rows = self.read(move |tx| deletions::items_of(tx, &ids)).await?;
        let mut out: HashMap<DeletionId, Vec<DeletionItem>> = HashMap::new();
        for (d, item) in rows {
            out.entry(d).or_default().push(item);
        }
        Ok(out)
    }

    async fn preview_deletion(&self, child: ChildId, scope: &DeletionScope) -> Result<Vec<(ItemKind, u64)>> {
        let scope = scope.clone();
        self.read(move |tx| deletions::preview(tx, child, &scope)).await
    }

    async fn household_deletions(&self, household: HouseholdId, limit: u32) -> Result<Vec<DeletionRecord>> {
        self.read(move |tx| deletions::of_household(tx, household, limit)).await
    }

    async fn purge_deletion(&self, id: DeletionId, at: Timestamp) -> Result<()> {
        self.write_mergeable(deletion_steps::Purge { id, at }).await
    }

    async fn complete_deletion(
        &self,
        id: DeletionId,
        at: Timestamp,
        summary: &str,
        entries: &[NewEntry],
        notices: &[NewNotice],
    ) -> Result<Vec<u64>> {
        let (summary, entries, notices) = (summary.to_owned(), entries.to_vec(), notices.to_vec());
        self.write_mergeable(deletion_steps::Complete { id, at, summary, entries, notices }).await
    }

    async fn create_staff(&self, s: &StaffRecord) -> Result<()> {
        let s = s.clone();
        self.write(move |tx| staff::create_staff(tx, &s)).await
    }

    async fn staff_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<StaffRecord>> {
        let h = *key_hash;
        self.lookup(move |tx| staff::staff_by_key(tx, &h)).await
    }

    async fn staff(&self, id: StaffId) -> Result<Option<StaffRecord>> {
        self.lookup(move |tx| staff::staff(tx, id)).await
    }

    async fn list_staff(&self) -> Result<Vec<StaffRecord>> {
        self.read(staff::list_staff).await
    }

    async fn staff_sign_in(&self, step: i64, session: &StaffSessionRecord) -> Result<bool> {
        let session = session.clone();
        self.write(move |tx| staff::sign_in(tx, step, &session)).await
    }

    async fn staff_session(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<Option<StaffRecord>> {
        let h = *token_hash;
        self.lookup(move |tx| staff::session_staff(tx, &h, now)).await
    }

    async fn end_staff_sessions(&self, id: StaffId, disable: Option<Timestamp>) -> Result<u64> {
        self.write(move |tx| staff::end_sessions(tx, id, disable)).await
    }

    async fn end_staff_session(&self, token_hash: &[u8; 32]) -> Result<bool> {
        let h = *token_hash;
        self.write(move |tx| staff::end_session(tx, &h)).await
    }

    async fn grant_support(&self, grant: &SupportGrant, entry: &NewEntry) -> Result<u64> {
        let (grant, entry) = (grant.clone(), entry.clone());
        self.write(move |tx| staff::grant_support(tx, &grant, &entry)).await
    }

    async fn revoke_support(&self, child: ChildId, at: Timestamp, entry: &NewEntry) -> Result<Option<u64>> {
        let entry = entry.clone();
        self.write(move |tx| staff::revoke_support(tx, child, at, &entry)).await
    }

    async fn support_grants(&self, child: ChildId, limit: u32) -> Result<Vec<SupportGrant>> {
        self.lookup(move |tx| staff::support_grants(tx, child, limit)).await
    }

    async fn break_glass(
        &self,
        review: &AccessReview,
        entry: &NewEntry,
        household: HouseholdId,
        notices: &[NewNotice],
    ) -> Result<u64> {
        let (review, entry, notices) = (review.clone(), entry.clone(), notices.to_vec());
        self.write(move |tx| staff::break_glass(tx, &review, &entry, household, &notices)).await
    }

    async fn access_reviews(&self, open: bool, limit: u32) -> Result<Vec<AccessReview>> {
        self.read(move |tx| staff::reviews(tx, open, limit)).await
    }

    async fn access_review(&self, id: ReviewId) -> Result<Option<AccessReview>> {
        self.lookup(move |tx| staff::review(tx, id)).await
    }

    async fn decide_review(&self, decided: &AccessReview, entry: Option<&NewEntry>) -> Result<bool> {
        let (decided, entry) = (decided.clone(), entry.cloned());
        self.write(move |tx| staff::decide(tx, &decided, entry.as_ref())).await
    }

    async fn record_denial(&self, denial: &AccessDenial) -> Result<()> {
        let denial = denial.clone();
        self.write(move |tx| staff::record_denial(tx, &denial)).await
    }

    async fn access_denials(&self, limit: u32) -> Result<(Vec<AccessDenial>, u64)> {
        self.read(move |tx| staff::denials(tx, limit)).await
    }

    async fn staff_access_counts(&self) -> Result<(u64, u64)> {
        self.read(staff::access_counts).await
    }

    async fn plain_justifications(&self, limit: u32) -> Result<Vec<(ReviewId, ChildId, String)>> {
        self.read(move |tx| staff::plain_justifications(tx, limit)).await
    }

    async fn seal_justification(&self, id: ReviewId, sealed: Option<&Sealed>) -> Result<()> {
        let sealed = sealed.cloned();
        self.write(move |tx| staff::seal_justification(tx, id, sealed.as_ref())).await
    }

    async fn create_processor(&self, processor: &ProcessorRecord) -> Result<()> {
        let p = processor.clone();
        self.write(move |tx| downstream::create_processor(tx, &p)).await
    }

    async fn processor(&self, id: ProcessorId) -> Result<Option<ProcessorRecord>> {
        self.lookup(move |tx| downstream::processor(tx, id)).await
    }

    async fn processors(&self) -> Result<Vec<ProcessorRecord>> {
        self.single_scan(downstream::processors).await
    }

    async fn disable_processor(&self, id: ProcessorId, at: Timestamp) -> Result<bool> {
        self.write(move |tx| downstream::disable_processor(tx, id, at)).await
    }

    async fn dispatch_deletion(&self, id: DeletionId, at: Timestamp, tasks: &[TaskRecord]) -> Result<()> {
        self.write_mergeable(deletion_steps::Dispatch { id, at, tasks: tasks.to_vec() }).await
    }

    async fn claim_due_tasks(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<TaskRecord>> {
        self.write(move |tx| downstream::claim_due(tx, now, lease_until, limit)).await
    }

    async fn record_delivery(&self, task: TaskId, at: Timestamp, outcome: &Delivery) -> Result<()> {
        let outcome = outcome.clone();
        self.write(move |tx| downstream::record_delivery(tx, task, at, &outcome)).await
    }

    async fn acknowledge_task(&self, task: TaskId, at: Timestamp, via: &str) -> Result<()> {
        let via = via.to_owned();
        self.write(move |tx| downstream::acknowledge(tx, task, at, &via)).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<TaskRecord>> {
        self.lookup(move |tx| downstream::task(tx, id)).await
    }

    async fn deletion_tasks(&self, id: DeletionId) -> Result<Vec<TaskRecord>> {
        self.single_scan(move |tx| downstream::deletion_tasks(tx, id)).await
    }

    async fn deletions_tasks(&self, ids: &[DeletionId]) -> Result<Vec<TaskRecord>> {
        let ids = ids.to_vec();
        self.read(move |tx| downstream::tasks_of(tx, &ids)).await
    }

    async fn open_tasks(&self, limit: u32) -> Result<Vec<TaskRecord>> {
        self.read(move |tx| downstream::open_tasks(tx, limit)).await
    }

    async fn child_tasks(&self, child: ChildId) -> Result<Vec<TaskRecord>> {
        self.read(move |tx| disclosures::child_tasks(tx, child)).await
    }

    async fn disclosable_items(&self, processor: ProcessorId, notice: &str, limit: u32) -> Result<Vec<ItemRecord>> {
        let notice = notice.to_owned();
        self.read(move |tx| disclosures::disclosable(tx, processor, &notice, limit)).await
    }

    async fn record_disclosures(&self, rows: &[Disclosure], entries: &[NewEntry]) -> Result<u64> {
        let (rows, entries) = (rows.to_vec(), entries.to_vec());
        self.write(move |tx| disclosures::record(tx, &rows, &entries)).await
    }

    async fn child_disclosures(&self, child: ChildId) -> Result<Vec<DisclosureSummary>> {
        self.read(move |tx| disclosures::child_summary(tx, child)).await
    }

    async fn child_disclosed_items(&self, child: ChildId) -> Result<Vec<(ProcessorId, ItemId)>> {
        self.single_scan(move |tx| disclosures::child_items(tx, child)).await
    }

    async fn recalls_due(&self, limit: u32) -> Result<Vec<Recall>> {
        self.read(move |tx| disclosures::recalls_due(tx, limit)).await
    }

    async fn create_recalls(&self, tasks: &[(TaskRecord, Vec<ItemId>)]) -> Result<u32> {
        let tasks = tasks.to_vec();
        self.write(move |tx| disclosures::create_recalls(tx, &tasks)).await
    }

    async fn create_dataset(&self, dataset: &NewDataset, notice: &str, note: &DisclosureNote) -> Result<DatasetRecord> {
        let (d, notice, note) = (dataset.clone(), notice.to_owned(), note.clone());
        self.write(move |tx| datasets::create(tx, &d, &notice, &note)).await
    }

    async fn preview_dataset(&self, dataset: &NewDataset, notice: &str) -> Result<(u64, u64)> {
        let (d, notice) = (dataset.clone(), notice.to_owned());
        self.read(move |tx| datasets::preview(tx, &d, &notice)).await
    }

    async fn dataset(&self, id: DatasetId) -> Result<Option<DatasetRecord>> {
        self.lookup(move |tx| datasets::get(tx, id)).await
    }

    async fn dataset_items(&self, id: DatasetId, shard: Option<u32>) -> Result<Vec<DatasetItem>> {
        self.read(move |tx| datasets::items_of(tx, id, shard)).await
    }

    async fn register_model(&self, model: &ModelRecord, inputs: &[(DatasetId, u32)], entry: &NewEntry) -> Result<u64> {
        let (m, inputs, entry) = (model.clone(), inputs.to_vec(), entry.clone());
        self.write(move |tx| datasets::register_model(tx, &m, &inputs, &entry)).await
    }

    async fn model(&self, id: ModelId) -> Result<Option<ModelRecord>> {
        self.lookup(move |tx| datasets::model(tx, id)).await
    }

    async fn model_flags(&self, id: ModelId) -> Result<Vec<ModelFlag>> {
        self.read(move |tx| datasets::flags_of(tx, id)).await
    }

    async fn resolve_model(
        &self,
        id: ModelId,
        processor: ProcessorId,
        resolution: &ModelResolution,
        entry: &NewEntry,
    ) -> Result<ModelRecord> {
        let (r, entry) = (resolution.clone(), entry.clone());
        self.write(move |tx| datasets::resolve_model(tx, id, processor, &r, &entry)).await
    }

    async fn lineage_backlog(&self, limit: u32) -> Result<LineageBacklog> {
        self.read(move |tx| datasets::lineage_backlog(tx, limit)).await
    }

    async fn lineage_sent(&self, datasets: &[DatasetId], models: &[ModelId], at: Timestamp) -> Result<()> {
        let (d, m) = (datasets.to_vec(), models.to_vec());
        self.write(move |tx| datasets::lineage_sent(tx, &d, &m, at)).await
    }

    async fn flagged_models(&self, deletion: Option<DeletionId>) -> Result<Vec<(ModelRecord, u64, Timestamp)>> {
        self.single_scan(move |tx| datasets::flagged_models(tx, deletion)).await
    }

    async fn models_flagged_by(&self, ids: &[DeletionId]) -> Result<Vec<(DeletionId, ModelRecord, u64, Timestamp)>> {
        let ids = ids.to_vec();
        self.read(move |tx| datasets::models_flagged_by(tx, &ids)).await
    }

    async fn guardian(&self, id: GuardianId) -> Result<Option<GuardianRecord>> {
        self.lookup(move |tx| accounts::guardian(tx, id)).await
    }

    async fn set_time_zone(&self, id: GuardianId, zone: Option<&str>) -> Result<bool> {
        let zone = zone.map(str::to_owned);
        self.write(move |tx| accounts::set_time_zone(tx, id, zone.as_deref())).await
    }

    async fn set_language(&self, id: GuardianId, language: Option<&str>) -> Result<bool> {
        let language = language.map(str::to_owned);
        self.write(move |tx| accounts::set_language(tx, id, language.as_deref())).await
    }

    async fn begin_household_closure(&self, household: HouseholdId, at: Timestamp) -> Result<()> {
        self.write(move |tx| children::begin_household_closure(tx, household, at)).await
    }

    async fn closing_households(&self) -> Result<Vec<HouseholdId>> {
        self.read(move |tx| children::closing_households(tx)).await
    }

    async fn purge_household(
        &self,
        household: HouseholdId,
        settled_before: Timestamp,
        entry: &NewEntry,
    ) -> Result<bool> {
        let entry = entry.clone();
        self.write(move |tx| accounts::purge_household(tx, household, settled_before, &entry)).await
    }

    async fn claim_due_notices(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<NoticeRecord>> {
        self.write(move |tx| outbox::claim_due(tx, now, lease_until, limit)).await
    }

    async fn record_notice_delivery(&self, id: NoticeId, at: Timestamp, outcome: &NoticeDelivery) -> Result<()> {
        let outcome = outcome.clone();
        self.write(move |tx| outbox::record_delivery(tx, id, at, &outcome)).await
    }

    async fn notices_for(&self, guardian: GuardianId, limit: u32) -> Result<Vec<NoticeRecord>> {
        self.read(move |tx| outbox::for_guardian(tx, guardian, limit)).await
    }

    async fn acquire_lease(&self, name: &str, holder: uuid::Uuid, now: Timestamp, until: Timestamp) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |tx| children::acquire_lease(tx, &name, holder, now, until)).await
    }

    async fn release_lease(&self, name: &str, holder: uuid::Uuid) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| children::release_lease(tx, &name, holder)).await
    }

    async fn record_sign_in_failure(&self, keys: &[[u8; 32]], at: Timestamp, forget_before: Timestamp) -> Result<()> {
        let keys = keys.to_vec();
        self.write(move |tx| children::record_sign_in_failure(tx, &keys, at, forget_before)).await
    }

    async fn sign_in_failures(&self, keys: &[[u8; 32]], since: Timestamp, limit: u32) -> Result<Vec<Vec<Timestamp>>> {
        let keys = keys.to_vec();
        self.read(move |tx| children::sign_in_failures(tx, &keys, since, limit)).await
    }

    async fn clear_sign_in_failures(&self, key: &[u8; 32]) -> Result<()> {
        let key = *key;
        self.write(move |tx| children::clear_sign_in_failures(tx, &key)).await
    }

    async fn prune_sign_in_failures(&self, before: Timestamp) -> Result<u64> {
        self.write(move |tx| children::prune_sign_in_failures(tx, before)).await
    }
}

#[async_trait]
impl<B: KeystoreBackend> Keystore for B {
    async fn insert_child_key(&self, child: ChildId, epoch: u32, wrapped: &[u8], at: Timestamp) -> Result<()> {
        let wrapped = wrapped.to_vec();
        self.write(move |tx| keys::insert_child_key(tx, child, epoch, &wrapped, at)).await
    }

    async fn child_key(&self, child: ChildId, epoch: u32) -> Result<Option<Vec<u8>>> {
        self.read(move |tx| keys::child_key(tx, child, epoch)).await
    }

    async fn latest_child_key(&self, child: ChildId) -> Result<Option<(u32, Vec<u8>)>> {
        self.read(move |tx| keys::latest_child_key(tx, child)).await
    }

    async fn destroy_child_keys(&self, children: &[ChildId]) -> Result<u64> {
        let children = children.to_vec();
        self.write(move |tx| keys::destroy_child_keys(tx, &children)).await
    }

    async fn put_item_keys(&self, item_keys: &[ItemKey]) -> Result<()> {
        let item_keys = item_keys.to_vec();
        self.write(move |tx| keys::put_item_keys(tx, &item_keys)).await
    }

    async fn item_key(&self, item: ItemId) -> Result<Option<(u32, Vec<u8>)>> {
        self.lookup(move |tx| keys::item_key(tx, item)).await
    }

    async fn destroy_item_keys(&self, items: &[ItemId]) -> Result<u64> {
        let items = items.to_vec();
        self.write(move |tx| keys::destroy_item_keys(tx, &items)).await
    }

    async fn seal_generations(&self) -> Result<Vec<SealGeneration>> {
        self.read(keys::seal_generations).await
    }

    async fn begin_seal_generation(&self, generation: &SealGeneration) -> Result<bool> {
        let generation = generation.clone();
        self.write(move |tx| keys::begin_seal_generation(tx, &generation)).await
    }

    async fn complete_seal_generation(&self, generation: u32, at: Timestamp) -> Result<()> {
        self.write(move |tx| keys::complete_seal_generation(tx, generation, at)).await
    }

    async fn forget_seal_generations_before(&self, generation: u32) -> Result<u64> {
        self.write(move |tx| keys::forget_seal_generations_before(tx, generation)).await
    }

    async fn key_rows_below(&self, prefix: &[u8], after: Option<KeyRowId>, limit: u32) -> Result<Vec<KeyRow>> {
        let prefix = prefix.to_vec();
        self.read(move |tx| keys::key_rows_below(tx, &prefix, after, limit)).await
    }

    async fn reseal_key_rows(&self, rows: &[Resealed]) -> Result<u64> {
        let rows = rows.to_vec();
        self.write(move |tx| keys::reseal_key_rows(tx, &rows)).await
    }

    async fn scrub(&self) -> Result<()> {
        SqlExecutor::scrub(self).await
    }

    fn scrubs_its_files(&self) -> bool {
        SqlExecutor::scrubs_its_files(self)
    }

    async fn check_integrity(&self) -> Result<()> {
        SqlExecutor::check_integrity(self).await
    }

    async fn deployment_binding(&self) -> Result<Option<String>> {
        self.read(deployment::binding).await
    }

    async fn bind_deployment(&self, binding: &str) -> Result<String> {
        let binding = binding.to_owned();
        self.write(move |tx| deployment::bind(tx, &binding)).await
    }
}
