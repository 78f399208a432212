//! A completed deletion's receipt: the document the guardian keeps, and the
//! ledger entries (`key.destroyed`, `deletion.completed`) whose
//! `hashes.document` commits to it. Built from what the deletion covered,
//! the processors' acknowledgements and the models it flagged; never content.

use std::collections::BTreeMap;

use kidvault_domain::deletion::{DeletionReason, DeletionScope};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_ledger::hash::to_hex;
use kidvault_store::{DeletionItem, DeletionRecord, ModelRecord, TaskRecord};
use serde::Serialize;

use super::{rfc3339, KeyRemnants, COPIES, COPIES_POSTGRES, COPIES_POSTGRES_UNSEALED};
use crate::{Result, ServiceError, Vault};

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

/// What completing a deletion writes: the receipt, its ledger entries, and
/// the guardians' notices.
pub(super) struct Completion {
    pub document: String,
    pub entries: Vec<NewEntry>,
    pub notices: Vec<NewNotice>,
}

impl Vault {
    /// The completion of `d`, which covered `items`, was acknowledged by
    /// `tasks` and flagged `models` (each with when it was first flagged).
    pub(super) fn completion(
        &self,
        d: &DeletionRecord,
        items: &[DeletionItem],
        tasks: &[TaskRecord],
        models: &[(ModelRecord, Timestamp)],
        now: Timestamp,
    ) -> Result<Completion> {
        let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut categories: BTreeMap<&'static str, u64> = BTreeMap::new();
        for i in items {
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
        let processors = tasks
            .iter()
            .map(|t| ProcessorAck {
                categories: serde_json::from_str::<serde_json::Value>(&t.payload)
                    .ok()
                    .and_then(|v| serde_json::from_value(v["categories"].clone()).ok())
                    .unwrap_or_default(),
                name: t.processor_name.clone(),
                acknowledged_at: t.acknowledged_at.map(rfc3339),
                acknowledged_via: t.acknowledged_via.clone(),
                attempts: t.attempts,
            })
            .collect();
        let models = models
            .iter()
            .map(|(m, first_raised)| ModelDuty {
                model_id: m.id.to_string(),
                name: m.name.clone(),
                version: m.version.clone(),
                due_by: rfc3339(*first_raised + self.config.retrain_deadline),
                outcome: m.outcome.clone(),
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
        Ok(Completion { document, entries: vec![key_entry, done], notices })
    }
}
