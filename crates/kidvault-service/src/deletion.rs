//! Deletion that is complete and provable.
//!
//! A request is recorded (202), then [`Vault::run_deletions`] drives every open
//! deletion through its durable steps (see `kidvault_domain::deletion`): resolve
//! the scope through lineage; shred (a child: every key epoch and every item key
//! destroyed; items: their data keys destroyed, in the keystore, the only place
//! they are kept, so a backup of the data store opens none of them either), and
//! the keystore scrubbed so that no file holds a copy of a destroyed key before
//! the step is recorded; `rotated` (kept for deletions recorded by older
//! versions, which rotated the child key; nothing to do since item keys are per
//! item); purge rows and blobs, and scrub the data store likewise;
//! dispatch a task to every downstream processor concerned and wait for each to
//! acknowledge (see [`crate::downstream`]);
//! complete (ledger entries `key.destroyed` and `deletion.completed`, whose
//! `hashes.document` is the SHA-256 of the receipt). Every step is idempotent and
//! recorded before the next, so a process killed anywhere resumes on restart.

use std::collections::{BTreeMap, HashMap};

use kidvault_domain::deletion::{DeletionReason, DeletionScope, DeletionStep};
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::{ChildId, DeletionId, ItemId};
use kidvault_domain::item::{ItemKind, ItemState};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::EntryKind;
use kidvault_ledger::hash::to_hex;
use kidvault_ledger::receipt::{DocumentReceipt, EntryProof};
pub use kidvault_store::DeletionRecord;
use serde::Serialize;

use crate::access::{Action, Actor, Grant, GuardianSession};
use crate::batch::{at_once, try_at_once, AT_ONCE};
use crate::{Result, ServiceError, Vault};

/// A deletion to do again after a restore: whose, and what.
pub type Redo = (ChildId, kidvault_domain::ids::HouseholdId, DeletionScope);

/// What a completed deletion means for copies, as receipts say it, where the
/// keystore leaves no byte of a destroyed key in its files (the embedded store).
pub const COPIES: &str = "unreadable now in every live copy (its keys are destroyed and no file kidvault writes \
     keeps them); a kidvault backup taken before the deletion cannot be opened after the date given, when the \
     last backup key that could hold them is destroyed";

/// The same on PostgreSQL, whose files keep a deleted row's bytes for a while,
/// with the keystore re-sealed on schedule (`key_reseal_hours`).
pub const COPIES_POSTGRES: &str = "unreadable now through kidvault and in every copy of the data (its keys are \
     destroyed); the PostgreSQL server may keep the destroyed keys' bytes in its own files until routine cleanup \
     (VACUUM, WAL recycling) and in its archives, sealed under a key that every kidvault node forgets by the date \
     given, after which nothing opens them; a kidvault backup taken before the deletion cannot be opened after \
     that date either";

/// The same on PostgreSQL with re-sealing turned off (`key_reseal_hours = 0`).
pub const COPIES_POSTGRES_UNSEALED: &str = "unreadable now through kidvault and in every copy of the data (its \
     keys are destroyed); the PostgreSQL server may keep the destroyed keys' bytes in its own files until routine \
     cleanup (VACUUM, WAL recycling) and in its archives as long as they are kept, unreadable without the root key, \
     which never enters the database; a kidvault backup taken before the deletion cannot be opened after the date \
     given";

/// What is left of a destroyed key in files kidvault cannot scrub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRemnants {
    /// Nothing: the keystore scrubs its files (the embedded store).
    None,
    /// Bytes the database keeps, which open with nothing once this long has
    /// passed (the seal chain forgets their generation; see [`crate::reseal`]).
    OpenUntil(chrono::Duration),
    /// Bytes the database keeps until its own cleanup (re-sealing is off).
    UntilCleanup,
}

/// The receipt's body: what was requested and what was deleted. Never content.
#[derive(Serialize)]
struct ReceiptBody<'a> {
    receipt: &'static str,
    deletion_id: String,
    household_id: String,
    child_id: String,
    requested_by: &'a str,
    requested_at: String,
    reason: &'static str,
    scope: &'a DeletionScope,
    completed_at: String,
    items: usize,
    kinds: BTreeMap<&'static str, u64>,
    categories: BTreeMap<&'static str, u64>,
    /// SHA-256 over the sorted deleted item ids, one per line.
    deleted_ids_sha256: String,
    keys_destroyed: String,
    /// What holds for copies: unreadable in every live copy now; no kidvault
    /// backup taken before the deletion opens after `backups_unrecoverable_after`.
    copies: String,
    backups_unrecoverable_after: String,
    /// Every downstream processor told, and when it acknowledged.
    processors: Vec<ProcessorAck>,
    /// Every model trained on the deleted data when it was deleted: its trainer
    /// must retrain it without the data or destroy it, by `due_by`.
    models: Vec<ModelDuty>,
}

#[derive(Serialize)]
struct ModelDuty {
    model_id: String,
    name: String,
    version: String,
    due_by: String,
    /// `retrained` or `destroyed`, if the trainer has already said so.
    outcome: Option<String>,
}

#[derive(Serialize)]
struct ProcessorAck {
    name: String,
    categories: Vec<String>,
    acknowledged_at: Option<String>,
    acknowledged_via: Option<String>,
    attempts: u32,
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Where in a child's data an items deletion reaches: a time range
/// (`[from, to)`) and the items one device sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Within {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub device: Option<kidvault_domain::ids::DeviceId>,
}

impl Vault {
    async fn request_deletion(&self, grant: &Grant, scope: DeletionScope, now: Timestamp) -> Result<DeletionId> {
        let child = &grant.child().child;
        let requested_by = grant.actor().to_owned();
        self.record_deletion(child.id, child.household_id, requested_by, DeletionReason::Guardian, scope, now).await
    }

    /// Records a deletion request (step `requested`); the runner takes it from there.
    pub(crate) async fn record_deletion(
        &self,
        child_id: ChildId,
        household_id: kidvault_domain::ids::HouseholdId,
        requested_by: String,
        reason: DeletionReason,
        scope: DeletionScope,
        now: Timestamp,
    ) -> Result<DeletionId> {
        let d = DeletionRecord::requested(child_id, household_id, requested_by, reason, scope, now);
        self.store.create_deletion(&d).await?;
        Ok(d.id)
    }

    /// What destroyed keys leave in files kidvault cannot scrub, which is what
    /// the portal and receipts may then say.
    pub fn key_remnants(&self) -> KeyRemnants {
        if self.keys.keystore().scrubs_its_files() {
            KeyRemnants::None
        } else if self.config.reseal_every.is_some() {
            KeyRemnants::OpenUntil(self.config.backup_window)
        } else {
            KeyRemnants::UntilCleanup
        }
    }

    /// The latest moment a kidvault backup taken before `at` can still be
    /// opened: every backup's key is destroyed one backup window after it.
    pub fn backups_unrecoverable_after(&self, at: Timestamp) -> Timestamp {
        at + self.config.backup_window
    }

    /// After the data store was restored from a backup: records again, as
    /// deletions with reason `restore`, what was deleted since the backup was
    /// taken (children and items whose keys the live keystore no longer has).
    /// The runner then purges them, so nothing deleted is listed again.
    pub async fn redo_deletions(
        &self,
        deleted: &[(ChildId, kidvault_domain::ids::HouseholdId, DeletionScope)],
        now: Timestamp,
    ) -> Result<Vec<DeletionId>> {
        let mut ids = Vec::with_capacity(deleted.len());
        for (child, household, scope) in deleted {
            let id = self
                .record_deletion(
                    *child,
                    *household,
                    "system:restore".into(),
                    DeletionReason::Restore,
                    scope.clone(),
                    now,
                )
                .await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// What a deletion would cover if requested now, by kind, lineage included:
    /// what the confirmation says will go. `Item` scopes name their child's item.
    pub async fn preview_deletion(
        &self,
        g: &GuardianSession,
        child: ChildId,
        scope: &DeletionScope,
    ) -> Result<Vec<(ItemKind, u64)>> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        Ok(self.store.preview_deletion(grant.child_id(), scope).await?)
    }

    /// The household's deletions, newest first (the portal's deletions page).
    pub async fn household_deletions(&self, g: &GuardianSession, limit: u32) -> Result<Vec<DeletionRecord>> {
        Ok(self.store.household_deletions(g.household_id, limit.clamp(1, 500)).await?)
    }

    /// Deletes an item and everything derived from it.
    pub async fn delete_item(&self, g: &GuardianSession, item: ItemId, now: Timestamp) -> Result<DeletionId> {
        let record = self.store.item(item).await?.ok_or(ServiceError::NotFound)?;
        let grant = self.authorize(Actor::Guardian(g), record.meta.child_id, Action::Manage).await?;
        if record.meta.state != ItemState::Live {
            return Err(ServiceError::NotFound);
        }
        self.request_deletion(&grant, DeletionScope::Item { item }, now).await
    }

    /// Deletes the child's items of some kinds and/or in a time range (`all`: every item).
    pub async fn delete_items(
        &self,
        g: &GuardianSession,
        child: ChildId,
        kinds: &[String],
        within: Within,
        all: bool,
        now: Timestamp,
    ) -> Result<DeletionId> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let kinds = kinds
            .iter()
            .map(|k| {
                ItemKind::parse(k)
                    .ok_or_else(|| ServiceError::invalid("unknown_kind", format!("unknown item kind {k:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let Within { from, to, device } = within;
        if let Some(d) = device {
            let theirs = self.store.device(d).await?.is_some_and(|r| r.device.child_id == grant.child_id());
            if !theirs {
                return Err(ServiceError::invalid("unknown_device", "device_id names none of this child's devices"));
            }
        }
        let narrowed = !kinds.is_empty() || from.is_some() || to.is_some() || device.is_some();
        if all == narrowed {
            return Err(ServiceError::invalid(
                "invalid_scope",
                "give either {\"all\": true} or at least one of kinds, from, to, device_id",
            ));
        }
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(ServiceError::invalid("invalid_scope", "from must be before to"));
            }
        }
        self.request_deletion(&grant, DeletionScope::Items { kinds, from, to, device }, now).await
    }

    /// Deletes the child: profile, keys, consents, devices and all its data. The
    /// child's keys are destroyed before this returns: every copy of its data is
    /// unreadable from then on, while the rest of the pipeline runs.
    pub async fn delete_child(&self, g: &GuardianSession, child: ChildId, now: Timestamp) -> Result<DeletionId> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        // Recorded first, so a crash right after still resumes (and re-shreds).
        let id = self.request_deletion(&grant, DeletionScope::Child, now).await?;
        self.keys.destroy(child).await?;
        Ok(id)
    }

    /// Closes the guardian's account: every child of the household is deleted
    /// (keys destroyed now, the pipeline runs on), no child can be added, and once
    /// every deletion has completed, and a grace period after (default 7 days) for
    /// the guardian to download the receipts, the guardians, their sessions and the
    /// household are purged (ledger entry `household.closed`).
    /// Returns the children's deletions.
    pub async fn close_household(
        &self,
        g: &GuardianSession,
        password: &str,
        now: Timestamp,
    ) -> Result<Vec<DeletionId>> {
        self.confirm_password(g, password).await?;
        // First, so no child can be added while the others are being deleted.
        self.store.begin_household_closure(g.household_id, now).await?;
        let mut ids = Vec::new();
        for c in self.store.children_of(g.household_id).await? {
            if c.child.status != kidvault_domain::entities::ChildStatus::Deleting {
                ids.push(self.delete_child(g, c.child.id, now).await?);
            }
        }
        Ok(ids)
    }

    /// Purges every closing household whose children's deletions all completed
    /// longer ago than the grace period.
    async fn purge_closed_households(&self, now: Timestamp) -> Result<()> {
        for hh in self.store.closing_households().await? {
            let mut entry = kidvault_ledger::entry::NewEntry {
                kind: EntryKind::HouseholdClosed,
                at: rfc3339(now),
                actor: "system".into(),
                household: Some(hh.to_string()),
                child: None,
                subjects: Vec::new(),
                purpose: None,
                counts: BTreeMap::new(),
                hashes: BTreeMap::new(),
                detail: BTreeMap::new(),
            };
            entry.detail.insert("purged".into(), "guardians, sessions, household".into());
            if self.store.purge_household(hh, now - self.config.closure_grace, &entry).await? {
                tracing::info!(household = %hh, "closed household purged");
            }
        }
        Ok(())
    }

    /// A deletion of the guardian's household, with the step it has reached.
    pub async fn deletion(&self, g: &GuardianSession, id: DeletionId) -> Result<DeletionRecord> {
        let d = self.store.deletion(id).await?.ok_or(ServiceError::NotFound)?;
        if d.household_id != g.household_id {
            return Err(ServiceError::NotFound);
        }
        Ok(d)
    }

    /// The receipt of a completed deletion: its body, and the ledger entry that
    /// commits to the body's hash with its proof and signed checkpoint.
    pub async fn deletion_receipt(
        &self,
        g: &GuardianSession,
        id: DeletionId,
        now: Timestamp,
    ) -> Result<DocumentReceipt> {
        let d = self.deletion(g, id).await?;
        let (Some(document), Some(index)) = (d.summary, d.ledger_index) else {
            return Err(ServiceError::Conflict {
                code: "deletion_pending",
                message: format!("the deletion is at step {}; the receipt exists once it completes", d.step.as_str()),
            });
        };
        let body = self.store.ledger_entry(index).await?.ok_or(ServiceError::NotFound)?.body;
        let (size, note) = self.checkpoint(now).await?;
        let proof = self.store.inclusion_proof(index, size).await?;
        Ok(DocumentReceipt { document, ledger: EntryProof::new(&body, index, size, &proof, note) })
    }

    /// Drives every open deletion to completion (or to waiting for downstream
    /// processors); returns how many completed. One
    /// runner at a time; a deletion that fails stays at its step and is retried on
    /// the next run. Every deletion is first made unreadable (shredded); then the
    /// child key is rotated once per child for all of its item deletions, instead
    /// of once per deletion; then each is purged and completed.
    pub async fn run_deletions(&self, now: Timestamp) -> Result<usize> {
        let _guard = self.deletion_runner.lock().await;
        // Across nodes: only the holder of the lease runs deletions, renewing it
        // as the run goes (see [`Lease`]); if it is lost (a stall past the
        // lease), the run stops.
        let mut lease = Lease::new(now, self.config.lease_ttl);
        if !lease.held(self).await? {
            return Ok(0);
        }
        let clock = std::time::Instant::now();
        let mut phases = Vec::new();
        let mut mark = |phase: &'static str| phases.push((phase, clock.elapsed().as_millis()));
        let mut open = Vec::new();
        for chunk in self.store.open_deletions().await?.chunks(AT_ONCE) {
            if !lease.held(self).await? {
                return Ok(0);
            }
            // Deletions of a chunk step at once: their writes share commits.
            let stepped = at_once(chunk.iter().cloned().map(|d| async move {
                let id = d.id;
                let d = if d.step == DeletionStep::Requested { self.step_once(d, now).await } else { Ok(d) };
                d.map_err(|e| tracing::error!(deletion = %id, error = %e, "deletion step failed; will retry")).ok()
            }))
            .await;
            open.extend(stepped.into_iter().flatten());
        }
        // Every resolved deletion's keys go, then one scrub of the keystore covers
        // them all, then each is recorded shredded; purges likewise share one
        // scrub of the data store.
        let at = |open: &[DeletionRecord], step| open.iter().filter(|d| d.step == step).cloned().collect::<Vec<_>>();
        mark("resolve");
        self.shred(&at(&open, DeletionStep::Resolved), now).await?;
        mark("shred");
        let open = self.refreshed(open).await?;
        mark("refresh");
        try_at_once(at(&open, DeletionStep::Shredded).into_iter().map(|d| async move {
            self.store.set_deletion_step(d.id, DeletionStep::Rotated, now).await?;
            crate::fault::after_step(DeletionStep::Rotated);
            Ok(())
        }))
        .await?;
        mark("rotate");
        let open = self.refreshed(open).await?;
        self.purge(&at(&open, DeletionStep::Rotated), now).await?;
        mark("purge");
        // A deletion whose shred or purge failed is retried on the next run.
        let ready: Vec<DeletionRecord> =
            self.refreshed(open).await?.into_iter().filter(|d| d.step >= DeletionStep::Purged).collect();
        mark("refresh");
        let mut done = 0;
        for chunk in ready.chunks(AT_ONCE) {
            if !lease.held(self).await? {
                return Ok(done);
            }
            let advanced = at_once(chunk.iter().cloned().map(|d| async move {
                let id = d.id;
                self.advance(d, now)
                    .await
                    .map_err(|e| tracing::error!(deletion = %id, error = %e, "deletion step failed; will retry"))
                    .unwrap_or(false)
            }))
            .await;
            done += advanced.into_iter().filter(|completed| *completed).count();
        }
        mark("complete");
        tracing::debug!(completed = done, phases = ?phases, "deletion run (milliseconds since start)");
        if let Err(e) = self.purge_closed_households(now).await {
            tracing::error!(error = %e, "purging closed households failed; will retry");
        }
        Ok(done)
    }

    /// The deletions as they are now in the store.
    async fn refreshed(&self, ds: Vec<DeletionRecord>) -> Result<Vec<DeletionRecord>> {
        let ids: Vec<DeletionId> = ds.iter().map(|d| d.id).collect();
        let mut now: HashMap<DeletionId, DeletionRecord> =
            self.store.deletions(&ids).await?.into_iter().map(|d| (d.id, d)).collect();
        Ok(ids.iter().filter_map(|id| now.remove(id)).collect())
    }

    /// Step `resolved → shredded` for each deletion: destroys its keys (a
    /// child's: every epoch and every item key; items': their data keys), then
    /// scrubs the keystore once, so no file holds a copy of any of them, then
    /// records each shredded. A deletion whose keys could not be destroyed stays
    /// resolved (retried on the next run).
    async fn shred(&self, ds: &[DeletionRecord], now: Timestamp) -> Result<()> {
        if ds.is_empty() {
            return Ok(());
        }
        let destroyed = at_once(ds.iter().cloned().map(|d| async move {
            let result = if d.scope.is_child() {
                self.keys.destroy(d.child_id).await.map(drop)
            } else {
                match self.store.deletion_items(d.id).await {
                    Ok(items) => {
                        let ids: Vec<ItemId> = items.iter().map(|i| i.item_id).collect();
                        self.keys.destroy_items(&ids).await.map(drop)
                    }
                    Err(e) => Err(e.into()),
                }
            };
            match result {
                Ok(()) => Some(d),
                Err(e) => {
                    tracing::error!(deletion = %d.id, error = %e, "destroying keys failed; will retry");
                    None
                }
            }
        }))
        .await;
        self.keys.scrub().await?;
        try_at_once(destroyed.into_iter().flatten().map(|d| async move {
            if d.scope.is_child() {
                self.store.set_deletion_step(d.id, DeletionStep::Shredded, now).await?;
            } else {
                self.store.shred_deletion_items(d.id, now).await?;
            }
            crate::fault::after_step(DeletionStep::Shredded);
            Ok(())
        }))
        .await?;
        Ok(())
    }

    /// Step `rotated → purged` for each deletion: zeroes its blobs, deletes its
    /// rows, then scrubs the data store once for all of them.
    async fn purge(&self, ds: &[DeletionRecord], now: Timestamp) -> Result<()> {
        if ds.is_empty() {
            return Ok(());
        }
        at_once(ds.iter().cloned().map(|d| async move {
            // Blobs first: zeroing is idempotent, and the rows still name them.
            let purged = async {
                let blobs: Vec<_> = self.store.deletion_items(d.id).await?.into_iter().filter_map(|i| i.blob).collect();
                self.blobs.delete_many(&blobs).await?;
                self.store.purge_deletion(d.id, now).await?;
                Ok::<_, ServiceError>(())
            };
            if let Err(e) = purged.await {
                tracing::error!(deletion = %d.id, error = %e, "purge failed; will retry");
            }
        }))
        .await;
        // A crash before this scrub is covered by the one every start does.
        self.store.scrub().await?;
        // Only a test build stops here (each check is a read per deletion).
        if cfg!(feature = "fault-injection") {
            for d in ds {
                if self.store.deletion(d.id).await?.is_some_and(|r| r.step == DeletionStep::Purged) {
                    crate::fault::after_step(DeletionStep::Purged);
                }
            }
        }
        Ok(())
    }

    /// Steps the deletion until it completes or waits (for processors to acknowledge).
    async fn advance(&self, mut d: DeletionRecord, now: Timestamp) -> Result<bool> {
        while d.step != DeletionStep::Completed {
            let before = d.step;
            d = self.step_once(d, now).await?;
            if d.step == before {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Performs exactly one step of a deletion and returns the step it reached.
    /// (The runner loops over this; tests use it to stop at every boundary.)
    pub async fn step_deletion(&self, id: DeletionId, now: Timestamp) -> Result<DeletionStep> {
        let _guard = self.deletion_runner.lock().await;
        let d = self.store.deletion(id).await?.ok_or(ServiceError::NotFound)?;
        Ok(self.step_once(d, now).await?.step)
    }

    async fn step_once(&self, d: DeletionRecord, now: Timestamp) -> Result<DeletionRecord> {
        match d.step {
            DeletionStep::Requested => {
                self.store.resolve_deletion(d.id, now).await?;
            }
            DeletionStep::Resolved => self.shred(std::slice::from_ref(&d), now).await?,
            DeletionStep::Shredded => {
                self.store.set_deletion_step(d.id, DeletionStep::Rotated, now).await?;
            }
            DeletionStep::Rotated => self.purge(std::slice::from_ref(&d), now).await?,
            DeletionStep::Purged => self.dispatch(&d, now).await?,
            DeletionStep::Dispatched => {
                let tasks = self.store.deletion_tasks(d.id).await?;
                if tasks.iter().all(|t| t.state == TaskState::Acknowledged) {
                    self.store.set_deletion_step(d.id, DeletionStep::Acknowledged, now).await?;
                }
            }
            DeletionStep::Acknowledged => self.complete(&d, now).await?,
            DeletionStep::Completed => {}
        }
        let after = self.store.deletion(d.id).await?.ok_or(ServiceError::NotFound)?;
        crate::fault::after_step(after.step);
        Ok(after)
    }

    async fn complete(&self, d: &DeletionRecord, now: Timestamp) -> Result<()> {
        let items = self.store.deletion_items(d.id).await?;
        let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut categories: BTreeMap<&'static str, u64> = BTreeMap::new();
        for i in &items {
            *kinds.entry(i.kind.as_str()).or_default() += 1;
            *categories.entry(i.category.as_str()).or_default() += 1;
        }
        let mut ids: Vec<String> = items.iter().map(|i| i.item_id.to_string()).collect();
        ids.sort();
        let ids_hash = to_hex(&kidvault_crypto::sha256(ids.join("\n").as_bytes()));
        let keys_destroyed = if d.scope.is_child() {
            "every key of the child: its child key and every item's data key".to_owned()
        } else {
            format!("{} item data keys", items.len())
        };
        let processors = self
            .store
            .deletion_tasks(d.id)
            .await?
            .into_iter()
            .map(|t| ProcessorAck {
                categories: serde_json::from_str::<serde_json::Value>(&t.payload)
                    .ok()
                    .and_then(|v| serde_json::from_value(v["categories"].clone()).ok())
                    .unwrap_or_default(),
                name: t.processor_name,
                acknowledged_at: t.acknowledged_at.map(rfc3339),
                acknowledged_via: t.acknowledged_via,
                attempts: t.attempts,
            })
            .collect();
        let models = self
            .models_flagged(Some(d.id))
            .await?
            .into_iter()
            .map(|f| ModelDuty {
                model_id: f.model.id.to_string(),
                name: f.model.name,
                version: f.model.version,
                due_by: rfc3339(f.deadline),
                outcome: f.model.outcome,
            })
            .collect();
        let body = ReceiptBody {
            receipt: "kidvault-deletion-receipt/v1",
            deletion_id: d.id.to_string(),
            household_id: d.household_id.to_string(),
            child_id: d.child_id.to_string(),
            requested_by: &d.requested_by,
            requested_at: rfc3339(d.requested_at),
            reason: d.reason.as_str(),
            scope: &d.scope,
            completed_at: rfc3339(now),
            items: items.len(),
            kinds: kinds.clone(),
            categories,
            deleted_ids_sha256: ids_hash.clone(),
            keys_destroyed: keys_destroyed.clone(),
            copies: match self.key_remnants() {
                KeyRemnants::None => COPIES,
                KeyRemnants::OpenUntil(_) => COPIES_POSTGRES,
                KeyRemnants::UntilCleanup => COPIES_POSTGRES_UNSEALED,
            }
            .to_owned(),
            backups_unrecoverable_after: rfc3339(self.backups_unrecoverable_after(now)),
            processors,
            models,
        };
        let document = serde_json::to_string_pretty(&body).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let subject = kidvault_domain::entities::Child {
            id: d.child_id,
            household_id: d.household_id,
            status: kidvault_domain::entities::ChildStatus::Deleting,
            created_at: d.requested_at,
            last_active_at: None,
            keep_recordings_days: None,
        };
        let mut key_entry = crate::ledger::entry(EntryKind::KeyDestroyed, now, "system", &subject);
        key_entry.subjects = vec![d.id.to_string()];
        key_entry.detail.insert("keys".into(), keys_destroyed);
        let mut done = crate::ledger::entry(EntryKind::DeletionCompleted, now, &d.requested_by, &subject);
        done.subjects = vec![d.id.to_string()];
        done.detail.insert("reason".into(), d.reason.as_str().into());
        done.detail.insert("scope".into(), serde_json::to_string(&d.scope).unwrap_or_default());
        done.counts.insert("items".into(), items.len() as u64);
        for (k, n) in &kinds {
            done.counts.insert(format!("kind.{k}"), *n);
        }
        done.hashes.insert("deleted_ids".into(), ids_hash);
        let digest = kidvault_crypto::sha256(document.as_bytes());
        done.hashes.insert("document".into(), to_hex(&digest));
        // Routine expiry of items under the retention policy is on the deletions
        // page with its receipt; every other completion is told to the guardians.
        // A deletion done again after a restore was told when it was first done.
        let routine =
            (d.reason == DeletionReason::Retention && !d.scope.is_child()) || d.reason == DeletionReason::Restore;
        let notices =
            if routine { Vec::new() } else { vec![crate::notices::deletion_completed(d, &kinds, items.len())] };
        self.store.complete_deletion(d.id, now, &document, &[key_entry, done], &notices).await?;
        Ok(())
    }
}

/// The deletion runner's lease, renewed as the run goes: at the start, then
/// whenever a quarter of its length has passed since it was last renewed (a
/// renewal is a write; once per deletion it cost a commit each). Each chunk of
/// work between checks is far shorter than the lease.
struct Lease {
    now: Timestamp,
    started: std::time::Instant,
    every: std::time::Duration,
    renewed: Option<std::time::Instant>,
}

impl Lease {
    fn new(now: Timestamp, ttl: chrono::Duration) -> Self {
        let every = ttl.to_std().unwrap_or_default() / 4;
        Self { now, started: std::time::Instant::now(), every, renewed: None }
    }

    /// Whether this node holds the lease (renewing it when due).
    async fn held(&mut self, vault: &Vault) -> Result<bool> {
        if self.renewed.is_some_and(|at| at.elapsed() < self.every) {
            return Ok(true);
        }
        let at = crate::leases::later(self.now, self.started);
        let held = vault.hold_lease(crate::leases::DELETIONS, at).await?;
        self.renewed = held.then(std::time::Instant::now);
        Ok(held)
    }
}
