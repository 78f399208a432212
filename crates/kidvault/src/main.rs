//! The `kidvault` command line. See `kidvault --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kidvault::config::Config;
use kidvault::{app, bench, demo};

#[derive(Parser)]
#[command(name = "kidvault", version, about = "The children's data vault")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (embedded storage; nothing else to install).
    Serve {
        #[command(flatten)]
        at: Deployment,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed a demo household (once) and print its login.
        #[arg(long)]
        demo: bool,
    },
    /// Staff principals.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// The tamper-evident ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The written retention policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Backups of the deployment (either backend), sealed under keys that are destroyed
    /// after the backup window (`backup_window_days`): see README "Backups".
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Restore a backup into the deployment, with every node stopped.
    /// Survivors come back; whatever was deleted since the backup is deleted
    /// again (its keys are gone) before anything is served, and the ledger
    /// records the rollback. Refused if the backup's window has passed.
    Restore {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// data: the data store and blobs (the live keystore stays; the usual
        /// case); keys: the keystore only; both.
        #[arg(long, default_value = "data")]
        parts: String,
    },
    /// Run the retention and dormancy sweeps as of a date and print what they
    /// did (or, with --dry-run, would do); deletions they start are run too.
    Sweep {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The date (YYYY-MM-DD, midnight UTC) or time (RFC 3339) to sweep as of.
        #[arg(long)]
        as_of: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Prove a deleted child (and its items), or deleted items, left no residue:
    /// scans every table, the keystore and the blob segments. Exit code 0 only if
    /// nothing is found.
    VerifyErasure {
        #[command(flatten)]
        at: Deployment,
        /// A deleted child (its deleted items are looked for too).
        #[arg(long, required_unless_present = "items")]
        child: Option<uuid::Uuid>,
        /// More item ids to look for (the child's deleted items are included).
        #[arg(long = "item")]
        items: Vec<uuid::Uuid>,
    },
    /// Copy a whole embedded deployment (SQLite data store and keystore) into an
    /// empty PostgreSQL database, then verify it: the same rows in every table and
    /// the same ledger root. Ciphertext is copied as is; keys stay wrapped. Serve
    /// it afterwards with the same --data-dir (blobs) and key files.
    MigrateStore {
        /// The embedded store (default: sqlite://<data dir>/kidvault.db).
        #[arg(long)]
        from: Option<String>,
        /// The target, e.g. postgres://kidvault@db:5432/kidvault.
        #[arg(long)]
        to: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        key_file: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Move every blob of the deployment from its blob store (`blob_store`,
    /// local by default) to another, item by item, each copy read back before
    /// its item points at it. Resumable; refused while deletions are unfinished.
    /// Stop the nodes first, and start them on the new store after.
    MigrateBlobs {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The blob store to move to: s3://BUCKET[/PREFIX]?endpoint=URL&region=R.
        #[arg(long)]
        to: String,
        /// Erase each original once its item points at the copy.
        #[arg(long)]
        delete_source: bool,
    },
    /// Verify an entry proof (from /api/v1/ledger/entries/N/proof) offline.
    VerifyReceipt {
        file: PathBuf,
        /// The verifier key, as /api/v1/ledger/public-key serves it (default:
        /// kidvault-keys/ledger.pub).
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
}

/// Where a deployment lives: the flags every command that opens one shares,
/// each overriding the configuration file and environment.
#[derive(clap::Args)]
struct Deployment {
    /// Data directory (default ./kidvault-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Data store URL: sqlite://PATH or postgres://USER@HOST:PORT/DB (default:
    /// SQLite in the data directory).
    #[arg(long)]
    database: Option<String>,
    /// Blob store: local (default: <data dir>/blobs) or s3://BUCKET[/PREFIX]?endpoint=URL.
    #[arg(long)]
    blob_store: Option<String>,
    /// Root key file (default kidvault-keys/root.key beside the data dir).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

impl Deployment {
    /// `file` (if any) and the environment, then these flags.
    fn config(self, file: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut cfg = Config::load(file)?;
        cfg.data_dir = self.data_dir.unwrap_or(cfg.data_dir);
        cfg.database = self.database.or(cfg.database);
        cfg.blob_store = self.blob_store.or(cfg.blob_store);
        cfg.key_file = self.key_file.or(cfg.key_file);
        Ok(cfg)
    }
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account and print, once, its sign-in key and TOTP secret
    /// (JSON). Staff sign in with both at `POST /api/v1/staff/sign-in` and get
    /// a short-lived session; what each role may do is the access policy's.
    Create {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Who this is (shown to other staff; the ledger names only role and id).
        #[arg(long, default_value = "admin")]
        name: String,
        /// support, trust_and_safety, ml_engineer, sre, privacy_officer, auditor or admin.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// List staff accounts (id, role, name, created, disabled).
    List {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Disable a staff account and end every session it has.
    Disable {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The staff account's id.
        id: String,
    },
    /// End every session of a staff account (it may sign in again).
    SignOut {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The staff account's id.
        id: String,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Write a sealed backup of the data store, blobs and keystore (the server
    /// may be running).
    Create {
        #[command(flatten)]
        at: Deployment,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The file to write.
        #[arg(long)]
        to: PathBuf,
    },
    /// The backups that can still be restored, and until when.
    List {
        #[command(flatten)]
        at: Deployment,
    },
    /// Destroy the keys of backups whose window has passed (the sweep does this
    /// too), as of now or of a given date.
    Expire {
        #[command(flatten)]
        at: Deployment,
        /// YYYY-MM-DD or an RFC 3339 time (default: now).
        #[arg(long)]
        as_of: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the published policy, generated from the policy file in force.
    Render {
        /// md or html.
        #[arg(long, default_value = "md")]
        format: String,
        /// A policy file (default: the configured one, else the shipped one).
        #[arg(long)]
        policy: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check a policy file; on a problem, print its line and exit 1.
    Check { file: PathBuf },
    /// Check a staff access policy (Cedar) against kidvault's schema; on a
    /// problem, print its line and exit 1.
    CheckAccess { file: PathBuf },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every hash from the stored entries and check every checkpoint;
    /// names the first entry altered, removed or reordered.
    Verify {
        #[command(flatten)]
        at: Deployment,
        /// Verify checkpoints with this verifier key file instead of the local one.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// A checkpoint signed earlier (a guardian's receipt's, an auditor's
        /// copy): the log must extend it; a fork (a restored or altered store)
        /// is reported and fails.
        #[arg(long)]
        against: Option<PathBuf>,
    },
    /// After restoring the data store from a backup (the server refuses to
    /// start because the log no longer extends the last checkpoint it signed):
    /// record the rollback in the ledger, with the reason and the checkpoint
    /// that is lost, and sign and anchor a checkpoint over it. Run it with the
    /// server stopped.
    AcceptRollback {
        #[command(flatten)]
        at: Deployment,
        /// Why the store was restored (kept in the ledger entry).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// A steady mixed load through the real server (ingest, reads, exports,
    /// deletions, sweeps, stalled connections): read latency unloaded vs loaded, RSS over time.
    Soak {
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        #[arg(long, default_value_t = 8)]
        devices: usize,
        #[arg(long, default_value_t = 500)]
        stalled: usize,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Erasing children of N items: request → unreadable, → purged; a deletion storm under ingest.
    Erase {
        #[arg(long, default_value_t = 20)]
        children: usize,
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Run on PostgreSQL: a server URL (a fresh kvbench_* database is created).
        #[arg(long)]
        database: Option<String>,
    },
    /// Retention sweeps over N profiles with 1% due: finding, acting, deleting; peak memory.
    Sweep {
        #[arg(long, default_value_t = 1_000_000)]
        children: u64,
        #[arg(long, default_value_t = 1.0)]
        due_percent: f64,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Run on PostgreSQL: a server URL (a fresh kvbench_* database is created).
        #[arg(long)]
        database: Option<String>,
    },
    /// Purpose-bound staff access: the policy decision alone, and whole content
    /// reads (decision, ledger append, decryption) one at a time and concurrently.
    Access {
        #[arg(long, default_value_t = 100_000)]
        decisions: u64,
        #[arg(long, default_value_t = 2_000)]
        reads: u64,
        #[arg(long, default_value_t = 64)]
        tasks: u64,
        /// Transcripts per page in the page reads (staff reading a ticket's words at once).
        #[arg(long, default_value_t = 50)]
        page: u64,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Training snapshots over N recordings (90% of children consented) and the
    /// cost of flagging models on a deletion.
    Training {
        #[arg(long, default_value_t = 1_000_000)]
        items: u64,
        #[arg(long, default_value_t = 10_000)]
        children: u64,
        /// Deletions timed without and with a model to flag.
        #[arg(long, default_value_t = 200)]
        deletions: u64,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Streaming a training snapshot's shards (cold page cache) against the
    /// disk's own sequential read rate.
    Shards {
        #[arg(long, default_value_t = 16)]
        children: usize,
        /// Recordings per child, each with its transcript.
        #[arg(long, default_value_t = 600)]
        recordings: usize,
        /// Seconds of audio per recording (32 KB a second).
        #[arg(long, default_value_t = 4)]
        seconds: usize,
        #[arg(long, default_value_t = 8)]
        shards: u32,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Ledger appends (batched), and proof generation/verification at the final size.
    Ledger {
        #[arg(long, default_value_t = 10_000_000)]
        entries: u64,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Consecutive entries about one child (1 = worst case for the child index).
        #[arg(long, default_value_t = 32)]
        run: u64,
        /// Drop the kernel's page cache before the proofs, so that each proof's
        /// pages come from the disk (needs root: writes /proc/sys/vm/drop_caches).
        #[arg(long)]
        cold: bool,
    },
    /// Durable ingest from concurrent simulated devices; prints a JSON summary.
    Ingest {
        /// Seconds for each audio phase (service, HTTP); small items run for half.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        devices: usize,
        /// Where the temporary deployment is created (the disk being measured).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Skip the HTTP phase.
        #[arg(long)]
        no_http: bool,
        /// MiB written by the disk bandwidth probe.
        #[arg(long, default_value_t = 1024)]
        disk_mib: usize,
        /// Pace audio at this many recordings/s in all (0 = unpaced); for long
        /// memory soaks, which would otherwise fill the disk.
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Run on PostgreSQL: a server URL (a fresh kvbench_* database is created).
        #[arg(long)]
        database: Option<String>,
        /// Nodes sharing that database (each with its own data directory and
        /// connections); the devices are spread over them. Needs --database.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
    },
}

fn verifier(path: PathBuf) -> anyhow::Result<kidvault_ledger::checkpoint::Verifier> {
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading verifier key {}", path.display()))?;
    Ok(kidvault_ledger::checkpoint::Verifier::parse(&text)?)
}

/// A date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
fn parse_as_of(as_of: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(as_of)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| anyhow::anyhow!("--as-of {as_of:?}: give YYYY-MM-DD or an RFC 3339 time"))
}

/// Opens a deployment that must already exist (an admin command never creates one).
fn open_existing(cfg: &Config) -> anyhow::Result<std::sync::Arc<kidvault_service::Vault>> {
    if let kidvault::config::Backend::Sqlite(db) = cfg.backend()? {
        anyhow::ensure!(db.exists(), "no data store at {}: run `kidvault serve` first", db.display());
    }
    app::open(cfg)
}

/// Logs at `filter`, unless `RUST_LOG` names another (for example
/// `RUST_LOG=kidvault_service=debug` to see a deletion run's phases).
fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve { at, listen, config, demo } => {
            let mut cfg = at.config(config.as_deref())?;
            cfg.listen = listen.unwrap_or(cfg.listen);
            init_tracing(&cfg.log);
            let vault = app::open(&cfg)?;
            // Before any background work: a data store and keys of different
            // deployments, or a forked ledger, must not run a single deletion step.
            vault.prepare(chrono::Utc::now()).await?;
            if vault.record_policy_in_force(chrono::Utc::now()).await? {
                tracing::info!(digest = %vault.access_policy().digest(), "recorded the staff access policy in force");
            }
            app::set_space_reserve(&cfg, &vault)?;
            let listener =
                tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
            let addr = listener.local_addr()?;
            if demo {
                let seeded = demo::seed(&vault, chrono::Utc::now()).await?;
                if seeded.created {
                    tracing::info!(recordings = seeded.recordings, items = seeded.items, "seeded the demo household");
                }
                println!("demo household: sign in as {} / {}", demo::DEMO_EMAIL, demo::DEMO_PASSWORD);
                if cfg.smtp_url.is_none() {
                    // No relay: sign-up links land in the demo's inbox page instead.
                    vault.enable_demo_inbox();
                    println!("demo inbox (sign-up e-mails): http://{addr}/portal/demo-inbox");
                }
            }
            println!("kidvault listening on http://{addr} (API: http://{addr}/api/v1/openapi.json)");
            let every = std::time::Duration::from_secs(cfg.checkpoint_interval_secs.max(1));
            let checkpoints = tokio::spawn(app::checkpoint_loop(std::sync::Arc::clone(&vault), every));
            let deletions =
                tokio::spawn(app::deletion_loop(std::sync::Arc::clone(&vault), std::time::Duration::from_secs(5)));
            let downstream =
                tokio::spawn(app::downstream_loop(std::sync::Arc::clone(&vault), std::time::Duration::from_secs(1)));
            let outbox =
                tokio::spawn(app::outbox_loop(std::sync::Arc::clone(&vault), std::time::Duration::from_secs(1)));
            let sweeps = tokio::spawn(app::sweep_loop(
                std::sync::Arc::clone(&vault),
                std::time::Duration::from_secs(cfg.sweep_interval_secs.max(1)),
            ));
            let key_dir = cfg.key_file().parent().map(std::path::Path::to_owned).unwrap_or_default();
            let backups = tokio::spawn(app::backup_expiry_loop(
                key_dir,
                std::time::Duration::from_secs(cfg.sweep_interval_secs.max(1)),
            ));
            let policy = tokio::spawn(app::policy_reload_loop(std::sync::Arc::clone(&vault)));
            let integrity = tokio::spawn(app::integrity_loop(
                std::sync::Arc::clone(&vault),
                std::time::Duration::from_secs(cfg.integrity_check_interval_secs.max(1)),
            ));
            app::serve(listener, std::sync::Arc::clone(&vault), cfg.http.clone(), app::shutdown_signal()).await?;
            for task in [checkpoints, deletions, downstream, outbox, sweeps, backups, policy, integrity] {
                task.abort();
            }
            // Another node takes the background work over at once.
            vault.release_leases().await;
            // A last checkpoint covers everything written before shutdown.
            vault.checkpoint(chrono::Utc::now()).await?;
            Ok(())
        }
        Command::Admin(AdminCommand::Create { at, config, name, role }) => {
            let cfg = at.config(config.as_deref())?;
            init_tracing("warn");
            let role = kidvault_domain::staff::StaffRole::parse(&role).with_context(|| {
                let roles: Vec<&str> = kidvault_domain::staff::StaffRole::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {role:?}: one of {}", roles.join(", "))
            })?;
            let vault = open_existing(&cfg)?;
            let e = vault.create_staff(role, &name, chrono::Utc::now()).await?;
            eprintln!(
                "created {} {} ({name}); its sign-in key and TOTP secret, shown only now \
                 (sign in at POST /api/v1/staff/sign-in with the key and a current code):",
                role.as_str(),
                e.staff_id
            );
            let out = serde_json::json!({
                "staff_id": e.staff_id,
                "role": role.as_str(),
                "key": e.key,
                "totp_secret": e.totp_secret,
                "totp_uri": e.totp_uri,
            });
            println!("{out}");
            Ok(())
        }
        Command::Admin(AdminCommand::List { at, config }) => {
            let cfg = at.config(config.as_deref())?;
            init_tracing("warn");
            let vault = open_existing(&cfg)?;
            for s in vault.list_staff().await? {
                let disabled = s.disabled_at.map(|t| format!(" disabled {}", t.to_rfc3339())).unwrap_or_default();
                println!("{} {} {:?} created {}{disabled}", s.id, s.role.as_str(), s.name, s.created_at.to_rfc3339());
            }
            Ok(())
        }
        Command::Admin(AdminCommand::Disable { at, config, id }) => {
            let cfg = at.config(config.as_deref())?;
            init_tracing("warn");
            let id: kidvault_domain::ids::StaffId =
                id.parse().map_err(|_| anyhow::anyhow!("{id:?} is not a staff id"))?;
            let ended = open_existing(&cfg)?.end_staff_sessions(id, true, chrono::Utc::now()).await?;
            println!("disabled staff account {id}; {ended} session(s) ended");
            Ok(())
        }
        Command::Admin(AdminCommand::SignOut { at, config, id }) => {
            let cfg = at.config(config.as_deref())?;
            init_tracing("warn");
            let id: kidvault_domain::ids::StaffId =
                id.parse().map_err(|_| anyhow::anyhow!("{id:?} is not a staff id"))?;
            let ended = open_existing(&cfg)?.end_staff_sessions(id, false, chrono::Utc::now()).await?;
            println!("{ended} session(s) of staff account {id} ended");
            Ok(())
        }
        Command::Bench(BenchCommand::Ingest { seconds, devices, dir, no_http, disk_mib, rate, database, nodes }) => {
            init_tracing("warn");
            let opts = bench::IngestOpts { seconds, devices, dir, http: !no_http, disk_mib, rate, database, nodes };
            let summary = bench::ingest(opts).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Ledger(LedgerCommand::AcceptRollback { at, reason }) => {
            let cfg = at.config(None)?;
            init_tracing("warn");
            let vault = app::open(&cfg)?;
            let index = vault.accept_rollback(&reason, chrono::Utc::now()).await?;
            println!("rollback recorded as ledger entry {index}; the server will start on this data store");
            Ok(())
        }
        Command::Ledger(LedgerCommand::Verify { at, public_key, against }) => {
            let cfg = at.config(None)?;
            let verifier = verifier(public_key.unwrap_or_else(|| app::ledger_public_key_file(&cfg)))?;
            if let Some(file) = against {
                let note = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let cp =
                    verifier.verify(&note).with_context(|| format!("{} is not a valid checkpoint", file.display()))?;
                let vault = app::open(&cfg)?;
                anyhow::ensure!(
                    vault.extends(&cp).await?,
                    "FORK: the ledger does not extend the checkpoint in {} ({} entries, root {}): entries it \
                     covered were removed or changed (a restored data store shows a ledger.rollback entry)",
                    file.display(),
                    cp.size,
                    kidvault_ledger::hash::to_hex(&cp.root)
                );
                println!("the ledger extends the checkpoint in {} ({} entries)", file.display(), cp.size);
            }
            let audit = match cfg.backend()? {
                kidvault::config::Backend::Sqlite(db) => {
                    anyhow::ensure!(db.exists(), "no data store at {}", db.display());
                    kidvault_store_sqlite::audit::verify_ledger(&db, &verifier)?
                }
                kidvault::config::Backend::Postgres(url) => {
                    kidvault_store_postgres::audit::verify_ledger(&url, &verifier)?
                }
            };
            println!("ledger OK: {} entries, {} signed checkpoints verified", audit.entries, audit.checkpoints);
            Ok(())
        }
        Command::VerifyErasure { at, child, items } => {
            let cfg = at.config(None)?;
            use kidvault_store_sqlite::erasure;
            let backend = cfg.backend()?;
            if let kidvault::config::Backend::Sqlite(db) = &backend {
                anyhow::ensure!(db.exists(), "no data store at {}", db.display());
            }
            let mut item_ids = match (child, &backend) {
                (Some(child), kidvault::config::Backend::Sqlite(db)) => erasure::deleted_items_of(db, child)?,
                (Some(child), kidvault::config::Backend::Postgres(url)) => {
                    kidvault_store_postgres::erasure::deleted_items_of(url, child)?
                }
                (None, _) => Vec::new(),
            };
            item_ids.extend(items);
            let mut ids: Vec<uuid::Uuid> = child.into_iter().collect();
            ids.extend(item_ids.iter().copied());
            // Key material of a deleted id (in a table, or in the raw bytes of the
            // keystore's files) means it can be read; data without its key cannot.
            let (keys, data) = match &backend {
                kidvault::config::Backend::Sqlite(db) => {
                    let keystore = cfg.key_file().with_file_name("keystore.db");
                    let mut keys = Vec::new();
                    if keystore.exists() {
                        keys.extend(erasure::scan_database(&keystore, &ids)?);
                        keys.extend(erasure::scan_raw(&keystore, &ids)?);
                    }
                    (keys, erasure::scan_database(db, &ids)?)
                }
                // The keystore's schema is scanned with the data.
                kidvault::config::Backend::Postgres(url) => {
                    let keystore = format!("table {}.", kidvault_store_postgres::KEYSTORE_SCHEMA);
                    kidvault_store_postgres::erasure::scan(url, &ids)?
                        .into_iter()
                        .partition(|r: &erasure::Residue| r.place.starts_with(&keystore))
                }
            };
            let keyed: std::collections::BTreeSet<String> = keys.iter().map(|r| r.what.clone()).collect();
            let mut residue: Vec<erasure::Residue> = keys
                .into_iter()
                .map(|r| erasure::Residue { what: format!("{}: key material, READABLE", r.what), ..r })
                .collect();
            for r in data {
                let how = if keyed.contains(&r.what) || child.is_some_and(|c| keyed.contains(&format!("id {c}"))) {
                    "READABLE (its key is still in the keystore)"
                } else {
                    "present but unreadable (its key is destroyed)"
                };
                residue.push(erasure::Residue { what: format!("{}: {how}", r.what), ..r });
            }
            match cfg.blobs()? {
                kidvault::config::Blobs::Local(dir) => {
                    for (segment, offset, id) in kidvault_store::local_blob::residue(&dir, &item_ids)? {
                        residue.push(erasure::Residue {
                            place: format!("{} at offset {offset}", segment.display()),
                            what: format!("unerased bytes of item {id}"),
                        });
                    }
                }
                kidvault::config::Blobs::S3(location) => {
                    let s3 = kidvault_blob_s3::S3BlobStore::from_env(location)?;
                    for (key, id) in s3.residue(&item_ids).await? {
                        residue.push(erasure::Residue {
                            place: format!("S3 object {key} (a version or delete marker)"),
                            what: format!("blob of item {id}"),
                        });
                    }
                }
            }
            if residue.is_empty() {
                let whose = child.map(|c| format!("child {c} or its ")).unwrap_or_default();
                println!(
                    "no residue of {whose}{} deleted items: every table, the keystore and the blob store checked",
                    item_ids.len()
                );
                Ok(())
            } else {
                for r in &residue {
                    println!("RESIDUE {}: {}", r.place, r.what);
                }
                anyhow::bail!("{} places still hold deleted data", residue.len())
            }
        }
        Command::MigrateStore { from, to, data_dir, key_file, config } => {
            let mut cfg = Config::load(config.as_deref())?;
            cfg.data_dir = data_dir.unwrap_or(cfg.data_dir);
            cfg.key_file = key_file.or(cfg.key_file);
            init_tracing("warn");
            kidvault::migrate::migrate_store(&cfg, from.as_deref(), &to).await
        }
        Command::MigrateBlobs { at, config, to, delete_source } => {
            let cfg = at.config(config.as_deref())?;
            init_tracing("warn");
            kidvault::migrate::migrate_blobs(&cfg, &to, delete_source).await
        }
        Command::VerifyReceipt { file, public_key } => {
            let cfg = Config::load(None)?;
            let verifier = verifier(public_key.unwrap_or_else(|| app::ledger_public_key_file(&cfg)))?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            // A deletion receipt (document + proof) or a bare entry proof.
            let (entry, proof) =
                if let Ok(receipt) = serde_json::from_str::<kidvault_ledger::receipt::DocumentReceipt>(&text) {
                    (receipt.verify(&verifier).context("the receipt does NOT verify")?, receipt.ledger)
                } else {
                    let proof: kidvault_ledger::receipt::EntryProof = serde_json::from_str(&text)
                        .with_context(|| format!("{} is neither a receipt nor an entry proof", file.display()))?;
                    (proof.verify(&verifier).context("the receipt does NOT verify")?, proof)
                };
            println!(
                "receipt OK: entry {} ({}, {}) is in the log of {} entries signed by {}",
                entry.index,
                entry.kind.as_str(),
                entry.at,
                proof.tree_size,
                verifier.name()
            );
            Ok(())
        }
        Command::Bench(BenchCommand::Ledger { entries, batch, samples, dir, run, cold }) => {
            init_tracing("warn");
            let opts = bench::ledger::LedgerOpts { entries, batch, samples, dir, run, cold };
            let summary = bench::ledger::ledger(opts).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Soak { seconds, devices, stalled, dir }) => {
            init_tracing("warn");
            let summary = bench::soak::soak(bench::soak::SoakOpts { seconds, devices, stalled, dir }).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Sweep { children, due_percent, dir, database }) => {
            init_tracing("warn");
            let opts = bench::sweep::SweepOpts { children, due_percent, dir, database };
            let summary = bench::sweep::sweep(opts).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Access { decisions, reads, tasks, page, dir }) => {
            init_tracing("warn");
            let summary =
                bench::access::access(bench::access::AccessOpts { decisions, reads, tasks, page, dir }).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Training { items, children, deletions, dir }) => {
            init_tracing("warn,kidvault_store=info");
            let opts = bench::training::TrainingOpts { items, children, deletions, dir };
            let summary = bench::training::training(opts).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Shards { children, recordings, seconds, shards, dir }) => {
            init_tracing("warn");
            let opts = bench::shards::ShardsOpts { children, recordings, seconds, shards, dir };
            let summary = bench::shards::shards(opts).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Bench(BenchCommand::Erase { children, items, dir, database }) => {
            init_tracing("warn");
            let summary = bench::erase::erase(bench::erase::EraseOpts { children, items, dir, database }).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Openapi => {
            println!("{}", kidvault_http::openapi::document());
            Ok(())
        }
        Command::Policy(PolicyCommand::Render { format, policy, config }) => {
            let mut cfg = Config::load(config.as_deref())?;
            if policy.is_some() {
                cfg.retention_policy = policy;
            }
            let p = cfg.retention()?;
            match format.as_str() {
                "md" => print!("{}", p.render_markdown()),
                "html" => print!("{}", kidvault_http::portal::policy::render(Default::default(), &p).into_string()),
                other => anyhow::bail!("--format {other:?}: use md or html"),
            }
            Ok(())
        }
        Command::Backup(BackupCommand::Create { at, config, to }) => {
            let cfg = at.config(config.as_deref())?;
            let h = kidvault::backup::create_for(&cfg, &to, chrono::Utc::now())?;
            println!(
                "backup {} written to {}; restorable until {} ({} files)",
                h.backup_id,
                to.display(),
                h.restorable_until.to_rfc3339(),
                h.files.len()
            );
            Ok(())
        }
        Command::Backup(BackupCommand::List { at }) => {
            let cfg = at.config(None)?;
            for b in kidvault::backup::keys_for(&cfg)?.list()? {
                println!("{}  taken {}  restorable until {}", b.id, b.created_at.to_rfc3339(), b.until.to_rfc3339());
            }
            Ok(())
        }
        Command::Backup(BackupCommand::Expire { at, as_of }) => {
            let cfg = at.config(None)?;
            let now = match as_of {
                Some(t) => parse_as_of(&t)?,
                None => chrono::Utc::now(),
            };
            let n = kidvault::backup::keys_for(&cfg)?.expire(now)?;
            println!("{n} backup keys destroyed: those backups open nothing any more");
            Ok(())
        }
        Command::Restore { at, config, from, parts } => {
            let cfg = at.config(config.as_deref())?;
            init_tracing("warn");
            let summary = kidvault::backup::restore_into(&cfg, &from, &parts, chrono::Utc::now()).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Sweep { at, config, as_of, dry_run } => {
            let cfg = at.config(config.as_deref())?;
            let at = parse_as_of(&as_of)?;
            let vault = app::open(&cfg)?;
            let report = vault.sweep(at, dry_run).await?;
            if !dry_run {
                // Deletions run to where they wait for processors; notices go out.
                while vault.run_deletions(at).await? > 0 {}
                vault.deliver_notices(at).await?;
                vault.checkpoint(at).await?;
                // The keystore's seal chain, as the serving sweep does it.
                let resealed = vault.reseal_keys(at).await?;
                if let Some(g) = resealed.began {
                    eprintln!("keystore: began seal generation {g}, sealed {} rows again", resealed.resealed);
                }
                if let Some(g) = resealed.forgot_before {
                    eprintln!("keystore: forgot the seal generations before {g}");
                }
            }
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Policy(PolicyCommand::CheckAccess { file }) => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let policy = kidvault_service::access_policy::AccessPolicy::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            println!("{}: the staff access policy is valid (digest {})", file.display(), policy.digest());
            Ok(())
        }
        Command::Policy(PolicyCommand::Check { file }) => {
            let cfg = Config { retention_policy: Some(file.clone()), ..Config::default() };
            let p = cfg.retention()?;
            println!(
                "{}: retention policy version {} is valid ({} kinds of data)",
                file.display(),
                p.version,
                p.items.len()
            );
            Ok(())
        }
    }
}
