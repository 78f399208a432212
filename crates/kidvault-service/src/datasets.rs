//! Training datasets and model lineage, for `training` processors (ML pipelines).
//!
//! A pipeline asks for a snapshot by criteria (kinds, a recording-time range,
//! a number of shards); kidvault takes it in one transaction with the same
//! consent rule as every disclosure (see [`crate::disclosure`]) and assigns
//! each child to one SISA shard, so a later deletion or withdrawal names the one
//! shard to retrain. The pipeline reads a manifest and downloads each shard as a
//! WebDataset tar (`<key>.wav`, `<key>.txt`, `<key>.json` per sample, streamed
//! from memory, items removed since the snapshot left out); every download is a
//! ledger entry. It registers each model with the shards it was trained on; a
//! model trained on a shard holding an item later deleted or withdrawn is
//! flagged with a deadline to retrain without it or destroy it, which the
//! pipeline acknowledges with its evidence.
//!
//! Requests are signed like every processor request: `Kidvault-Signature` over
//! the body (POST), or over the request path (GET, with the processor named in
//! `Kidvault-Processor`).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kidvault_domain::disclosure::Purpose;
use kidvault_domain::ids::{ChildId, DatasetId, DeletionId, ItemId, ModelId, ProcessorId};
use kidvault_domain::item::ItemKind;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_store::{DatasetItem, DatasetRecord, DisclosureNote, ModelRecord, NewDataset, ProcessorRecord};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{Result, ServiceError, Vault};

/// Shards a snapshot may have.
pub const MAX_SHARDS: u32 = 256;

/// The kinds a training dataset may hold: the voice and what was heard.
pub const TRAINABLE: [ItemKind; 2] = [ItemKind::VoiceRecording, ItemKind::Transcript];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetRequest {
    processor_id: String,
    #[serde(default = "trainable")]
    kinds: Vec<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    #[serde(default = "default_shards")]
    shards: u32,
}

fn trainable() -> Vec<String> {
    TRAINABLE.iter().map(|k| k.as_str().to_owned()).collect()
}

fn default_shards() -> u32 {
    8
}

#[derive(Serialize)]
struct Criteria<'a> {
    kinds: &'a [ItemKind],
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelRequest {
    processor_id: String,
    name: String,
    version: String,
    /// The dataset shards it was trained on.
    trained_on: Vec<ShardRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShardRef {
    dataset_id: String,
    shards: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveRequest {
    processor_id: String,
    /// `retrained` or `destroyed`.
    outcome: String,
    /// With `retrained`: the registered model trained without the data.
    replaced_by: Option<String>,
    /// What the pipeline did (a run id, a ticket), 1 to 500 characters.
    evidence: String,
}

/// One sample of a shard: a recording with the transcript made from it, or a
/// transcript on its own.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// The WebDataset key: the recording's id (or the lone transcript's).
    pub key: String,
    pub shard: u32,
    /// A pseudonym of the child, stable for this processor, never the child's id.
    pub child: String,
    pub items: Vec<ItemId>,
    pub recorded_at: Timestamp,
    /// Deleted or recalled since the snapshot: not in the shard any more.
    pub removed: bool,
}

/// What a pipeline reads before downloading shards.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub dataset_id: DatasetId,
    pub created_at: Timestamp,
    pub criteria: serde_json::Value,
    pub shards: u32,
    pub items: u64,
    pub samples: Vec<Sample>,
}

/// A model with its flags, as the admin and the pipeline see it.
#[derive(Clone, Debug)]
pub struct FlaggedModel {
    pub model: ModelRecord,
    pub flags: u64,
    pub first_raised: Timestamp,
    pub deadline: Timestamp,
}

impl FlaggedModel {
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.model.outcome.is_none() && now > self.deadline
    }
}

fn invalid(code: &'static str, message: impl std::fmt::Display) -> ServiceError {
    ServiceError::invalid(code, message)
}

fn body<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T> {
    serde_json::from_slice(raw).map_err(|e| invalid("invalid_body", format!("the request body does not fit: {e}")))
}

fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T> {
    raw.parse().map_err(|_| invalid("invalid_id", format!("{what} is not an id")))
}

/// Groups a shard's items into samples: each recording with the first
/// transcript made from it; any other transcript on its own.
fn samples(items: &[DatasetItem], pseudonym: &dyn Fn(ChildId) -> String) -> Vec<Sample> {
    let mut paired: HashMap<ItemId, ItemId> = HashMap::new();
    for i in items.iter().filter(|i| i.kind == ItemKind::Transcript) {
        if let Some(src) = i.source_id {
            paired.entry(src).or_insert(i.item_id);
        }
    }
    let taken: std::collections::HashSet<ItemId> = paired.values().copied().collect();
    let removed: HashMap<ItemId, bool> = items.iter().map(|i| (i.item_id, i.removed)).collect();
    let mut out = Vec::new();
    for i in items {
        if taken.contains(&i.item_id) {
            continue;
        }
        let mut ids = vec![i.item_id];
        if let Some(t) = paired.get(&i.item_id) {
            if !removed.get(t).copied().unwrap_or(true) {
                ids.push(*t);
            }
        }
        out.push(Sample {
            key: i.item_id.to_string(),
            shard: i.shard,
            child: pseudonym(i.child_id),
            items: ids,
            recorded_at: i.recorded_at,
            removed: i.removed,
        });
    }
    out
}

/// Files at least this large are passed on as they are, not copied into the
/// buffer of headers and small files.
const PASS_THROUGH: usize = 16 * 1024;

/// A stretch of a tar stream as the pieces to send: ustar headers, padding and
/// small files gathered in one buffer; a large file's bytes (a recording,
/// decrypted where it lay) passed on without a copy.
#[derive(Default)]
struct TarPieces {
    pieces: Vec<Bytes>,
    small: Vec<u8>,
}

impl TarPieces {
    /// Appends one entry: header, data, padding to 512 bytes.
    fn append(&mut self, name: &str, data: Bytes, mtime: Timestamp) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).map_err(|e| ServiceError::Internal(format!("tar path: {e}")))?;
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(u64::try_from(mtime.timestamp()).unwrap_or(0));
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        self.small.extend_from_slice(h.as_bytes());
        let padding = data.len().next_multiple_of(512) - data.len();
        if data.len() >= PASS_THROUGH {
            self.pieces.push(Bytes::from(std::mem::take(&mut self.small)));
            self.pieces.push(data);
        } else {
            self.small.extend_from_slice(&data);
        }
        self.small.resize(self.small.len() + padding, 0);
        Ok(())
    }

    fn finish(mut self) -> Vec<Bytes> {
        if !self.small.is_empty() {
            self.pieces.push(Bytes::from(self.small));
        }
        self.pieces
    }
}

/// What a snapshot would take now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetPreview {
    /// Children with at least one item the snapshot would take.
    pub children: u64,
    pub items: u64,
}

impl Vault {
    /// A processor request's signature, checked; the processor returned.
    pub(crate) async fn signed_processor(
        &self,
        id: ProcessorId,
        signature: Option<&str>,
        signed: &[u8],
        now: Timestamp,
    ) -> Result<ProcessorRecord> {
        let p = self
            .store
            .processor(id)
            .await?
            .ok_or_else(|| ServiceError::Unauthenticated("Kidvault-Signature: no such processor".into()))?;
        self.verify_signature(&p, signature, signed, now)?;
        if p.disabled_at.is_some() {
            return Err(ServiceError::Forbidden {
                code: "processor_disabled",
                message: "this processor is disabled: it receives nothing".into(),
            });
        }
        Ok(p)
    }

    async fn training_processor(
        &self,
        id: &str,
        signature: Option<&str>,
        signed: &[u8],
        now: Timestamp,
    ) -> Result<ProcessorRecord> {
        let id: ProcessorId = parse_id(id, "processor_id")?;
        let p = self.signed_processor(id, signature, signed, now).await?;
        if p.purpose != Purpose::Training {
            return Err(ServiceError::Forbidden {
                code: "not_a_training_processor",
                message: format!("datasets and models are for training processors; this one is {}", p.purpose.as_str()),
            });
        }
        Ok(p)
    }

    fn pseudonym(&self, p: &ProcessorRecord) -> Result<impl Fn(ChildId) -> String> {
        let secret = self.processor_secret(p)?;
        Ok(move |child: ChildId| {
            let tag = kidvault_crypto::hmac_sha256(secret.as_bytes(), format!("child:{child}").as_bytes());
            tag.iter().take(8).map(|b| format!("{b:02x}")).collect()
        })
    }

    /// Snapshots a dataset for a training processor (signed request body).
    pub async fn create_dataset(&self, signature: Option<&str>, raw: &[u8], now: Timestamp) -> Result<DatasetRecord> {
        let (p, new) = self.dataset_request(signature, raw, now).await?;
        let note = DisclosureNote {
            actor: format!("processor:{}", p.id),
            purpose: p.purpose.as_str().to_owned(),
            processor_name: p.name.clone(),
            at: crate::ledger::timestamp(now),
        };
        Ok(self.store.create_dataset(&new, &self.notice_in_force, &note).await?)
    }

    /// What a snapshot request (signed like [`Self::create_dataset`]'s) would
    /// take now: how many children and items, before anything is disclosed.
    /// Nothing is written, and it does not hold up ingest.
    pub async fn preview_dataset(&self, signature: Option<&str>, raw: &[u8], now: Timestamp) -> Result<DatasetPreview> {
        let (_, new) = self.dataset_request(signature, raw, now).await?;
        let (children, items) = self.store.preview_dataset(&new, &self.notice_in_force).await?;
        Ok(DatasetPreview { children, items })
    }

    /// A snapshot request checked: its processor (signature, training
    /// purpose) and its criteria.
    async fn dataset_request(
        &self,
        signature: Option<&str>,
        raw: &[u8],
        now: Timestamp,
    ) -> Result<(ProcessorRecord, NewDataset)> {
        let req: DatasetRequest = body(raw)?;
        let p = self.training_processor(&req.processor_id, signature, raw, now).await?;
        let mut kinds = Vec::new();
        for k in &req.kinds {
            let kind = ItemKind::parse(k).ok_or_else(|| invalid("unknown_kind", format!("unknown kind {k:?}")))?;
            if !TRAINABLE.contains(&kind) {
                return Err(invalid(
                    "kind_not_allowed_for_training",
                    format!("{k} may not be used for training; allowed: voice_recording, transcript"),
                ));
            }
            if !p.categories.contains(&kind.spec().category) {
                return Err(invalid(
                    "category_not_held",
                    format!(
                        "{k} is {}, which this processor is not registered to receive",
                        kind.spec().category.as_str()
                    ),
                ));
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            return Err(invalid("invalid_kinds", "name at least one kind"));
        }
        if req.shards == 0 || req.shards > MAX_SHARDS {
            return Err(invalid("invalid_shards", format!("shards must be 1 to {MAX_SHARDS}")));
        }
        if let (Some(from), Some(to)) = (req.from, req.to) {
            if from >= to {
                return Err(invalid("invalid_range", "from must be before to"));
            }
        }
        let criteria = serde_json::to_string(&Criteria { kinds: &kinds, from: req.from, to: req.to })
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let new = NewDataset {
            id: DatasetId::generate(now),
            processor_id: p.id,
            kinds,
            from: req.from,
            to: req.to,
            shards: req.shards,
            criteria,
            created_at: now,
        };
        Ok((p, new))
    }

    async fn own_dataset(&self, p: &ProcessorRecord, id: DatasetId) -> Result<DatasetRecord> {
        self.store.dataset(id).await?.filter(|d| d.processor_id == p.id).ok_or(ServiceError::NotFound)
    }

    /// The manifest of a dataset (GET, signed over the path).
    pub async fn dataset_manifest(
        &self,
        processor: &str,
        signature: Option<&str>,
        path: &str,
        id: DatasetId,
        now: Timestamp,
    ) -> Result<Manifest> {
        let p = self.training_processor(processor, signature, path.as_bytes(), now).await?;
        let d = self.own_dataset(&p, id).await?;
        let items = self.store.dataset_items(id, None).await?;
        let pseudonym = self.pseudonym(&p)?;
        Ok(Manifest {
            dataset_id: d.id,
            created_at: d.created_at,
            criteria: serde_json::from_str(&d.criteria).unwrap_or(serde_json::Value::Null),
            shards: d.shards,
            items: d.items,
            samples: samples(&items, &pseudonym),
        })
    }

    /// Authorizes a shard download (GET, signed over the path) and records it;
    /// stream it with [`Vault::stream_shard`].
    pub async fn open_shard(
        &self,
        processor: &str,
        signature: Option<&str>,
        path: &str,
        id: DatasetId,
        shard: u32,
        now: Timestamp,
    ) -> Result<ShardDownload> {
        let p = self.training_processor(processor, signature, path.as_bytes(), now).await?;
        let d = self.own_dataset(&p, id).await?;
        if shard >= d.shards {
            return Err(ServiceError::NotFound);
        }
        let items = self.store.dataset_items(id, Some(shard)).await?;
        let pseudonym = self.pseudonym(&p)?;
        let samples: Vec<Sample> = samples(&items, &pseudonym).into_iter().filter(|s| !s.removed).collect();
        let mut e = dataset_entry(EntryKind::DatasetDownloaded, &p, now);
        e.subjects = vec![d.id.to_string()];
        e.counts.insert("shard".into(), u64::from(shard));
        e.counts.insert("samples".into(), samples.len() as u64);
        self.store.append_entries(&[e]).await?;
        let kinds: HashMap<ItemId, (ItemKind, ChildId)> =
            items.iter().map(|i| (i.item_id, (i.kind, i.child_id))).collect();
        Ok(ShardDownload { samples, kinds, name: format!("{}-{shard:05}.tar", d.id) })
    }

    /// Writes the shard's tar to `out`, a sample at a time; an item deleted
    /// while streaming is left out (its key is gone).
    pub async fn stream_shard(&self, dl: ShardDownload, out: mpsc::Sender<std::io::Result<Bytes>>) -> Result<()> {
        let send = |b: Bytes| {
            let out = out.clone();
            async move { out.send(Ok(b)).await.map_err(|_| ServiceError::Internal("receiver went away".into())) }
        };
        for s in &dl.samples {
            let mut tar = TarPieces::default();
            let mut hashes = BTreeMap::new();
            for id in &s.items {
                let Some(record) = self.store.item(*id).await? else { continue };
                let Some(plain) = self.open_for_disclosure(&record).await? else { continue };
                let ext = match dl.kinds.get(id).map(|k| k.0) {
                    Some(ItemKind::VoiceRecording) => "wav",
                    _ => "txt",
                };
                hashes.insert(ext, hex(&kidvault_crypto::sha256(&plain)));
                tar.append(&format!("{}.{ext}", s.key), plain, s.recorded_at)?;
            }
            if hashes.is_empty() {
                continue;
            }
            let meta = serde_json::json!({
                "key": s.key, "child": s.child, "items": s.items, "recorded_at": s.recorded_at,
                "shard": s.shard, "sha256": hashes,
            });
            tar.append(&format!("{}.json", s.key), Bytes::from(meta.to_string()), s.recorded_at)?;
            for piece in tar.finish() {
                send(piece).await?;
            }
        }
        send(Bytes::from(vec![0u8; 1024])).await
    }

    /// Registers a model trained on dataset shards (signed request body).
    /// Returns it and the flags raised at once (shards already tainted).
    pub async fn register_model(
        &self,
        signature: Option<&str>,
        raw: &[u8],
        now: Timestamp,
    ) -> Result<(ModelRecord, u64)> {
        let req: ModelRequest = body(raw)?;
        let p = self.training_processor(&req.processor_id, signature, raw, now).await?;
        let label = |v: &str, what: &str| {
            kidvault_domain::entities::parse_label(v, 100)
                .ok_or_else(|| invalid("invalid_model", format!("{what} must be 1 to 100 characters")))
        };
        let (name, version) = (label(&req.name, "name")?, label(&req.version, "version")?);
        let mut inputs = Vec::new();
        for r in &req.trained_on {
            let dataset: DatasetId = parse_id(&r.dataset_id, "dataset_id")?;
            for s in &r.shards {
                inputs.push((dataset, *s));
            }
        }
        let model = ModelRecord {
            id: ModelId::generate(now),
            processor_id: p.id,
            name,
            version,
            created_at: now,
            outcome: None,
            replaced_by: None,
            evidence: None,
            resolved_at: None,
        };
        let mut e = dataset_entry(EntryKind::ModelRegistered, &p, now);
        e.subjects =
            std::iter::once(model.id.to_string()).chain(req.trained_on.iter().map(|r| r.dataset_id.clone())).collect();
        e.detail.insert("model".into(), format!("{} {}", model.name, model.version));
        e.counts.insert("shards".into(), inputs.len() as u64);
        let flags = self.store.register_model(&model, &inputs, &e).await.map_err(|err| match err {
            kidvault_store::StoreError::NotFound => {
                invalid("unknown_dataset", "every dataset must be one of this processor's, and every shard one it has")
            }
            kidvault_store::StoreError::Conflict(m) => ServiceError::Conflict { code: "model_exists", message: m },
            err => err.into(),
        })?;
        Ok((model, flags))
    }

    /// A pipeline acknowledges a flagged model: retrained without the data
    /// (naming the new model) or destroyed. Idempotent.
    pub async fn resolve_model(
        &self,
        id: ModelId,
        signature: Option<&str>,
        raw: &[u8],
        now: Timestamp,
    ) -> Result<FlaggedModel> {
        let req: ResolveRequest = body(raw)?;
        let p = self.training_processor(&req.processor_id, signature, raw, now).await?;
        let replaced_by: Option<ModelId> =
            req.replaced_by.as_deref().map(|r| parse_id(r, "replaced_by")).transpose()?;
        match (req.outcome.as_str(), replaced_by) {
            ("retrained", Some(_)) | ("destroyed", None) => {}
            ("retrained", None) => {
                return Err(invalid("replacement_required", "retrained: name the new model in replaced_by"))
            }
            ("destroyed", Some(_)) => return Err(invalid("invalid_outcome", "destroyed: replaced_by must be absent")),
            _ => return Err(invalid("invalid_outcome", "outcome must be retrained or destroyed")),
        }
        let evidence = req.evidence.trim();
        if evidence.is_empty() || evidence.chars().count() > 500 {
            return Err(invalid("invalid_evidence", "evidence must be 1 to 500 characters"));
        }
        let resolution = kidvault_store::ModelResolution {
            outcome: req.outcome.clone(),
            replaced_by,
            evidence: evidence.to_owned(),
            at: now,
        };
        let mut e = dataset_entry(EntryKind::ModelResolved, &p, now);
        e.subjects = std::iter::once(id.to_string()).chain(replaced_by.map(|r| r.to_string())).collect();
        e.detail.insert("outcome".into(), req.outcome.clone());
        let model = self.store.resolve_model(id, p.id, &resolution, &e).await.map_err(|err| match err {
            kidvault_store::StoreError::NotFound => ServiceError::NotFound,
            err => err.into(),
        })?;
        let flags = self.store.model_flags(id).await?;
        let first = flags.iter().map(|f| f.raised_at).min().unwrap_or(model.created_at);
        Ok(FlaggedModel {
            flags: flags.len() as u64,
            first_raised: first,
            deadline: first + self.config.retrain_deadline,
            model,
        })
    }

    /// Unresolved flagged models, oldest flag first (admin).
    pub async fn flagged_models(
        &self,
        _: &crate::staff::Permit<crate::staff::ManageProcessors>,
    ) -> Result<Vec<FlaggedModel>> {
        self.models_flagged(None).await
    }

    /// How many models are flagged and unresolved, and how many of those are
    /// past their deadline (for `/metrics`).
    pub async fn flagged_model_counts(&self, now: Timestamp) -> Result<(u64, u64)> {
        let flagged = self.models_flagged(None).await?;
        Ok((flagged.len() as u64, flagged.iter().filter(|m| m.overdue(now)).count() as u64))
    }

    /// The models trained on data a guardian's deletion removed, resolved or not.
    pub async fn deletion_models(
        &self,
        g: &crate::principal::GuardianSession,
        id: DeletionId,
    ) -> Result<Vec<FlaggedModel>> {
        self.deletion(g, id).await?;
        self.models_flagged(Some(id)).await
    }

    /// The models a deletion flagged, resolved or not.
    pub(crate) async fn models_flagged(&self, deletion: Option<DeletionId>) -> Result<Vec<FlaggedModel>> {
        Ok(self
            .store
            .flagged_models(deletion)
            .await?
            .into_iter()
            .map(|(model, flags, first_raised)| FlaggedModel {
                deadline: first_raised + self.config.retrain_deadline,
                model,
                flags,
                first_raised,
            })
            .collect())
    }
}

/// An authorized, recorded shard download, ready to stream.
#[derive(Debug)]
pub struct ShardDownload {
    samples: Vec<Sample>,
    kinds: HashMap<ItemId, (ItemKind, ChildId)>,
    name: String,
}

impl ShardDownload {
    /// A file name for the download.
    pub fn file_name(&self) -> &str {
        &self.name
    }
}

fn dataset_entry(kind: EntryKind, p: &ProcessorRecord, now: Timestamp) -> NewEntry {
    NewEntry {
        kind,
        at: crate::ledger::timestamp(now),
        actor: format!("processor:{}", p.id),
        household: None,
        child: None,
        subjects: Vec::new(),
        purpose: Some(p.purpose.as_str().to_owned()),
        detail: BTreeMap::from([("processor".to_owned(), p.name.clone())]),
        counts: BTreeMap::new(),
        hashes: BTreeMap::new(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_recording_and_its_transcript_are_one_sample_and_a_lone_transcript_its_own() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let child = ChildId::generate(t);
        let item = |kind, source, removed| DatasetItem {
            item_id: ItemId::generate(t),
            child_id: child,
            kind,
            source_id: source,
            recorded_at: t,
            shard: 0,
            removed,
        };
        let rec = item(ItemKind::VoiceRecording, None, false);
        let tr = item(ItemKind::Transcript, Some(rec.item_id), false);
        let second = item(ItemKind::Transcript, Some(rec.item_id), false);
        let lone = item(ItemKind::Transcript, None, true);
        let got = samples(&[rec.clone(), tr.clone(), second.clone(), lone.clone()], &|_| "p".into());
        let keys: Vec<(String, Vec<ItemId>, bool)> = got.into_iter().map(|s| (s.key, s.items, s.removed)).collect();
        assert_eq!(
            keys,
            vec![
                (rec.item_id.to_string(), vec![rec.item_id, tr.item_id], false),
                (second.item_id.to_string(), vec![second.item_id], false),
                (lone.item_id.to_string(), vec![lone.item_id], true),
            ]
        );
    }

    #[test]
    fn tar_entries_are_padded_ustar_records() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let whole = |tar: TarPieces| tar.finish().concat();
        let mut tar = TarPieces::default();
        tar.append("a.txt", Bytes::from_static(b"hello"), t).unwrap();
        assert_eq!(whole(tar).len(), 1024);
        let mut tar = TarPieces::default();
        tar.append("a.txt", Bytes::from_static(b"hello"), t).unwrap();
        tar.append("b.txt", Bytes::from(vec![7; 513]), t).unwrap();
        let e = whole(tar);
        assert_eq!(e.len(), 1024 + 512 + 1024, "a header, then the data padded to 512");
        assert_eq!(&e[257..262], b"ustar");
        assert_eq!(&e[512..517], b"hello");
    }

    #[test]
    fn a_large_file_is_passed_on_as_it_is_between_headers_and_padding() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let audio = Bytes::from(vec![3u8; PASS_THROUGH + 100]);
        let mut tar = TarPieces::default();
        tar.append("k.wav", audio.clone(), t).unwrap();
        tar.append("k.txt", Bytes::from_static(b"hi"), t).unwrap();
        let pieces = tar.finish();
        assert_eq!(pieces.len(), 3, "header, the recording itself, then padding and the small file");
        assert_eq!(pieces[1].as_ptr(), audio.as_ptr(), "the recording's bytes are not copied");
        let e = pieces.concat();
        assert_eq!(e.len(), 512 + (PASS_THROUGH + 100).next_multiple_of(512) + 512 + 512);
        let mut names = Vec::new();
        for f in tar::Archive::new(&e[..]).entries().unwrap() {
            let mut f = f.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).unwrap();
            names.push((f.path().unwrap().display().to_string(), data.len()));
        }
        assert_eq!(names, vec![("k.wav".to_owned(), PASS_THROUGH + 100), ("k.txt".to_owned(), 2)]);
    }
}
