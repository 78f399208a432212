//! `kidvault bench sweep`: a store of N child profiles (default 1,000,000), 1%
//! of them abandoned sign-ups due for deletion and 1% unused for 18 months (due
//! to become dormant). Measures the sweeps finding what is due (a dry run),
//! then acting on it (the abandoned deleted, the unused made dormant with
//! notices), then, the grace period over, the dormant profiles deleted
//! (unreadable: keys destroyed), then the deletion pipeline running every
//! deletion to its receipt; then the keystore sealed again under the seal
//! chain's next generation; with peak memory. Profiles are seeded straight
//! into the store (a sealed-looking profile, and a child key each in the
//! keystore): the sweeps never open them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use kidvault_domain::entities::{Child, ChildStatus, Guardian};
use kidvault_domain::ids::{ChildId, GuardianId, HouseholdId};
use kidvault_service::sweeps::SweepReport;
use kidvault_store::{ChildRecord, GuardianRecord, Keystore, Sealed, Store};
use serde_json::{json, Value};

use super::rss_kib;

#[derive(Clone, Debug)]
pub struct SweepOpts {
    pub children: u64,
    /// Percent due (each of: abandoned, inactive).
    pub due_percent: f64,
    pub dir: PathBuf,
    /// A PostgreSQL server to run on (a fresh database); default the embedded store.
    pub database: Option<String>,
}

const PER_HOUSEHOLD: u64 = 100;
const TASKS: u64 = 32;

async fn seed(
    store: Arc<dyn Store>,
    keys: Arc<dyn Keystore>,
    opts: &SweepOpts,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let households = opts.children.div_ceil(PER_HOUSEHOLD);
    let mut hh_ids = Vec::with_capacity(households as usize);
    for h in 0..households {
        let id = HouseholdId::generate(now);
        let g = GuardianRecord {
            guardian: Guardian {
                id: GuardianId::generate(now),
                household_id: id,
                email: format!("parent{h}@bench.example"),
                display_name: "Parent".into(),
                created_at: now - Duration::days(800),
                time_zone: None,
                language: None,
            },
            password_hash: "$argon2id$bench".into(),
        };
        store.create_household(id, &g).await?;
        hh_ids.push(id);
    }
    let hh_ids = Arc::new(hh_ids);
    let every = (100.0 / opts.due_percent).round().max(1.0) as u64;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, keys, hh_ids, n) = (Arc::clone(&store), Arc::clone(&keys), Arc::clone(&hh_ids), opts.children);
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < n {
                // 1 in `every` abandoned, 1 in `every` inactive for 700 days, the rest in use.
                let (status, created, active) = match i % every {
                    0 => (ChildStatus::PendingConsent, now - Duration::days(30), None),
                    1 => (ChildStatus::Active, now - Duration::days(700), None),
                    _ => (ChildStatus::Active, now - Duration::days(400), Some(now - Duration::days((i % 300) as i64))),
                };
                let child = Child {
                    id: ChildId::generate(created),
                    household_id: hh_ids[(i / PER_HOUSEHOLD) as usize],
                    status,
                    created_at: created,
                    last_active_at: active,
                    keep_recordings_days: None,
                };
                let profile = Sealed { epoch: 1, wrapped_key: vec![7; 61], ciphertext: vec![9; 48] };
                let id = child.id;
                store.create_child(&ChildRecord { child, profile }).await?;
                // Each child's key, so that destroying keys deletes rows as it would.
                keys.insert_child_key(id, 1, &[5; 60], created).await?;
                i += TASKS;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

pub async fn sweep(opts: SweepOpts) -> anyhow::Result<Value> {
    let (tmp, config) = super::deployment(&opts.dir, "sweep", opts.database.as_deref())?;
    std::fs::create_dir_all(&config.data_dir)?;
    let now = Utc::now();
    // A new deployment first (its keys and binding), then the profiles seeded
    // straight into its data store while it is closed.
    drop(crate::app::open(&config)?);
    let t = Instant::now();
    {
        let key_dir = tmp.path().join("keys");
        let (store, keys) = crate::app::open_stores(&config.backend()?, &key_dir)?;
        seed(store, keys, &opts, now).await?;
    }
    let seed_secs = t.elapsed().as_secs_f64();
    let vault = crate::app::open(&config)?;
    vault.prepare(now).await?;
    // The seeded keys are not sealed under the chain: seal them now, untimed.
    vault.reseal_keys(now).await?;
    let heap_before = rss_kib("RssAnon:");

    let t = Instant::now();
    let dry = vault.sweep(now, true).await?;
    let find_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    vault.sweep(now, true).await?;
    let find_again_secs = t.elapsed().as_secs_f64();
    // The sweep's two halves timed apart: the abandoned sign-ups deleted
    // (retention), then the unused profiles made dormant with their notices.
    let mut report = SweepReport { as_of: now.to_rfc3339(), ..Default::default() };
    let t = Instant::now();
    vault.retention_sweep(now, &mut report).await?;
    let retention_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    vault.dormancy_sweep(now, &mut report).await?;
    let dormancy_secs = t.elapsed().as_secs_f64();
    let act_secs = retention_secs + dormancy_secs;
    // The grace period over: the same profiles, still unused, are deleted.
    let grace_over = now + Duration::days(i64::from(vault.config().retention.dormancy.grace_days) + 1);
    let mut later = SweepReport { as_of: grace_over.to_rfc3339(), ..Default::default() };
    let t = Instant::now();
    vault.dormancy_sweep(grace_over, &mut later).await?;
    let dormancy_delete_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut completed = 0;
    loop {
        let n = vault.run_deletions(grace_over).await?;
        if n == 0 {
            break;
        }
        completed += n;
    }
    let delete_secs = t.elapsed().as_secs_f64();
    // A day later: the keystore sealed again under the seal chain's next
    // generation (every surviving row read, opened, sealed and written back).
    let t = Instant::now();
    let resealed = vault.reseal_keys(grace_over + Duration::days(1)).await?;
    let reseal_secs = t.elapsed().as_secs_f64();
    let r1 = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok(json!({
        "children": opts.children,
        "store": if opts.database.is_some() { "postgresql" } else { "embedded" },
        "seed_seconds": r1(seed_secs),
        "due": {"abandoned": dry.abandoned.len(), "inactive": dry.dormant.len()},
        "find_due_seconds (dry run)": r1(find_secs),
        "find_due_seconds (dry run, again)": r1(find_again_secs),
        "find_and_act_seconds": r1(act_secs),
        "abandoned_deleted_seconds (deletions recorded and resolved, keys destroyed)": r1(retention_secs),
        "marked_dormant_seconds (ledger entry and notice each)": r1(dormancy_secs),
        "acted": {"deletions_enqueued": report.deletions.len(), "marked_dormant": report.dormant.len()},
        "grace_over": {
            "dormant_deleted": later.dormancy_deleted.len(),
            "unreadable_seconds (deletions recorded and resolved, keys destroyed)": r1(dormancy_delete_secs),
        },
        "deletions_completed": completed,
        "deletions_seconds": r1(delete_secs),
        "keystore_resealed": {
            "rows": resealed.resealed,
            "seconds": r1(reseal_secs),
            "rows_per_second": (resealed.resealed as f64 / reseal_secs.max(1e-9)).round(),
        },
        "memory_mib": {
            "heap_before_sweep": (heap_before as f64 / 1024.0 * 10.0).round() / 10.0,
            "heap_after": (rss_kib("RssAnon:") as f64 / 1024.0 * 10.0).round() / 10.0,
            "peak_rss_process": (rss_kib("VmHWM:") as f64 / 1024.0 * 10.0).round() / 10.0,
        },
    }))
}
