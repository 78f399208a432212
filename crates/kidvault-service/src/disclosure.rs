//! Use controls: a child's data leaves kidvault only through here.
//!
//! A registered processor fetches what it may receive with a signed request
//! ([`Vault::disclose_next`]); kidvault hands out only items whose consent in
//! force allows the processor's purpose (`kidvault_domain::disclosure`), records
//! every item sent (processor, purpose, category, the consent it went under)
//! with a `data.disclosed` ledger entry per child in the same transaction, and
//! only then returns the content. When a parent withdraws the consent a purpose
//! needs, [`Vault::recall_withdrawn`] sends each processor that received the
//! child's data for it a signed, acknowledged request to delete exactly what it
//! received (the same tasks as deletions use). Parents see all of it as the
//! child's disclosure register ([`Vault::disclosure_register`]).

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use bytes::Bytes;
use kidvault_domain::consent::Consent;
use kidvault_domain::disclosure::{disclosure_basis, Purpose};
use kidvault_domain::ids::{ChildId, ItemId, ProcessorId, TaskId};
use kidvault_domain::item::{DataCategory, ItemKind};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::EntryKind;
use kidvault_store::{ChildRecord, Disclosure, DisclosureSummary, ProcessorRecord, Recall, Sealed, StoredContent};
use kidvault_store::{ItemRecord, TaskRecord};
use serde::{Deserialize, Serialize};

use crate::access::{Action, Actor, GuardianSession};
use crate::{Result, ServiceError, Vault};

/// The most items one request may ask for.
pub const MAX_BATCH: u32 = 100;

/// What a processor asks for (the signed request body).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedRequest {
    processor_id: String,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    20
}

/// One item as a processor receives it.
#[derive(Clone, Debug, Serialize)]
pub struct DisclosedItem {
    pub item_id: ItemId,
    /// The child, by kidvault's opaque id (name this id in any later question).
    pub child_id: ChildId,
    pub kind: ItemKind,
    pub category: String,
    pub recorded_at: Timestamp,
    pub derived_from: Vec<ItemId>,
    pub media_type: String,
    /// The content, base64 (standard alphabet, padded).
    pub content_base64: String,
}

/// A batch sent to a processor.
#[derive(Clone, Debug, Serialize)]
pub struct Disclosed {
    pub processor_id: ProcessorId,
    pub purpose: Purpose,
    pub items: Vec<DisclosedItem>,
    /// More items are waiting: ask again.
    pub more: bool,
}

/// What one processor received of a child, and what it was asked to delete.
#[derive(Clone, Debug)]
pub struct RegisterEntry {
    pub processor_id: ProcessorId,
    pub processor_name: String,
    pub purpose: Purpose,
    pub categories: Vec<DisclosureSummary>,
    /// Deletion and recall requests sent to it about this child, oldest first.
    pub tasks: Vec<TaskRecord>,
}

/// Who received a child's data: every processor that received something, and
/// every other processor (in service, or that was sent a request about the
/// child) with nothing received.
#[derive(Clone, Debug)]
pub struct DisclosureRegister {
    pub received: Vec<RegisterEntry>,
    /// Processors that received nothing of this child (`categories` empty),
    /// with any deletion request they were sent about it.
    pub nothing: Vec<RegisterEntry>,
}

impl DisclosureRegister {
    /// The register as the export's `disclosures.json`.
    pub fn to_json(&self) -> serde_json::Value {
        let task = |t: &TaskRecord| {
            serde_json::json!({
                "kind": if t.deletion_id.is_some() { "deletion" } else { "recall" },
                "task_id": t.id,
                "deletion_id": t.deletion_id,
                "state": t.state.as_str(),
                "requested_at": t.created_at,
                "deadline": t.deadline,
                "acknowledged_at": t.acknowledged_at,
            })
        };
        let received: Vec<serde_json::Value> = self
            .received
            .iter()
            .map(|e| {
                serde_json::json!({
                    "processor": e.processor_name,
                    "purpose": e.purpose.as_str(),
                    "purpose_text": e.purpose.plain(),
                    "received": e.categories.iter().map(|s| serde_json::json!({
                        "category": s.category.as_str(),
                        "items": s.items,
                        "first_at": s.first_at,
                        "last_at": s.last_at,
                        "recalled": s.recalled,
                    })).collect::<Vec<_>>(),
                    "deletion_requests": e.tasks.iter().map(task).collect::<Vec<_>>(),
                })
            })
            .collect();
        let nothing: Vec<serde_json::Value> = self
            .nothing
            .iter()
            .map(|e| {
                serde_json::json!({
                    "processor": e.processor_name,
                    "purpose": e.purpose.as_str(),
                    "deletion_requests": e.tasks.iter().map(task).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({"received": received, "received_nothing": nothing})
    }
}

/// A processor in service as the consent page names it, and what it receives
/// of one child under the consents in force now.
#[derive(Clone, Debug)]
pub struct Recipient {
    pub name: String,
    pub purpose: Purpose,
    pub categories: Vec<DataCategory>,
    pub standing: Standing,
}

/// Whether a processor receives a child's data now, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The consents in force allow it for at least one category it holds.
    Receives,
    /// Its purpose's scope is in force, but granted before it was registered:
    /// nothing until the parent gives consent again.
    NewSinceConsent,
    /// The scope it needs is not in force.
    NotAllowed,
}

/// The recall webhook body: ids, categories and dates; never content.
#[derive(Serialize)]
struct RecallNotice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    task_id: TaskId,
    child_id: ChildId,
    reason: &'static str,
    purpose: &'static str,
    /// Delete these items and everything you made from them.
    item_ids: &'a [ItemId],
    categories: Vec<&'static str>,
    requested_at: Timestamp,
    deadline: Timestamp,
    ack_path: String,
}

fn bad_request(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::invalid(
        "invalid_feed_request",
        format!("the request body must be {{\"processor_id\", \"limit\"}}: {e}"),
    )
}

impl Vault {
    /// Hands a processor the next items it may receive (at most `limit`, up to
    /// [`MAX_BATCH`]), recording the disclosure first. Authenticated by the
    /// `Kidvault-Signature` header over the body, as acknowledgements are.
    pub async fn disclose_next(&self, signature: Option<&str>, body: &[u8], now: Timestamp) -> Result<Disclosed> {
        let req: FeedRequest = serde_json::from_slice(body).map_err(bad_request)?;
        let id: ProcessorId = req.processor_id.parse().map_err(|_| bad_request("processor_id is not an id"))?;
        if req.limit == 0 || req.limit > MAX_BATCH {
            return Err(ServiceError::invalid("invalid_limit", format!("limit must be 1 to {MAX_BATCH}")));
        }
        let p = self.signed_processor(id, signature, body, now).await?;
        // One more than asked: whether more are waiting.
        let mut candidates = self.store.disclosable_items(p.id, &self.notice_in_force, req.limit + 1).await?;
        let more = candidates.len() > req.limit as usize;
        candidates.truncate(req.limit as usize);

        let mut consents: HashMap<ChildId, (Vec<Consent>, Option<ChildRecord>)> = HashMap::new();
        let mut items = Vec::with_capacity(candidates.len());
        let mut rows = Vec::with_capacity(candidates.len());
        for item in candidates {
            let child = item.meta.child_id;
            if let std::collections::hash_map::Entry::Vacant(slot) = consents.entry(child) {
                slot.insert((self.store.consents_of(child).await?, self.store.child(child).await?));
            }
            let (history, record) = &consents[&child];
            let basis = disclosure_basis(p.purpose, item.meta.category, p.created_at, history, &self.notice_in_force);
            let (Some(consent_id), Some(_)) = (basis, record) else {
                // The store's selection and the rule disagree: the rule wins.
                tracing::error!(processor = %p.id, item = %item.meta.id, "store offered an item the consent rule refuses");
                continue;
            };
            let Some(content) = self.open_for_disclosure(&item).await? else { continue };
            rows.push(Disclosure {
                processor_id: p.id,
                item_id: item.meta.id,
                child_id: child,
                category: item.meta.category,
                consent_id,
                disclosed_at: now,
            });
            items.push(disclosed_item(&item, content));
        }
        let entries = disclosure_entries(&p, &rows, &consents, now);
        self.store.record_disclosures(&rows, &entries).await?;
        Ok(Disclosed { processor_id: p.id, purpose: p.purpose, items, more })
    }

    /// Decrypts an item to send it; `None` if it was deleted meanwhile (its key
    /// is gone), so it is not sent.
    pub(crate) async fn open_for_disclosure(&self, item: &ItemRecord) -> Result<Option<Bytes>> {
        let ciphertext = match &item.content {
            StoredContent::Inline(c) => c.clone(),
            StoredContent::Blob(loc) => match self.blobs.get(loc).await {
                Ok(b) => Vec::from(b),
                Err(kidvault_store::StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
        };
        let sealed = Sealed { epoch: item.key_epoch, wrapped_key: item.wrapped_key.clone(), ciphertext };
        match self.keys.open_owned(item.meta.child_id, item.meta.id.as_bytes(), sealed).await {
            Ok(plain) => Ok(Some(plain)),
            Err(ServiceError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a recall to every processor holding data for a purpose whose
    /// consent was withdrawn and not yet recalled. Run after each withdrawal
    /// and periodically (a crash between the two loses nothing). Returns the
    /// tasks created.
    pub async fn recall_withdrawn(&self, now: Timestamp) -> Result<u32> {
        let due = self.store.recalls_due(10_000).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut tasks = Vec::with_capacity(due.len());
        for r in due {
            let Some(p) = self.store.processor(r.processor_id).await? else { continue };
            tasks.push(self.recall_task(&p, r, now)?);
        }
        let created = self.store.create_recalls(&tasks).await?;
        tracing::info!(tasks = created, "recalled data whose consent was withdrawn");
        Ok(created)
    }

    fn recall_task(&self, p: &ProcessorRecord, r: Recall, now: Timestamp) -> Result<(TaskRecord, Vec<ItemId>)> {
        let id = TaskId::generate(now);
        let deadline = now + self.config.downstream.deadline;
        let notice = RecallNotice {
            kind: "kidvault.recall.v1",
            task_id: id,
            child_id: r.child_id,
            reason: "consent_withdrawn",
            purpose: p.purpose.as_str(),
            item_ids: &r.items,
            categories: r.categories.iter().map(|c| c.as_str()).collect(),
            requested_at: now,
            deadline,
            ack_path: format!("/api/v1/processor-tasks/{id}/ack"),
        };
        let payload = serde_json::to_string(&notice).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let task = TaskRecord::pending(id, None, r.child_id, p, payload, now, deadline);
        Ok((task, r.items))
    }

    /// Who received the child's data, for what, and what they were asked to delete.
    pub async fn disclosure_register(&self, g: &GuardianSession, child: ChildId) -> Result<DisclosureRegister> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        self.register_of(grant.child_id()).await
    }

    /// Every processor in service and whether it receives the child's data now.
    pub async fn recipients(&self, g: &GuardianSession, child: ChildId) -> Result<Vec<Recipient>> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        let consents = self.store.consents_of(grant.child_id()).await?;
        let notice = &self.notice_in_force;
        let mut out = Vec::new();
        for p in self.store.processors().await?.into_iter().filter(|p| p.disabled_at.is_none()) {
            let allowed = |registered| {
                p.categories.iter().any(|c| disclosure_basis(p.purpose, *c, registered, &consents, notice).is_some())
            };
            let standing = if allowed(p.created_at) {
                Standing::Receives
            } else if allowed(Timestamp::MIN_UTC) {
                Standing::NewSinceConsent
            } else {
                Standing::NotAllowed
            };
            out.push(Recipient { name: p.name, purpose: p.purpose, categories: p.categories, standing });
        }
        Ok(out)
    }

    pub(crate) async fn register_of(&self, child: ChildId) -> Result<DisclosureRegister> {
        let summaries = self.store.child_disclosures(child).await?;
        let tasks = self.store.child_tasks(child).await?;
        let mut received: Vec<RegisterEntry> = Vec::new();
        for s in summaries {
            match received.iter_mut().find(|e| e.processor_id == s.processor_id) {
                Some(e) => e.categories.push(s),
                None => received.push(RegisterEntry {
                    processor_id: s.processor_id,
                    processor_name: s.processor_name.clone(),
                    purpose: s.purpose,
                    categories: vec![s],
                    tasks: Vec::new(),
                }),
            }
        }
        let mut nothing: Vec<RegisterEntry> = Vec::new();
        for p in self.store.processors().await? {
            let listed = received.iter().any(|e| e.processor_id == p.id);
            let asked = tasks.iter().any(|t| t.processor_id == p.id);
            if !listed && (p.disabled_at.is_none() || asked) {
                nothing.push(RegisterEntry {
                    processor_id: p.id,
                    processor_name: p.name,
                    purpose: p.purpose,
                    categories: Vec::new(),
                    tasks: Vec::new(),
                });
            }
        }
        for e in received.iter_mut().chain(nothing.iter_mut()) {
            e.tasks = tasks.iter().filter(|t| t.processor_id == e.processor_id).cloned().collect();
        }
        Ok(DisclosureRegister { received, nothing })
    }
}

fn disclosed_item(item: &ItemRecord, content: Bytes) -> DisclosedItem {
    DisclosedItem {
        item_id: item.meta.id,
        child_id: item.meta.child_id,
        kind: item.meta.kind,
        category: item.meta.category.as_str().to_owned(),
        recorded_at: item.meta.recorded_at,
        derived_from: item.meta.derived_from.clone(),
        media_type: item.meta.kind.spec().media_type.to_owned(),
        content_base64: base64::engine::general_purpose::STANDARD.encode(content),
    }
}

/// One `data.disclosed` entry per child: the processor, its purpose, the
/// consents the items went under, the items, and counts per category.
fn disclosure_entries(
    p: &ProcessorRecord,
    rows: &[Disclosure],
    children: &HashMap<ChildId, (Vec<Consent>, Option<ChildRecord>)>,
    now: Timestamp,
) -> Vec<kidvault_ledger::entry::NewEntry> {
    let mut per_child: BTreeMap<ChildId, Vec<&Disclosure>> = BTreeMap::new();
    for r in rows {
        per_child.entry(r.child_id).or_default().push(r);
    }
    let actor = format!("processor:{}", p.id);
    let mut entries = Vec::with_capacity(per_child.len());
    for (child, sent) in per_child {
        let Some((_, Some(record))) = children.get(&child) else { continue };
        let mut e = crate::ledger::entry(EntryKind::DataDisclosed, now, &actor, &record.child);
        e.purpose = Some(p.purpose.as_str().to_owned());
        e.subjects = sent.iter().map(|d| d.item_id.to_string()).collect();
        e.detail.insert("processor".into(), p.name.clone());
        let mut consents: Vec<String> = sent.iter().map(|d| d.consent_id.to_string()).collect();
        consents.sort();
        consents.dedup();
        e.detail.insert("consents".into(), consents.join(","));
        for c in DataCategory::ALL {
            let n = sent.iter().filter(|d| d.category == c).count() as u64;
            if n > 0 {
                e.counts.insert(c.as_str().to_owned(), n);
            }
        }
        entries.push(e);
    }
    entries
}
