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

use std::collections::BTreeMap;

use kidvault_domain::deletion::{DeletionReason, DeletionScope};
use kidvault_domain::ids::{ChildId, DeletionId, ItemId};
use kidvault_domain::item::{ItemKind, ItemState};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::EntryKind;
use kidvault_ledger::receipt::{DocumentReceipt, EntryProof};
pub use kidvault_store::DeletionRecord;

use crate::access::{Action, Actor, Grant, GuardianSession};
use crate::{Result, ServiceError, Vault};

mod receipt;
mod runner;

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
}
