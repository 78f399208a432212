//! `kidvault bench ingest`: measured, durable ingest.
//!
//! Every acknowledgement in these runs means the data is on disk (blob segments
//! are fdatasync'd and SQLite commits with synchronous=FULL before a call returns);
//! throughput comes from group commit across concurrent devices, not from skipping
//! fsync. The run measures, in order:
//! 1. the disk's sequential write bandwidth (large writes, one fsync at the end);
//! 2. audio ingest through the service layer: each simulated device loops over
//!    {5 s 16 kHz mono recording, transcript derived from it, intent derived from
//!    the transcript, location}, re-authenticating and re-reading consent per call;
//! 3. small items (transcripts and locations) through the service layer;
//! 4. the audio workload again through the HTTP API on loopback.
//!
//! Resident memory is sampled every second. Latencies go into fixed log-scale
//! histograms, so the benchmark's own memory stays flat however long it runs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use chrono::Utc;
use indicatif::ProgressBar;

use super::{progress, rss_kib, Hist};
use kidvault_domain::ids::ChildId;
use kidvault_service::ingest::NewDerived;
use kidvault_service::Vault;
use serde_json::{json, Value};

use crate::config::Config;

/// Options for `kidvault bench ingest`.
#[derive(Clone, Debug)]
pub struct IngestOpts {
    /// Seconds for the audio phase (service and HTTP each); small items get half.
    pub seconds: u64,
    pub devices: usize,
    /// Directory in which a temporary deployment is created (the disk under test).
    pub dir: PathBuf,
    pub http: bool,
    /// MiB written by the sequential-bandwidth probe.
    pub disk_mib: usize,
    /// Pace the audio phase at this many recordings/s in all (and the small-item
    /// phase at four times as many items/s); 0 = as fast as possible. For soak runs:
    /// unpaced audio ingest fills a disk in minutes.
    pub rate: f64,
    /// A PostgreSQL server to run on (a fresh database); default the embedded store.
    pub database: Option<String>,
    /// `kidvault` nodes sharing the database (each its own data directory and
    /// store connections, the same keys); devices are spread over them.
    pub nodes: usize,
}

/// A per-device pacer: `None` when unpaced.
fn pacer(rate: f64, devices: usize) -> Option<tokio::time::Interval> {
    (rate > 0.0).then(|| {
        let mut i = tokio::time::interval(Duration::from_secs_f64(devices as f64 / rate));
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    })
}

fn noise_wav(seconds: u32) -> Bytes {
    let mut x: u32 = 0x9e37_79b9;
    let samples: Vec<i16> = (0..16_000 * seconds)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 20) as i16 - 2048
        })
        .collect();
    Bytes::from(kidvault_domain::audio::encode_wav_mono16(16_000, &samples))
}

/// Sequential write bandwidth in MB/s, as `dd oflag=direct conv=fsync` measures
/// it: `mib` MiB in 8 MiB `O_DIRECT` writes from an aligned buffer, one fsync.
fn disk_bandwidth(dir: &std::path::Path, mib: usize) -> anyhow::Result<f64> {
    use std::os::unix::fs::OpenOptionsExt;
    const CHUNK: usize = 8 * 1024 * 1024;
    let path = dir.join("bench-disk.tmp");
    let mut raw = vec![0x5au8; CHUNK + 4096];
    let off = raw.as_ptr().align_offset(4096);
    let chunk = &mut raw[off..off + CHUNK];
    let open = |direct: bool| {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        if direct {
            o.custom_flags(libc::O_DIRECT);
        }
        o.open(&path)
    };
    let mut f = open(true).or_else(|_| open(false))?;
    let start = Instant::now();
    for _ in 0..mib.div_ceil(8) {
        f.write_all(chunk)?;
    }
    f.sync_all()?;
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok((mib.div_ceil(8) * CHUNK) as f64 / 1e6 / secs)
}

struct Device {
    token: String,
    child: ChildId,
    base: String,
    /// The node this device sends to (service phases).
    node: usize,
}

async fn fleet(vault: &Vault, n: usize, nodes: usize) -> anyhow::Result<Vec<Device>> {
    let now = Utc::now();
    vault.register_guardian("bench@kidvault.example", "bench-password-123", "Bench", None, now).await?;
    let token = vault.sign_in("bench@kidvault.example", "bench-password-123", None, None, now).await?;
    let g = vault.authenticate_guardian(&token, now).await?;
    let notice = vault.notice_version().to_owned();
    let wav = noise_wav(1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let child = vault.create_child(&g, &format!("Child {i}"), chrono::Datelike::year(&now) - 6, now).await?;
        let id = child.child.id;
        let scopes = ["voice".to_string(), "precise_location".to_string()];
        vault.grant_consent(&g, id, "signed_form", "bench", &notice, &scopes, now).await?;
        let paired = vault.pair_device(&g, id, "bench device", now).await?;
        let d = vault.authenticate_device(&paired.token).await?;
        let base = vault.ingest_recording(&d, id, wav.clone(), None, now).await?;
        out.push(Device { token: paired.token, child: id, base: base.item_id.to_string(), node: i % nodes.max(1) });
    }
    Ok(out)
}

#[derive(Default)]
struct Counters {
    recordings: AtomicU64,
    items: AtomicU64,
    audio_bytes: AtomicU64,
}

/// One simulated device's requests, through the service (of its node) or over HTTP.
#[derive(Clone)]
enum Client {
    Service(Arc<Vec<Arc<Vault>>>),
    Http(reqwest::Client, String),
}

impl Client {
    async fn recording(&self, d: &Device, wav: Bytes) -> anyhow::Result<String> {
        match self {
            Client::Service(nodes) => {
                let v = &nodes[d.node];
                let s = v.authenticate_device(&d.token).await?;
                Ok(v.ingest_recording(&s, d.child, wav, None, Utc::now()).await?.item_id.to_string())
            }
            Client::Http(c, base) => {
                let r = c
                    .post(format!("{base}/api/v1/children/{}/recordings", d.child))
                    .bearer_auth(&d.token)
                    .header("content-type", "audio/wav")
                    .body(wav)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 201, "recording: HTTP {}", r.status());
                let v: Value = r.json().await?;
                Ok(v["item_id"].as_str().unwrap_or_default().to_owned())
            }
        }
    }

    async fn derived(&self, d: &Device, kind: &str, from: &str, content: Value) -> anyhow::Result<String> {
        match self {
            Client::Service(nodes) => {
                let v = &nodes[d.node];
                let s = v.authenticate_device(&d.token).await?;
                let i = v
                    .ingest_derived(
                        &s,
                        d.child,
                        NewDerived { kind, derived_from: &[from.to_owned()], content: &content, recorded_at: None },
                        Utc::now(),
                    )
                    .await?;
                Ok(i.item_id.to_string())
            }
            Client::Http(c, base) => {
                let r = c
                    .post(format!("{base}/api/v1/children/{}/items", d.child))
                    .bearer_auth(&d.token)
                    .json(&json!({"kind": kind, "derived_from": [from], "content": content}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 201, "{kind}: HTTP {}", r.status());
                let v: Value = r.json().await?;
                Ok(v["item_id"].as_str().unwrap_or_default().to_owned())
            }
        }
    }

    async fn location(&self, d: &Device, n: u64) -> anyhow::Result<()> {
        let (lat, lon) = (52.37 + (n % 100) as f64 * 1e-4, 4.89 + (n % 37) as f64 * 1e-4);
        match self {
            Client::Service(nodes) => {
                let v = &nodes[d.node];
                let s = v.authenticate_device(&d.token).await?;
                v.ingest_location(&s, d.child, (lat, lon, 12.0), None, Utc::now()).await?;
            }
            Client::Http(c, base) => {
                let r = c
                    .post(format!("{base}/api/v1/children/{}/locations", d.child))
                    .bearer_auth(&d.token)
                    .json(&json!({"lat": lat, "lon": lon, "accuracy_m": 12.0}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 201, "location: HTTP {}", r.status());
            }
        }
        Ok(())
    }
}

async fn tick(bar: ProgressBar, counters: Arc<Counters>, start: Instant, deadline: Instant) {
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let secs = start.elapsed().as_secs_f64();
        bar.set_position(secs as u64);
        bar.set_message(format!(
            "{:.0} rec/s {:.0} items/s",
            counters.recordings.load(Ordering::Relaxed) as f64 / secs,
            counters.items.load(Ordering::Relaxed) as f64 / secs
        ));
    }
    bar.finish();
}

/// Runs the audio workload (recording + transcript + intent + location).
async fn audio_phase(
    label: &str,
    client: Client,
    devices: &Arc<Vec<Device>>,
    seconds: u64,
    disk: f64,
    rate: f64,
) -> anyhow::Result<Value> {
    let wav = noise_wav(5);
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let ticker = tokio::spawn(tick(progress(label, seconds), Arc::clone(&counters), start, deadline));
    let mut tasks = Vec::new();
    for i in 0..devices.len() {
        let (client, devices, counters, wav) =
            (client.clone(), Arc::clone(devices), Arc::clone(&counters), wav.clone());
        tasks.push(tokio::spawn(async move {
            let d = &devices[i];
            let (mut rec_h, mut set_h) = (Hist::new(), Hist::new());
            let mut n = 0u64;
            let mut pace = pacer(rate, devices.len());
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let t0 = Instant::now();
                let rec = client.recording(d, wav.clone()).await?;
                rec_h.record(t0.elapsed());
                let tr = client.derived(d, "transcript", &rec, json!("can you play the dinosaur song again")).await?;
                client.derived(d, "intent", &tr, json!({"intent": "play_music", "slot": "dinosaur song"})).await?;
                client.location(d, n).await?;
                set_h.record(t0.elapsed());
                n += 1;
                counters.recordings.fetch_add(1, Ordering::Relaxed);
                counters.items.fetch_add(4, Ordering::Relaxed);
                counters.audio_bytes.fetch_add(wav.len() as u64, Ordering::Relaxed);
            }
            anyhow::Ok((rec_h, set_h))
        }));
    }
    let (mut rec_h, mut set_h) = (Hist::new(), Hist::new());
    for t in tasks {
        let (r, s) = t.await??;
        rec_h.merge(&r);
        set_h.merge(&s);
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = ticker.await;
    let recordings = counters.recordings.load(Ordering::Relaxed);
    let audio_mb_s = counters.audio_bytes.load(Ordering::Relaxed) as f64 / 1e6 / secs;
    Ok(json!({
        "seconds": (secs * 10.0).round() / 10.0,
        "recordings": recordings,
        "recordings_per_s": (recordings as f64 / secs).round(),
        "audio_mb_per_s": (audio_mb_s * 10.0).round() / 10.0,
        "audio_fraction_of_disk_bandwidth": (audio_mb_s / disk * 1000.0).round() / 1000.0,
        "items_per_s": (counters.items.load(Ordering::Relaxed) as f64 / secs).round(),
        "recording_latency_ms": rec_h.summary(),
        "four_item_set_latency_ms": set_h.summary(),
    }))
}

/// Runs small items only (transcripts derived from a base recording, locations).
async fn small_phase(client: Client, devices: &Arc<Vec<Device>>, seconds: u64, rate: f64) -> anyhow::Result<Value> {
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let ticker = tokio::spawn(tick(progress("small items", seconds), Arc::clone(&counters), start, deadline));
    let mut tasks = Vec::new();
    for i in 0..devices.len() {
        let (client, devices, counters) = (client.clone(), Arc::clone(devices), Arc::clone(&counters));
        tasks.push(tokio::spawn(async move {
            let d = &devices[i];
            let mut h = Hist::new();
            let mut n = 0u64;
            let mut pace = pacer(rate * 2.0, devices.len());
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let t0 = Instant::now();
                client.derived(d, "transcript", &d.base, json!("what is seven plus eight")).await?;
                h.record(t0.elapsed());
                let t1 = Instant::now();
                client.location(d, n).await?;
                h.record(t1.elapsed());
                n += 1;
                counters.items.fetch_add(2, Ordering::Relaxed);
            }
            anyhow::Ok(h)
        }));
    }
    let mut h = Hist::new();
    for t in tasks {
        h.merge(&t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = ticker.await;
    let items = counters.items.load(Ordering::Relaxed);
    Ok(json!({
        "seconds": (secs * 10.0).round() / 10.0,
        "items": items,
        "items_per_s": (items as f64 / secs).round(),
        "item_latency_ms": h.summary(),
    }))
}

/// Runs the whole ingest benchmark and returns the JSON summary.
pub async fn ingest(opts: IngestOpts) -> anyhow::Result<Value> {
    let (tmp, config) = super::deployment(&opts.dir, "ingest", opts.database.as_deref())?;
    eprintln!("bench: deployment in {}", tmp.path().display());
    std::fs::create_dir_all(&config.data_dir)?;
    // The disk is shared and noisy: three probes, the median is the reference.
    let mut probes = Vec::new();
    for _ in 0..3 {
        let dir = config.data_dir.clone();
        let mib = opts.disk_mib;
        probes.push(tokio::task::spawn_blocking(move || disk_bandwidth(&dir, mib)).await??.round());
    }
    probes.sort_by(f64::total_cmp);
    let disk = probes[1];
    eprintln!("bench: sequential O_DIRECT write {probes:?} MB/s, median {disk:.0}");

    let vault = crate::app::open(&config)?;
    anyhow::ensure!(opts.nodes <= 1 || config.database.is_some(), "--nodes needs --database: nodes share PostgreSQL");
    let mut nodes = vec![Arc::clone(&vault)];
    for n in 1..opts.nodes {
        let own = Config { data_dir: tmp.path().join(format!("data-{n}")), ..config.clone() };
        std::fs::create_dir_all(&own.data_dir)?;
        nodes.push(crate::app::open(&own)?);
    }
    let nodes = Arc::new(nodes);
    let devices = Arc::new(fleet(&vault, opts.devices, opts.nodes).await.context("setting up devices")?);
    let rss_start = rss_kib("RssAnon:");
    // (RssAnon, RssFile) each second: heap growth shows in the first.
    let samples = Arc::new(std::sync::Mutex::new(Vec::<(u64, u64)>::new()));
    let sampler = {
        let samples = Arc::clone(&samples);
        tokio::spawn(async move {
            loop {
                if let Ok(mut s) = samples.lock() {
                    s.push((rss_kib("RssAnon:"), rss_kib("RssFile:")));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let service =
        audio_phase("service audio", Client::Service(Arc::clone(&nodes)), &devices, opts.seconds, disk, opts.rate)
            .await?;
    let small = small_phase(Client::Service(Arc::clone(&nodes)), &devices, opts.seconds.div_ceil(2), opts.rate).await?;
    let http = if opts.http {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::app::serve(
            listener,
            Arc::clone(&vault),
            kidvault_http::edge::EdgeLimits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        let client = reqwest::Client::builder().pool_max_idle_per_host(opts.devices).build()?;
        let r = audio_phase("http audio", Client::Http(client, base), &devices, opts.seconds, disk, opts.rate).await?;
        let _ = stop.send(());
        server.await??;
        r
    } else {
        Value::Null
    };
    sampler.abort();
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let mb = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    let anon: Vec<u64> = samples.iter().map(|s| s.0).collect();
    let anon_each_minute: Vec<f64> = anon.iter().step_by(60).map(|k| mb(*k)).collect();
    Ok(json!({
        "devices": opts.devices,
        "nodes": opts.nodes.max(1),
        "paced_recordings_per_s": opts.rate,
        "disk_sequential_write_mb_per_s": disk,
        "disk_probes_mb_per_s": probes,
        "service_audio": service,
        "service_small_items": small,
        "http_audio": http,
        "memory_mib": {
            "heap_rss_after_setup": mb(rss_start),
            "heap_rss_end": mb(anon.last().copied().unwrap_or(0)),
            "heap_rss_max": mb(anon.iter().copied().max().unwrap_or(0)),
            "heap_rss_each_minute": anon_each_minute,
            "file_rss_end": mb(samples.last().map_or(0, |s| s.1)),
            "peak_total_rss": mb(rss_kib("VmHWM:")),
        },
    }))
}
