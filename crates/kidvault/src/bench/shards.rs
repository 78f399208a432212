//! `kidvault bench shards`: how fast a training pipeline can read a snapshot.
//! Children whose parents allowed training each get N voice recordings (real
//! WAV audio) with their transcripts, ingested through the vault; a training
//! processor registered by an admin takes a snapshot and streams every shard at
//! once (as a loader with one worker per shard would), each sample opened with
//! its own key and written as tar records. The data files are dropped from the
//! page cache first (`posix_fadvise(DONTNEED)`), so the stream reads the disk;
//! the same is done to a file of the same size written next to them, read
//! sequentially, to give the disk's own sequential read rate to compare with.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use kidvault_domain::downstream::signature_header;
use kidvault_domain::ids::{DatasetId, ProcessorId};
use kidvault_domain::staff::StaffRole;
use kidvault_service::downstream::NewProcessor;
use kidvault_service::ingest::NewDerived;
use kidvault_service::staff::ManageProcessors;
use kidvault_service::Vault;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct ShardsOpts {
    pub children: usize,
    pub recordings: usize,
    /// Seconds of audio per recording (16 kHz, 16-bit mono: 32 KB a second).
    pub seconds: usize,
    pub shards: u32,
    pub dir: PathBuf,
}

/// Drops a file's pages from the page cache (after writing them out).
fn uncache(path: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    f.sync_all()?;
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

/// Every file under `dir`, and their total size.
fn files_under(dir: &Path) -> std::io::Result<(Vec<PathBuf>, u64)> {
    let (mut out, mut bytes, mut stack) = (Vec::new(), 0, vec![dir.to_path_buf()]);
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let meta = e.metadata()?;
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                bytes += meta.len();
                out.push(e.path());
            }
        }
    }
    Ok((out, bytes))
}

/// The disk's sequential read rate (MB/s): a file of `bytes` written next to the
/// data, dropped from the cache, read front to back in 1 MiB reads.
fn disk_sequential_read(dir: &Path, bytes: u64) -> anyhow::Result<f64> {
    let path = dir.join("sequential.bin");
    let block = vec![0x5au8; 1 << 20];
    {
        let mut f = std::fs::File::create(&path)?;
        for _ in 0..bytes.div_ceil(block.len() as u64) {
            f.write_all(&block)?;
        }
    }
    uncache(&path)?;
    let mut f = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (t, mut read) = (Instant::now(), 0u64);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
    }
    let rate = read as f64 / 1e6 / t.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(rate)
}

fn sign(secret: &str, body: &[u8]) -> String {
    let t = Utc::now().timestamp();
    let tag = kidvault_crypto::hmac_sha256(secret.as_bytes(), &kidvault_domain::downstream::signed_message(t, body));
    signature_header(t, &tag)
}

/// A training processor registered the way an operator does (an admin, signed in
/// with a TOTP code, under the access policy); returns it and its secret.
async fn training_processor(vault: &Vault) -> anyhow::Result<(ProcessorId, String)> {
    let now = Utc::now();
    let session = super::staff_session(vault, StaffRole::Admin, "bench admin").await?;
    let permit = vault.permit::<ManageProcessors>(&session)?;
    let categories = vec!["user.biometric.voice".to_owned(), "user.content".to_owned()];
    let new = NewProcessor {
        name: "bench trainer".into(),
        url: "http://127.0.0.1:9/".into(),
        purpose: "training".into(),
        categories,
    };
    let (p, secret) = vault.register_processor(&permit, new, now).await?;
    Ok((p.id, secret))
}

/// Ingests the children's recordings and transcripts, `children` at once.
async fn populate(vault: &Arc<Vault>, opts: &ShardsOpts) -> anyhow::Result<()> {
    let now = Utc::now();
    vault.register_guardian("shards@kidvault.example", "bench-password-123", "Bench", None, now).await?;
    let token = vault.sign_in("shards@kidvault.example", "bench-password-123", None, None, now).await?;
    let g = vault.authenticate_guardian(&token, now).await?;
    let notice = vault.notice_version().to_owned();
    let samples: Vec<i16> = (0..16_000 * opts.seconds).map(|i| ((i * 37 % 2000) as i16) - 1000).collect();
    let audio = bytes::Bytes::from(kidvault_domain::audio::encode_wav_mono16(16_000, &samples));
    let mut tasks = Vec::new();
    for i in 0..opts.children {
        let c = vault.create_child(&g, &format!("Child {i}"), chrono::Datelike::year(&now) - 6, now).await?;
        let scopes = ["voice".to_string(), "training".to_string()];
        vault.grant_consent(&g, c.child.id, "signed_form", "bench", &notice, &scopes, now).await?;
        let paired = vault.pair_device(&g, c.child.id, "bench", now).await?;
        let (vault, audio, n) = (Arc::clone(vault), audio.clone(), opts.recordings);
        tasks.push(tokio::spawn(async move {
            let d = vault.authenticate_device(&paired.token).await?;
            for r in 0..n {
                let now = Utc::now();
                let rec = vault.ingest_recording(&d, c.child.id, audio.clone(), None, now).await?;
                let from = [rec.item_id.to_string()];
                let words = json!(format!("story number {r}: tell me about the dinosaurs that lived by the sea"));
                let derived =
                    NewDerived { kind: "transcript", derived_from: &from, content: &words, recorded_at: None };
                vault.ingest_derived(&d, c.child.id, derived, now).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

pub async fn shards(opts: ShardsOpts) -> anyhow::Result<Value> {
    let (tmp, config) = super::deployment(&opts.dir, "shards", None)?;
    let vault = crate::app::open(&config)?;
    let (processor, secret) = training_processor(&vault).await?;
    let t = Instant::now();
    populate(&vault, &opts).await?;
    let ingest_secs = t.elapsed().as_secs_f64();

    let body = serde_json::to_vec(&json!({"processor_id": processor.to_string(), "shards": opts.shards}))?;
    let t = Instant::now();
    let dataset = vault.create_dataset(Some(&sign(&secret, &body)), &body, Utc::now()).await?;
    let snapshot_secs = t.elapsed().as_secs_f64();

    let (files, data_bytes) = files_under(tmp.path())?;
    for f in &files {
        uncache(f)?;
    }
    let t = Instant::now();
    let mut streams = Vec::new();
    for shard in 0..opts.shards {
        let (vault, secret) = (Arc::clone(&vault), secret.clone());
        streams.push(tokio::spawn(stream_one(vault, processor, secret, dataset.id, shard)));
    }
    let mut streamed = 0u64;
    for s in streams {
        streamed += s.await??;
    }
    let stream_secs = t.elapsed().as_secs_f64();
    let stream_rate = streamed as f64 / 1e6 / stream_secs;
    let disk_rate = disk_sequential_read(tmp.path(), data_bytes)?;
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    Ok(json!({
        "children": opts.children,
        "recordings": opts.children * opts.recordings,
        "audio_seconds_per_recording": opts.seconds,
        "ingest_seconds": r1(ingest_secs),
        "data_on_disk_mb": r1(data_bytes as f64 / 1e6),
        "snapshot": {"items": dataset.items, "shards": opts.shards, "seconds": (snapshot_secs * 1000.0).round() / 1000.0},
        "stream (every shard at once, cold page cache)": {
            "tar_mb": r1(streamed as f64 / 1e6),
            "seconds": (stream_secs * 1000.0).round() / 1000.0,
            "mb_per_s": r1(stream_rate),
        },
        "disk sequential read, cold (mb_per_s)": r1(disk_rate),
        "stream / disk": (stream_rate / disk_rate * 100.0).round() / 100.0,
        "peak_rss_mib": r1(super::rss_kib("VmHWM:") as f64 / 1024.0),
    }))
}

/// Streams one shard as a pipeline would (signed request, then the tar);
/// returns the bytes received.
async fn stream_one(
    vault: Arc<Vault>,
    processor: ProcessorId,
    secret: String,
    dataset: DatasetId,
    shard: u32,
) -> anyhow::Result<u64> {
    let path = format!("/api/v1/datasets/{dataset}/shards/{shard}");
    let sig = sign(&secret, path.as_bytes());
    let dl = vault.open_shard(&processor.to_string(), Some(&sig), &path, dataset, shard, Utc::now()).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let writer = tokio::spawn(async move { vault.stream_shard(dl, tx).await });
    let mut bytes = 0u64;
    while let Some(chunk) = rx.recv().await {
        bytes += chunk?.len() as u64;
    }
    writer.await??;
    Ok(bytes)
}
