//! `kidvault bench training`: a store of N voice recordings (default 1,000,000)
//! across C children (default 10,000), 90% of whom allowed training. Measures a
//! training snapshot (selecting the eligible items by the consent rule and
//! recording the dataset, the register and the ledger entries in one
//! transaction), then deletions of single recordings each of which flags the
//! model trained on every shard (the flag is written by the deletion's purge
//! step: its latency with and without models to flag). Items are seeded straight
//! into the store (sealed-looking bytes, no keys): neither step opens content.
//! Before the snapshot, the eligibility rule alone is timed: the same criteria
//! previewed (counted, nothing written).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use kidvault_domain::consent::{Consent, ConsentMethod, ConsentScope, ScopeGrant};
use kidvault_domain::deletion::{DeletionReason, DeletionScope, DeletionStep};
use kidvault_domain::disclosure::Purpose;
use kidvault_domain::entities::{Child, ChildStatus, Guardian};
use kidvault_domain::ids::*;
use kidvault_domain::item::{DataCategory, ItemKind, ItemMeta, ItemState};
use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_store::*;
use kidvault_store_sqlite::SqliteStore;
use serde_json::{json, Value};

use super::{rss_kib, Hist};

#[derive(Clone, Debug)]
pub struct TrainingOpts {
    pub items: u64,
    pub children: u64,
    pub deletions: u64,
    pub dir: PathBuf,
}

const TASKS: u64 = 32;
const NOTICE: &str = "bench";

fn entry(kind: EntryKind, child: ChildId) -> NewEntry {
    NewEntry {
        kind,
        at: "2026-06-01T00:00:00.000000Z".into(),
        actor: "bench".into(),
        household: None,
        child: Some(child.to_string()),
        subjects: Vec::new(),
        purpose: None,
        detail: Default::default(),
        counts: Default::default(),
        hashes: Default::default(),
    }
}

async fn seed(
    store: &Arc<SqliteStore>,
    opts: &TrainingOpts,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<Vec<(ChildId, Vec<ItemId>)>> {
    let hh = HouseholdId::generate(now);
    let g = GuardianRecord {
        guardian: Guardian {
            id: GuardianId::generate(now),
            household_id: hh,
            email: "parent@bench.example".into(),
            display_name: "Parent".into(),
            created_at: now - Duration::days(100),
            time_zone: None,
            language: None,
        },
        password_hash: "$argon2id$bench".into(),
    };
    store.create_household(hh, &g).await?;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, opts, gid) = (Arc::clone(store), opts.clone(), g.guardian.id);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let per_child = opts.items.div_ceil(opts.children);
            let mut c = t;
            while c < opts.children {
                let id = ChildId::generate(now - Duration::days(90));
                let child = Child {
                    id,
                    household_id: hh,
                    status: ChildStatus::PendingConsent,
                    created_at: now - Duration::days(90),
                    last_active_at: None,
                    keep_recordings_days: None,
                };
                let profile = Sealed { epoch: 1, wrapped_key: vec![7; 61], ciphertext: vec![9; 48] };
                store.create_child(&ChildRecord { child, profile }).await?;
                let mut scopes = vec![ScopeGrant { scope: ConsentScope::Voice, withdrawn_at: None }];
                if c % 10 != 0 {
                    scopes.push(ScopeGrant { scope: ConsentScope::Training, withdrawn_at: None });
                }
                let consent = Consent {
                    id: ConsentId::generate(now - Duration::days(80)),
                    child_id: id,
                    guardian_id: gid,
                    method: ConsentMethod::SignedForm,
                    evidence_ref: "bench".into(),
                    notice_version: NOTICE.into(),
                    granted_at: now - Duration::days(80),
                    scopes,
                };
                store.record_consent(&consent, &entry(EntryKind::ConsentGranted, id)).await?;
                let mut items = Vec::new();
                for i in 0..per_child {
                    let at = now - Duration::days(60) + Duration::seconds(i as i64 * 60);
                    let item = ItemRecord {
                        meta: ItemMeta {
                            id: ItemId::generate(at),
                            child_id: id,
                            kind: ItemKind::VoiceRecording,
                            category: DataCategory::BiometricVoice,
                            state: ItemState::Live,
                            recorded_at: at,
                            received_at: at,
                            device_id: None,
                            derived_from: Vec::new(),
                            size: 32_000,
                        },
                        key_epoch: 1,
                        wrapped_key: Vec::new(),
                        content: StoredContent::Inline(vec![5; 48]),
                    };
                    store.insert_item(&item).await?;
                    items.push(item.meta.id);
                }
                out.push((id, items));
                c += TASKS;
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// One item deletion through the store's steps; returns the purge step's time.
async fn delete_one(
    store: &SqliteStore,
    hh: HouseholdId,
    child: ChildId,
    item: ItemId,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<std::time::Duration> {
    let d = DeletionRecord::requested(
        child,
        hh,
        "bench".into(),
        DeletionReason::Guardian,
        DeletionScope::Item { item },
        now,
    );
    store.create_deletion(&d).await?;
    store.resolve_deletion(d.id, now).await?;
    store.shred_deletion_items(d.id, now).await?;
    store.set_deletion_step(d.id, DeletionStep::Rotated, now).await?;
    let t = Instant::now();
    store.purge_deletion(d.id, now).await?;
    Ok(t.elapsed())
}

pub async fn training(opts: TrainingOpts) -> anyhow::Result<Value> {
    std::fs::create_dir_all(&opts.dir)?;
    let tmp = tempfile::Builder::new().prefix("kidvault-bench-training-").tempdir_in(&opts.dir)?;
    let now = Utc::now();
    let store = Arc::new(SqliteStore::open(&tmp.path().join("kidvault.db"))?);
    let processor = ProcessorRecord {
        id: ProcessorId::generate(now),
        name: "bench-trainer".into(),
        url: "http://127.0.0.1:9/".into(),
        purpose: Purpose::Training,
        categories: vec![DataCategory::BiometricVoice, DataCategory::Content],
        secret_wrapped: vec![1; 60],
        created_at: now - Duration::days(85),
        disabled_at: None,
    };
    store.create_processor(&processor).await?;
    let t = Instant::now();
    let children = seed(&store, &opts, now).await?;
    let seed_secs = t.elapsed().as_secs_f64();
    let hh =
        store.child(children[0].0).await?.map(|c| c.child.household_id).ok_or_else(|| anyhow::anyhow!("no child"))?;

    let shards = 16;
    let dataset = NewDataset {
        id: DatasetId::generate(now),
        processor_id: processor.id,
        kinds: vec![ItemKind::VoiceRecording],
        from: None,
        to: None,
        shards,
        criteria: "{}".into(),
        created_at: now,
    };
    let note = DisclosureNote {
        actor: "processor:bench".into(),
        purpose: "training".into(),
        processor_name: "bench".into(),
        at: "2026-06-01T00:00:00.000000Z".into(),
    };
    // Eligibility alone: the same rule and criteria, counted (a preview reads
    // on a connection of its own and writes nothing). Three runs: the first
    // from a page cache the seeding left warm, as a snapshot would meet it.
    let mut eligibility = Vec::new();
    let mut previewed = (0, 0);
    for _ in 0..3 {
        let t = Instant::now();
        previewed = store.preview_dataset(&dataset, NOTICE).await?;
        eligibility.push(t.elapsed().as_secs_f64());
    }
    let heap_before = rss_kib("RssAnon:");
    let t = Instant::now();
    let record = store.create_dataset(&dataset, NOTICE, &note).await?;
    anyhow::ensure!(
        record.items == previewed.1,
        "the preview counted {} items, the snapshot took {}",
        previewed.1,
        record.items
    );
    let snapshot_secs = t.elapsed().as_secs_f64();
    let heap_after = rss_kib("RssAnon:");

    // Deletions with no model to flag, then with a model on every shard.
    let mut without = Hist::new();
    let mut with = Hist::new();
    let consented: Vec<&(ChildId, Vec<ItemId>)> = children.iter().filter(|(_, items)| items.len() > 2).collect();
    let mut next = 0usize;
    for _ in 0..opts.deletions {
        let (child, items) = consented[next % consented.len()];
        without.record(delete_one(&store, hh, *child, items[next / consented.len()], now).await?);
        next += 1;
    }
    let model = ModelRecord {
        id: ModelId::generate(now),
        processor_id: processor.id,
        name: "bench".into(),
        version: "1".into(),
        created_at: now,
        outcome: None,
        replaced_by: None,
        evidence: None,
        resolved_at: None,
    };
    let inputs: Vec<(DatasetId, u32)> = (0..shards).map(|s| (dataset.id, s)).collect();
    store.register_model(&model, &inputs, &entry(EntryKind::ModelRegistered, children[0].0)).await?;
    for _ in 0..opts.deletions {
        let (child, items) = consented[next % consented.len()];
        with.record(delete_one(&store, hh, *child, items[next / consented.len()], now).await?);
        next += 1;
    }
    let flags = store.model_flags(model.id).await?.len();
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok(json!({
        "items": opts.items,
        "children": opts.children,
        "seed_seconds": r3(seed_secs),
        "eligibility (the rule alone, counted; three runs)": {
            "seconds": eligibility.iter().map(|x| r3(*x)).collect::<Vec<_>>(),
            "children_with_items": previewed.0,
            "items": previewed.1,
        },
        "snapshot": {
            "eligible_items": record.items,
            "seconds (select by the consent rule + record dataset, register and ledger, one transaction)": r3(snapshot_secs),
            "heap_growth_mib": ((heap_after.saturating_sub(heap_before)) as f64 / 1024.0 * 10.0).round() / 10.0,
        },
        "deletion purge step, one recording": {
            "no model to flag": without.summary(),
            "a model on every shard (flags written in the same transaction)": with.summary(),
            "flags_written": flags,
        },
        "peak_rss_mib": (rss_kib("VmHWM:") as f64 / 1024.0 * 10.0).round() / 10.0,
    }))
}
