//! `kidvault bench soak`: the real server (SQLite, in process, over loopback
//! HTTP) under a steady mixed load for a while: devices ingesting recordings,
//! transcripts and locations; guardians reading lists and items; an export
//! streamed now and then; recordings deleted; retention sweeps; and hundreds of
//! stalled connections kept open from other addresses (re-opened as the edge
//! closes them). Reports read latency unloaded vs loaded, RSS over time, and
//! what was done, including every non-2xx answer by status.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{rss_kib, Hist};

#[derive(Debug, Clone)]
pub struct SoakOpts {
    pub seconds: u64,
    pub devices: usize,
    pub stalled: usize,
    pub dir: std::path::PathBuf,
}

struct Family {
    guardian: String,
    child: String,
    device: String,
}

#[derive(Default)]
struct Tally {
    ingested: AtomicU64,
    reads: AtomicU64,
    exports: AtomicU64,
    deletions: AtomicU64,
    sweeps: AtomicU64,
    stalled_opened: AtomicU64,
    refused: Mutex<BTreeMap<u16, u64>>,
}

impl Tally {
    fn refusal(&self, status: reqwest::StatusCode) {
        if !status.is_success() {
            if let Ok(mut r) = self.refused.lock() {
                *r.entry(status.as_u16()).or_default() += 1;
            }
        }
    }
}

async fn setup(http: &reqwest::Client, api: &str, n: usize) -> anyhow::Result<Vec<Family>> {
    let notice: Value = http.get(format!("{api}/policy/retention")).send().await?.json().await?;
    let notice = notice["notice_version"].as_str().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("soak{i}@kidvault.example");
        let body = json!({"email": email, "password": "soak-password-123", "display_name": "Soak"});
        http.post(format!("{api}/guardians")).json(&body).send().await?.error_for_status()?;
        let s: Value = http
            .post(format!("{api}/sessions"))
            .json(&json!({"email": email, "password": "soak-password-123"}))
            .send()
            .await?
            .json()
            .await?;
        let guardian = s["token"].as_str().unwrap_or_default().to_owned();
        let c: Value = http
            .post(format!("{api}/children"))
            .bearer_auth(&guardian)
            .json(&json!({"display_name": "Kid", "birth_year": 2019}))
            .send()
            .await?
            .json()
            .await?;
        let child = c["child_id"].as_str().unwrap_or_default().to_owned();
        let consent = json!({"method": "signed_form", "evidence_ref": "soak", "notice_version": notice,
                             "scopes": ["voice", "precise_location"]});
        http.post(format!("{api}/children/{child}/consents"))
            .bearer_auth(&guardian)
            .json(&consent)
            .send()
            .await?
            .error_for_status()?;
        let d: Value = http
            .post(format!("{api}/devices"))
            .bearer_auth(&guardian)
            .json(&json!({"child_id": child, "name": "speaker"}))
            .send()
            .await?
            .json()
            .await?;
        out.push(Family { guardian, child, device: d["token"].as_str().unwrap_or_default().to_owned() });
    }
    Ok(out)
}

/// Reads a list and one item; returns how long the pair took.
async fn read_once(http: &reqwest::Client, api: &str, f: &Family, tally: &Tally) -> Option<Duration> {
    let t = Instant::now();
    let list = http.get(format!("{api}/children/{}/items?limit=20", f.child)).bearer_auth(&f.guardian).send().await;
    let list: Value = match list {
        Ok(r) if r.status().is_success() => r.json().await.ok()?,
        Ok(r) => {
            tally.refusal(r.status());
            return None;
        }
        Err(_) => return None,
    };
    if let Some(id) = list["items"].get(0).and_then(|i| i["item_id"].as_str()) {
        if let Ok(r) = http.get(format!("{api}/items/{id}")).bearer_auth(&f.guardian).send().await {
            tally.refusal(r.status());
            let _ = r.bytes().await;
        }
    }
    tally.reads.fetch_add(1, Ordering::Relaxed);
    Some(t.elapsed())
}

/// Keeps `n` connections open that never finish their headers, from
/// 127.0.0.2 and up (one address would only meet the per-address limit).
async fn stall(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
        let from = std::net::Ipv4Addr::new(127, 0, 1 + (i / 200) as u8, 2 + (i % 200) as u8);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return };
                if socket.bind(SocketAddr::from((from, 0))).is_err() {
                    return;
                }
                let Ok(mut s) = socket.connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                };
                tally.stalled_opened.fetch_add(1, Ordering::Relaxed);
                let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: soak\r\nX-Stalled: ").await;
                // Held until the server gives up on it (its header deadline).
                let mut buf = [0u8; 256];
                while !stop.load(Ordering::Relaxed) {
                    let read = tokio::io::AsyncReadExt::read(&mut s, &mut buf);
                    if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_secs(1), read).await {
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

pub async fn soak(opts: SoakOpts) -> anyhow::Result<Value> {
    let (_tmp, config) = super::deployment(&opts.dir, "soak", None)?;
    let vault = crate::app::open(&config)?;
    crate::app::set_space_reserve(&config, &vault)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let api = format!("http://{addr}/api/v1");
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::app::serve(listener, Arc::clone(&vault), config.http.clone(), async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5)).build()?;
    let families = Arc::new(setup(&http, &api, opts.devices).await?);
    let tally = Arc::new(Tally::default());
    let audio = bytes::Bytes::from(kidvault_domain::audio::encode_wav_mono16(16_000, &vec![500i16; 16_000]));

    // Unloaded: reads alone.
    let mut unloaded = Hist::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        for f in families.iter() {
            if let Some(d) = read_once(&http, &api, f, &tally).await {
                unloaded.record(d);
            }
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut work = Vec::new();
    work.push(tokio::spawn(stall(addr, opts.stalled, Arc::clone(&stop), Arc::clone(&tally))));
    // Devices: a recording, its transcript and a location, paced (~4 items/s each).
    for i in 0..families.len() {
        let (http, api, families, tally, stop, audio) =
            (http.clone(), api.clone(), Arc::clone(&families), Arc::clone(&tally), Arc::clone(&stop), audio.clone());
        work.push(tokio::spawn(async move {
            let f = &families[i];
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(format!("{api}/children/{}/recordings", f.child))
                    .bearer_auth(&f.device)
                    .header("content-type", "audio/wav")
                    .body(audio.clone())
                    .send()
                    .await;
                if let Ok(r) = r {
                    tally.refusal(r.status());
                    let rec: Value = r.json().await.unwrap_or(Value::Null);
                    if let Some(id) = rec["item_id"].as_str() {
                        let tr = json!({"kind": "transcript", "derived_from": [id], "content": "soak words"});
                        if let Ok(r) = http
                            .post(format!("{api}/children/{}/items", f.child))
                            .bearer_auth(&f.device)
                            .json(&tr)
                            .send()
                            .await
                        {
                            tally.refusal(r.status());
                        }
                        tally.ingested.fetch_add(2, Ordering::Relaxed);
                    }
                }
                let loc = json!({"lat": 52.1, "lon": 4.3, "accuracy_m": 8.0});
                if let Ok(r) = http
                    .post(format!("{api}/children/{}/locations", f.child))
                    .bearer_auth(&f.device)
                    .json(&loc)
                    .send()
                    .await
                {
                    tally.refusal(r.status());
                    tally.ingested.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(750)).await;
            }
        }));
    }
    // Exports (every 20 s) and deletions of the newest recording (every 5 s).
    {
        let (http, api, families, tally, stop) =
            (http.clone(), api.clone(), Arc::clone(&families), Arc::clone(&tally), Arc::clone(&stop));
        work.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let f = &families[n % families.len()];
                n += 1;
                let list = http
                    .get(format!("{api}/children/{}/items?kind=voice_recording&limit=1", f.child))
                    .bearer_auth(&f.guardian)
                    .send()
                    .await;
                if let Ok(list) = list {
                    let list: Value = list.json().await.unwrap_or(Value::Null);
                    if let Some(id) = list["items"].get(0).and_then(|i| i["item_id"].as_str()) {
                        if let Ok(r) = http.delete(format!("{api}/items/{id}")).bearer_auth(&f.guardian).send().await {
                            tally.refusal(r.status());
                            tally.deletions.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if n.is_multiple_of(4) {
                    if let Ok(r) =
                        http.get(format!("{api}/children/{}/export", f.child)).bearer_auth(&f.guardian).send().await
                    {
                        tally.refusal(r.status());
                        let _ = r.bytes().await;
                        tally.exports.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // The background work a serving node does: deletions run, sweeps.
    {
        let (vault, tally, stop) = (Arc::clone(&vault), Arc::clone(&tally), Arc::clone(&stop));
        work.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = vault.run_deletions(Utc::now()).await;
                n += 1;
                if n.is_multiple_of(30) && vault.sweep(Utc::now(), false).await.is_ok() {
                    tally.sweeps.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // Loaded: the same reads, while all of that runs; RSS every 10 s.
    let mut loaded = Hist::new();
    let mut rss = Vec::new();
    let t = Instant::now();
    let mut next_sample = Duration::ZERO;
    while t.elapsed() < Duration::from_secs(opts.seconds) {
        if t.elapsed() >= next_sample {
            rss.push((rss_kib("VmRSS:") as f64 / 1024.0 * 10.0).round() / 10.0);
            next_sample += Duration::from_secs(10);
        }
        for f in families.iter() {
            if let Some(d) = read_once(&http, &api, f, &tally).await {
                loaded.record(d);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in work {
        let _ = w.await;
    }
    let _ = stop_server.send(());
    server.await??;

    let (u, l) = (unloaded.quantile_ms(0.99), loaded.quantile_ms(0.99));
    let first_minute = rss.iter().take(6).copied().fold(0.0f64, f64::max);
    let refused = tally.refused.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(json!({
        "seconds": opts.seconds,
        "devices": opts.devices,
        "stalled_connections_held": opts.stalled,
        "stalled_connections_opened": tally.stalled_opened.load(Ordering::Relaxed),
        "read_latency_ms": {"unloaded": unloaded.summary(), "loaded": loaded.summary(),
                            "p99_loaded_over_unloaded": if u > 0.0 { (l / u * 100.0).round() / 100.0 } else { 0.0 }},
        "rss_mib": {"every_10s": rss, "max_first_minute": first_minute,
                    "max_after_first_minute": rss.iter().skip(6).copied().fold(0.0f64, f64::max)},
        "done": {"items_ingested": tally.ingested.load(Ordering::Relaxed), "reads": tally.reads.load(Ordering::Relaxed),
                 "exports": tally.exports.load(Ordering::Relaxed), "deletions": tally.deletions.load(Ordering::Relaxed),
                 "sweeps": tally.sweeps.load(Ordering::Relaxed)},
        "non_2xx_by_status": refused,
    }))
}
