//! Benchmarks: `kidvault bench access` ([`access`]), `kidvault bench ingest` ([`ingest`]),
//! `kidvault bench ledger` ([`ledger`]), `kidvault bench erase` ([`erase`]), `kidvault bench sweep`
//! ([`sweep`]), `kidvault bench training` ([`training`]), `kidvault bench shards` ([`shards`]) and
//! `kidvault bench soak` ([`soak`]). Each prints a JSON summary; figures, never timed assertions.

pub mod access;
pub mod erase;
pub mod ingest;
pub mod ledger;
pub mod shards;
pub mod soak;
pub mod sweep;
pub mod training;

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

pub use ingest::{ingest, IngestOpts};

/// Log-scale latency histogram: 2% buckets from 1 µs to ~100 s.
#[derive(Clone)]
pub(crate) struct Hist(Vec<u64>);

const GROWTH: f64 = 1.02;

impl Hist {
    pub(crate) fn new() -> Self {
        Hist(vec![0; 940])
    }
    pub(crate) fn record(&mut self, d: Duration) {
        let us = d.as_micros().max(1) as f64;
        let i = (us.ln() / GROWTH.ln()) as usize;
        let last = self.0.len() - 1;
        self.0[i.min(last)] += 1;
    }
    pub(crate) fn merge(&mut self, o: &Hist) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a += b;
        }
    }
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let target = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= target {
                return GROWTH.powi(i as i32 + 1) / 1000.0;
            }
        }
        0.0
    }
    /// p50/p99/p999 in microseconds.
    pub(crate) fn summary_us(&self) -> Value {
        let r = |x: f64| (x * 1000.0 * 10.0).round() / 10.0;
        json!({"p50": r(self.quantile_ms(0.5)), "p99": r(self.quantile_ms(0.99)), "p999": r(self.quantile_ms(0.999))})
    }

    pub(crate) fn summary(&self) -> Value {
        let r = |x: f64| (x * 100.0).round() / 100.0;
        json!({"p50": r(self.quantile_ms(0.5)), "p99": r(self.quantile_ms(0.99)), "p999": r(self.quantile_ms(0.999))})
    }
}

/// A staff member of `role`, enrolled and signed in with a TOTP code as an
/// operator would be (the bench computes the code from the enrolment's secret).
pub(crate) async fn staff_session(
    vault: &kidvault_service::Vault,
    role: kidvault_domain::staff::StaffRole,
    name: &str,
) -> anyhow::Result<kidvault_service::principal::StaffSession> {
    let now = chrono::Utc::now();
    let enrolment = vault.create_staff(role, name, now).await?;
    let secret = kidvault_crypto::totp::base32_decode(&enrolment.totp_secret)
        .ok_or_else(|| anyhow::anyhow!("the TOTP secret is not base32"))?;
    let step = kidvault_crypto::totp::step_at(now.timestamp());
    let code = format!("{:06}", kidvault_crypto::totp::hotp(&secret, step as u64, 6));
    let token = vault.staff_sign_in(&enrolment.key, &code, None, now).await?;
    Ok(vault.authenticate_staff(&token.token, now).await?)
}

pub(crate) fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Bytes this process has caused to be read from storage (not from the page
/// cache): `read_bytes` of /proc/self/io.
pub(crate) fn storage_read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("read_bytes:").and_then(|v| v.trim().parse().ok())))
        .unwrap_or(0)
}

pub(crate) fn progress(label: &str, seconds: u64) -> ProgressBar {
    let bar = ProgressBar::new(seconds);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// The data store a benchmark runs on: SQLite in its temporary deployment, or,
/// given `postgres://SERVER/...`, a fresh `kvbench_*` database on that server.
/// A throwaway deployment for a bench: a directory under `dir` (removed when
/// the returned guard drops) holding the data directory and the key file, on
/// the embedded store or, with `database`, a fresh PostgreSQL database.
pub(crate) fn deployment(
    dir: &std::path::Path,
    name: &str,
    database: Option<&str>,
) -> anyhow::Result<(tempfile::TempDir, crate::config::Config)> {
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new().prefix(&format!("kidvault-bench-{name}-")).tempdir_in(dir)?;
    let config = crate::config::Config {
        data_dir: tmp.path().join("data"),
        database: bench_database(database)?,
        key_file: Some(tmp.path().join("keys/root.key")),
        ..crate::config::Config::default()
    };
    Ok((tmp, config))
}

pub fn bench_database(database: Option<&str>) -> anyhow::Result<Option<String>> {
    match database {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let server = url.to_owned();
            let created =
                std::thread::spawn(move || kidvault_store_postgres::admin::create_database_named(&server, "kvbench_"))
                    .join()
                    .map_err(|_| anyhow::anyhow!("creating the benchmark database panicked"))??;
            let name = created.split('?').next().and_then(|u| u.rsplit('/').next()).unwrap_or_default();
            eprintln!("bench: PostgreSQL database {name}");
            Ok(Some(created))
        }
        Some(other) => anyhow::bail!("--database {other:?}: give a postgres:// server (SQLite is the default)"),
        None => Ok(None),
    }
}
