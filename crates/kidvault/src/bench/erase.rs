//! `kidvault bench erase`: children with N items each (a quarter recordings with
//! real audio, then a transcript, an intent and a location per recording).
//! Measured one child at a time: request → unreadable (keys destroyed) and
//! request → fully purged (rows and blobs gone, receipt in the ledger). Then a
//! storm: the remaining children deleted at once while other devices keep
//! ingesting.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use kidvault_domain::deletion::DeletionStep;
use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_service::ingest::NewDerived;
use kidvault_service::Vault;
use serde_json::{json, Value};

use super::Hist;

#[derive(Clone, Debug)]
pub struct EraseOpts {
    pub children: usize,
    pub items: usize,
    pub dir: PathBuf,
    /// A PostgreSQL server to run on (a fresh database); default the embedded store.
    pub database: Option<String>,
}

struct Kid {
    id: ChildId,
    token: String,
}

/// Ingests `sets` (recording, transcript, intent, location); returns the recordings.
async fn populate(vault: &Vault, kid: &Kid, sets: usize, audio: bytes::Bytes) -> anyhow::Result<Vec<ItemId>> {
    let mut recordings = Vec::with_capacity(sets);
    for n in 0..sets {
        let d = vault.authenticate_device(&kid.token).await?;
        let now = Utc::now();
        let rec = vault.ingest_recording(&d, kid.id, audio.clone(), None, now).await?;
        recordings.push(rec.item_id);
        let from = [rec.item_id.to_string()];
        let content = json!("tell me about dinosaurs");
        let tr = vault
            .ingest_derived(
                &d,
                kid.id,
                NewDerived { kind: "transcript", derived_from: &from, content: &content, recorded_at: None },
                now,
            )
            .await?;
        let from = [tr.item_id.to_string()];
        let content = json!({"intent": "question"});
        vault
            .ingest_derived(
                &d,
                kid.id,
                NewDerived { kind: "intent", derived_from: &from, content: &content, recorded_at: None },
                now,
            )
            .await?;
        vault.ingest_location(&d, kid.id, (52.0 + n as f64 * 1e-5, 4.9, 10.0), None, now).await?;
    }
    Ok(recordings)
}

pub async fn erase(opts: EraseOpts) -> anyhow::Result<Value> {
    let (_tmp, config) = super::deployment(&opts.dir, "erase", opts.database.as_deref())?;
    let vault = crate::app::open(&config)?;
    let now = Utc::now();
    vault.register_guardian("erase@kidvault.example", "bench-password-123", "Bench", None, now).await?;
    let token = vault.sign_in("erase@kidvault.example", "bench-password-123", None, None, now).await?;
    let g = vault.authenticate_guardian(&token, now).await?;
    let notice = vault.notice_version().to_owned();
    let live_devices = 4;
    let mut kids = Vec::new();
    // The children deleted whole, then ingesting devices, then one whose
    // recordings are deleted one by one under that ingest.
    for i in 0..opts.children + live_devices + 1 {
        let c = vault.create_child(&g, &format!("Child {i}"), chrono::Datelike::year(&now) - 6, now).await?;
        let scopes = ["voice".to_string(), "precise_location".to_string()];
        vault.grant_consent(&g, c.child.id, "signed_form", "bench", &notice, &scopes, now).await?;
        let paired = vault.pair_device(&g, c.child.id, "bench", now).await?;
        kids.push(Kid { id: c.child.id, token: paired.token });
    }
    let audio = bytes::Bytes::from(kidvault_domain::audio::encode_wav_mono16(16_000, &vec![300i16; 16_000]));
    let sets = opts.items / 4;
    let t = Instant::now();
    let kids = Arc::new(kids);
    let mut tasks = Vec::new();
    for i in 0..opts.children {
        let (vault, kids, audio) = (Arc::clone(&vault), Arc::clone(&kids), audio.clone());
        tasks.push(tokio::spawn(async move { populate(&vault, &kids[i], sets, audio).await }));
    }
    for task in tasks {
        task.await??;
    }
    let item_kid = &kids[opts.children + live_devices];
    let item_recordings = populate(&vault, item_kid, sets.min(200), audio.clone()).await?;
    eprintln!("bench: {} children x {} items ingested in {:.1}s", opts.children, sets * 4, t.elapsed().as_secs_f64());

    // One child at a time.
    let single = opts.children / 2;
    let (mut unreadable, mut shredded, mut purged) = (Hist::new(), Hist::new(), Hist::new());
    // Mean milliseconds spent reaching each step (where the purge time goes).
    let mut per_step: std::collections::BTreeMap<&'static str, f64> = Default::default();
    for kid in kids.iter().take(single) {
        let t0 = Instant::now();
        let id = vault.delete_child(&g, kid.id, Utc::now()).await?;
        unreadable.record(t0.elapsed());
        loop {
            let ts = Instant::now();
            let step = vault.step_deletion(id, Utc::now()).await?;
            *per_step.entry(step.as_str()).or_default() += ts.elapsed().as_secs_f64() * 1000.0 / single as f64;
            if step == DeletionStep::Shredded {
                shredded.record(t0.elapsed());
            }
            if step == DeletionStep::Completed {
                break;
            }
        }
        purged.record(t0.elapsed());
    }

    // A storm: the rest at once, while other devices keep ingesting.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ingested = Arc::new(AtomicU64::new(0));
    let mut ingest = Vec::new();
    for i in opts.children..opts.children + live_devices {
        let (vault, kids, audio, stop, ingested) =
            (Arc::clone(&vault), Arc::clone(&kids), audio.clone(), Arc::clone(&stop), Arc::clone(&ingested));
        ingest.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                populate(&vault, &kids[i], 1, audio.clone()).await?;
                ingested.fetch_add(4, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Ingest alone, then with deletions: what destruction costs it.
    let (b0, t_base) = (ingested.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = (ingested.load(Ordering::Relaxed) - b0) as f64 / t_base.elapsed().as_secs_f64();
    // Recordings deleted one at a time under ingest: request → shredded (the
    // data keys destroyed and scrubbed from the keystore's files, recorded) and
    // → completed (rows purged and scrubbed, receipt in the ledger).
    let (i0, t_items) = (ingested.load(Ordering::Relaxed), Instant::now());
    let (mut item_shredded, mut item_done) = (Hist::new(), Hist::new());
    for rec in &item_recordings {
        let t0 = Instant::now();
        let id = vault.delete_item(&g, *rec, Utc::now()).await?;
        loop {
            let step = vault.step_deletion(id, Utc::now()).await?;
            if step == DeletionStep::Shredded {
                item_shredded.record(t0.elapsed());
            }
            if step == DeletionStep::Completed {
                break;
            }
        }
        item_done.record(t0.elapsed());
    }
    let during_items = (ingested.load(Ordering::Relaxed) - i0) as f64 / t_items.elapsed().as_secs_f64();
    let before = ingested.load(Ordering::Relaxed);
    let t0 = Instant::now();
    for kid in kids.iter().take(opts.children).skip(single) {
        vault.delete_child(&g, kid.id, Utc::now()).await?;
    }
    let storm_unreadable = t0.elapsed();
    let completed = vault.run_deletions(Utc::now()).await?;
    let storm = t0.elapsed();
    let during = ingested.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for task in ingest {
        task.await??;
    }
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    Ok(json!({
        "items_per_child": sets * 4,
        "recordings_per_child": sets,
        "one_at_a_time": {
            "children": single,
            "request_to_unreadable_ms": unreadable.summary(),
            "request_to_shredded_and_scrubbed_ms": shredded.summary(),
            "request_to_purged_ms": purged.summary(),
            "mean_ms_to_reach_step": per_step.iter().map(|(k, v)| (k.to_string(), json!((v * 10.0).round() / 10.0))).collect::<serde_json::Map<_, _>>(),
        },
        "ingest_alone_items_per_s": baseline.round(),
        "recordings_deleted_one_at_a_time_under_ingest": {
            "recordings": item_recordings.len(),
            "request_to_shredded_and_scrubbed_ms": item_shredded.summary(),
            "request_to_completed_ms": item_done.summary(),
            "concurrent_ingest_items_per_s": during_items.round(),
        },
        "storm": {
            "children": completed,
            "all_unreadable_after_ms": ms(storm_unreadable),
            "all_purged_after_ms": ms(storm),
            "items_purged_per_s": ((completed * sets * 4) as f64 / storm.as_secs_f64()).round(),
            "concurrent_ingest_items_per_s": (during as f64 / storm.as_secs_f64()).round(),
        },
    }))
}
