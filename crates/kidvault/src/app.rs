//! Opening a deployment and serving it.
//!
//! Layout on disk (embedded):
//! ```text
//! <data_dir>/kidvault.db        data store (SQLite, WAL): metadata + sealed content
//! <data_dir>/blobs/seg-*.kvb    audio ciphertext segments
//! <key dir>/root.key            root key (0600), outside the data dir
//! <key dir>/keystore.db         wrapped child keys, outside the data dir
//! <key dir>/ledger.key, .pub     ledger signing key (0600) and its public verifier key
//! <key dir>/ledger.checkpoint    the latest checkpoint signed: the data store's log must extend it
//! ```

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use kidvault_crypto::{FileKeyProvider, KeyProvider};
use kidvault_http::{metrics::Metrics, AppState};
use kidvault_ledger::checkpoint::Signer;
use kidvault_service::Vault;
use kidvault_store::{BlobStore, Keystore, LocalBlobStore, Store};
use kidvault_store_postgres::{PgKeystore, PgStore};
use kidvault_store_sqlite::{SqliteKeystore, SqliteStore};
use tokio::net::TcpListener;

use crate::config::{Backend, Blobs, Config};

/// Opens the stores and the key provider named by `config`.
pub fn open(config: &Config) -> anyhow::Result<Arc<Vault>> {
    let data_dir = &config.data_dir;
    let backend = config.backend()?;
    check_key_dir(&config.key_file())?;
    refuse_half_deployments(config, &backend)?;
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let key_file = config.key_file();
    let (provider, created) = FileKeyProvider::load_or_create(&key_file)?;
    if created {
        tracing::warn!(path = %key_file.display(), "created a new root key: back it up apart from the data");
    }
    if inside(&key_file, data_dir) {
        tracing::warn!(
            path = %key_file.display(),
            "ROOT KEY IS INSIDE THE DATA DIRECTORY: a copy of the data dir then carries the key that decrypts it, \
             and crypto-shredding cannot reach backups. Move it out (--key-file)."
        );
    }
    let key_dir = key_file.parent().unwrap_or(Path::new("."));
    let (chain, chain_created) = open_seal_chain(config)?;
    let (store, keystore) = open_stores(&backend, key_dir)?;
    let (signer, created) = Signer::load_or_create(&ledger_key_file(config), "kidvault")?;
    if created {
        tracing::warn!(name = signer.name(), "created a new ledger signing key");
    }
    // The verifier key is public; kept beside the signing key for offline checks.
    std::fs::write(key_dir.join("ledger.pub"), format!("{}\n", signer.verifier_key()))?;
    let blobs = open_blobs(config.blobs()?)?;
    tracing::info!(
        backend = backend.describe(),
        data_dir = %data_dir.display(),
        key_id = provider.key_id(),
        "opened the data store"
    );
    let vault = Arc::new(Vault::new(
        store,
        keystore,
        blobs,
        Arc::new(provider),
        Arc::new(chain),
        Arc::new(signer),
        kidvault_service::VaultConfig {
            seal_chain_created: chain_created,
            node_id: node_id(data_dir)?,
            checkpoint_anchor: Some(key_dir.join("ledger.checkpoint")),
            locations: format!("data store: {}; key directory: {}", backend.describe(), key_dir.display()),
            ..config.vault_config()?
        },
    ));
    Ok(vault)
}

/// The seal chain's file, beside the root key: loaded, or created when there is
/// none (whether the keystore's rows need an existing one is checked against
/// the keystore at start, [`kidvault_service::Vault::prepare`]).
fn open_seal_chain(config: &Config) -> anyhow::Result<(kidvault_crypto::SealChain, bool)> {
    let path = seal_chain_file(config);
    if let Some(chain) = kidvault_crypto::SealChain::load(&path)? {
        return Ok((chain, false));
    }
    Ok((kidvault_crypto::SealChain::create(&path)?, true))
}

/// The seal chain's file: beside the root key, apart from the data.
pub fn seal_chain_file(config: &Config) -> std::path::PathBuf {
    config.key_file().with_file_name("seal-chain.key")
}

/// A serving node of an embedded deployment sets room aside on the data volume
/// (see [`crate::reserve`]); the other commands leave the reserve alone.
pub fn set_space_reserve(config: &Config, vault: &Vault) -> anyhow::Result<()> {
    if matches!(config.backend()?, Backend::Sqlite(_)) && config.storage_reserve_mib > 0 {
        match crate::reserve::FileReserve::create(&config.data_dir, config.storage_reserve_mib << 20) {
            Ok(reserve) => vault.set_space_reserve(Arc::new(reserve)),
            Err(e) => tracing::warn!(error = %e, "could not set the space reserve aside: is the disk full?"),
        }
    }
    Ok(())
}

/// The key directory must be a directory this process can read: say plainly
/// when it is not (a file in its place, a volume mounted without permission),
/// rather than an errno from deep inside key creation.
fn check_key_dir(key_file: &Path) -> anyhow::Result<()> {
    let Some(dir) = key_file.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    let unreadable = |e: std::io::Error| {
        anyhow::anyhow!(
            "the key directory {} cannot be read: {e} (is it mounted, and readable by this user?)",
            dir.display()
        )
    };
    // The nearest part of the path that exists must be a directory we can read.
    let mut ancestor = Some(dir);
    while let Some(a) = ancestor {
        match std::fs::metadata(a) {
            Ok(m) if !m.is_dir() => anyhow::bail!(
                "the key directory {} cannot be used: {} is a file, not a directory",
                dir.display(),
                a.display()
            ),
            Ok(_) if a == dir => return std::fs::read_dir(a).map(drop).map_err(unreadable),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ancestor = a.parent(),
            Err(e) => return Err(unreadable(e)),
        }
    }
    Ok(())
}

/// Keys are created only for a new, empty deployment. An embedded data store
/// that exists with its root key, keystore or ledger key missing (a key volume
/// not mounted, a directory restored without its keys) refuses start, and so
/// does a key directory that has signed checkpoints with no data store beside
/// it (a data volume not mounted): minting keys over old data would make every
/// family's data unreadable and the ledger unverifiable, and writing into an
/// empty store would lose what families send once the real one returns.
fn refuse_half_deployments(config: &Config, backend: &Backend) -> anyhow::Result<()> {
    let Backend::Sqlite(db) = backend else { return Ok(()) };
    let key_file = config.key_file();
    let key_dir = key_file.parent().unwrap_or(Path::new("."));
    let keys = [key_file.clone(), key_dir.join("keystore.db"), ledger_key_file(config)];
    let missing: Vec<String> = keys.iter().filter(|p| !p.exists()).map(|p| p.display().to_string()).collect();
    if db.exists() && !missing.is_empty() {
        anyhow::bail!(
            "the data store {} holds a deployment, but its keys are missing ({}): is the key directory mounted? \
             kidvault creates keys only for a new, empty deployment; restore the key directory (never new keys \
             over old data)",
            db.display(),
            missing.join(", ")
        );
    }
    let anchor = key_dir.join("ledger.checkpoint");
    if !db.exists() && anchor.exists() {
        anyhow::bail!(
            "the key directory {} belongs to a deployment that has signed its ledger ({}), but there is no data \
             store at {}: is the data directory mounted? (A new deployment needs a key directory of its own.)",
            key_dir.display(),
            anchor.display(),
            db.display()
        );
    }
    Ok(())
}

/// The blob store named by the configuration.
pub fn open_blobs(blobs: Blobs) -> anyhow::Result<Arc<dyn BlobStore>> {
    Ok(match blobs {
        Blobs::Local(dir) => Arc::new(LocalBlobStore::open(&dir)?),
        Blobs::S3(location) => Arc::new(kidvault_blob_s3::S3BlobStore::from_env(location)?),
    })
}

/// This deployment directory's node id (created on first start): a restarted
/// node keeps its leases on background work; another node has its own.
fn node_id(data_dir: &Path) -> anyhow::Result<uuid::Uuid> {
    let file = data_dir.join("node-id");
    match std::fs::read_to_string(&file) {
        Ok(text) => text.trim().parse().with_context(|| format!("{} is not a node id", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::now_v7();
            std::fs::write(&file, format!("{id}\n"))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// The data store and keystore: on SQLite two files (the keystore beside the
/// root key, outside the data directory); on PostgreSQL one database, the
/// keystore in its own schema.
pub(crate) fn open_stores(backend: &Backend, key_dir: &Path) -> anyhow::Result<(Arc<dyn Store>, Arc<dyn Keystore>)> {
    Ok(match backend {
        Backend::Sqlite(path) => {
            let keystore = key_dir.join("keystore.db");
            let damaged = |file: &Path| {
                let file = file.display().to_string();
                move |e: kidvault_store::StoreError| match e {
                    kidvault_store::StoreError::Corrupt(_) => anyhow::anyhow!(
                        "{file} is damaged ({e}): kidvault will not serve from it. Restore it from a backup \
                         (`kidvault restore`), or keep a copy and try `sqlite3 {file} .recover`"
                    ),
                    e => anyhow::anyhow!("opening {file}: {e}"),
                }
            };
            (
                Arc::new(SqliteStore::open(path).map_err(damaged(path))?),
                Arc::new(SqliteKeystore::open(&keystore).map_err(damaged(&keystore))?),
            )
        }
        Backend::Postgres(url) => {
            let max = kidvault_store_postgres::DEFAULT_MAX_CONNECTIONS;
            (
                Arc::new(PgStore::open(url, max).context("opening the PostgreSQL data store")?),
                Arc::new(PgKeystore::open(url, max).context("opening the PostgreSQL keystore")?),
            )
        }
    })
}

/// The ledger's signing key: beside the root key, apart from the data.
pub fn ledger_key_file(config: &Config) -> std::path::PathBuf {
    config.key_file().with_file_name("ledger.key")
}

/// The ledger's public verifier key file, written at every start.
pub fn ledger_public_key_file(config: &Config) -> std::path::PathBuf {
    config.key_file().with_file_name("ledger.pub")
}

/// Runs `work` every `every` (the first time at once) until the process ends;
/// a failure is logged as `what` and retried at the next tick.
async fn periodically<F, Fut>(every: std::time::Duration, what: &'static str, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kidvault_service::Result<()>>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = work().await {
            tracing::error!(error = %e, "{what} failed; will retry");
        }
    }
}

/// Signs a checkpoint every `every` (if the log grew), until the process ends.
pub async fn checkpoint_loop(vault: Arc<Vault>, every: std::time::Duration) {
    periodically(every, "signing a ledger checkpoint", || async {
        let now = chrono::Utc::now();
        if vault.hold_lease(kidvault_service::leases::CHECKPOINTS, now).await? {
            vault.checkpoint(now).await?;
        }
        Ok(())
    })
    .await
}

/// Runs open deletions every `every`, and once at start: a deletion interrupted
/// by a crash resumes here.
pub async fn deletion_loop(vault: Arc<Vault>, every: std::time::Duration) {
    periodically(every, "a deletion run", || async { vault.run_deletions(chrono::Utc::now()).await.map(|_| ()) }).await
}

/// Delivers due webhooks to downstream processors every `every`; when a
/// processor acknowledged in its response, runs the deletions at once. Each tick
/// first recalls data whose consent was withdrawn and not yet recalled (a crash
/// right after a withdrawal delays its recall to here, never loses it).
pub async fn downstream_loop(vault: Arc<Vault>, every: std::time::Duration) {
    periodically(every, "delivering to downstream processors", || async {
        vault.recall_withdrawn(chrono::Utc::now()).await?;
        vault.deliver_lineage(chrono::Utc::now()).await?;
        if vault.deliver_due(chrono::Utc::now()).await? > 0 {
            vault.run_deletions(chrono::Utc::now()).await?;
        }
        Ok(())
    })
    .await
}

/// Delivers due notices to guardians every `every`; after a crash, notices
/// written but not delivered go out on the first tick.
pub async fn outbox_loop(vault: Arc<Vault>, every: std::time::Duration) {
    periodically(every, "delivering notices", || async { vault.deliver_notices(chrono::Utc::now()).await.map(|_| ()) })
        .await
}

/// Runs the retention and dormancy sweeps every `every`, and once at start (a
/// server that was down catches up on everything that fell due).
pub async fn sweep_loop(vault: Arc<Vault>, every: std::time::Duration) {
    periodically(every, "a retention sweep", || async {
        vault.follow_seal_chain().await?;
        if !vault.hold_lease(kidvault_service::leases::SWEEPS, chrono::Utc::now()).await? {
            return Ok(());
        }
        let resealed = vault.reseal_keys(chrono::Utc::now()).await?;
        if resealed != Default::default() {
            tracing::info!(?resealed, "keystore sealed under the seal chain");
        }
        let report = vault.sweep(chrono::Utc::now(), false).await?;
        if !report.deletions.is_empty() {
            vault.run_deletions(chrono::Utc::now()).await?;
        }
        Ok(())
    })
    .await
}

/// Checks the stores for damage every `every` (the start-up check is the
/// first): once damage is found, `/healthz` answers `503 store_damaged`.
pub async fn integrity_loop(vault: Arc<Vault>, every: std::time::Duration) {
    tokio::time::sleep(every).await;
    periodically(every, "checking the stores for damage", || async { vault.check_integrity(chrono::Utc::now()).await })
        .await
}

/// Destroys the keys of backups whose window has passed, every `every` and once
/// at start: from then on those backups open nothing (see [`crate::backup`]).
pub async fn backup_expiry_loop(key_dir: std::path::PathBuf, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let dir = key_dir.clone();
        let expired = tokio::task::spawn_blocking(move || {
            if !dir.join("backup-keys.db").exists() {
                return Ok(0);
            }
            crate::backup::BackupKeys::open(&dir)?.expire(chrono::Utc::now())
        })
        .await;
        match expired {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(n, "backup keys destroyed at the end of their window"),
            Ok(Err(e)) => tracing::error!(error = %e, "expiring backup keys failed; will retry"),
            Err(e) => tracing::error!(error = %e, "expiring backup keys failed; will retry"),
        }
    }
}

/// Whether `path` lies inside `dir` (symlinks and `..` resolved where they exist).
pub fn inside(path: &Path, dir: &Path) -> bool {
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| match (p.parent(), p.file_name()) {
                (Some(parent), Some(name)) => {
                    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                    std::fs::canonicalize(parent).map(|d| d.join(name))
                }
                _ => Err(std::io::ErrorKind::NotFound.into()),
            })
            .unwrap_or_else(|_| p.to_path_buf())
    };
    abs(path).starts_with(abs(dir))
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight
/// requests. The stores close (and flush) when the last handle drops.
pub async fn serve(
    listener: TcpListener,
    vault: Arc<Vault>,
    limits: kidvault_http::edge::EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // (Idempotent: `kidvault serve` has done it already, before its background work.)
    vault.prepare(chrono::Utc::now()).await?;
    let state = AppState { vault: Arc::clone(&vault), metrics: Arc::new(Metrics::default()) };
    kidvault_http::edge::serve(listener, kidvault_http::router(state), limits, shutdown).await?;
    // Every request has finished: no ingest will take the keys made ahead.
    vault.release_unused_keys().await;
    Ok(())
}

/// Reloads the staff access policy on every SIGHUP (an invalid file is
/// refused, logged with its line, and the policy in force stays).
pub async fn policy_reload_loop(vault: Arc<Vault>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match vault.reload_access_policy("operator:sighup", chrono::Utc::now()).await {
            Ok(digest) => tracing::info!(digest = %digest, "staff access policy reloaded"),
            Err(e) => tracing::error!(error = %e, "staff access policy NOT reloaded"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_inside_the_data_dir_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        assert!(inside(&data.join("root.key"), &data));
        assert!(inside(&data.join("sub/../sub/root.key"), &data));
        assert!(!inside(&dir.path().join("kidvault-keys/root.key"), &data));
        assert!(!inside(&dir.path().join("data2/root.key"), &data));
        // Relative paths resolve against the working directory.
        let cwd = std::env::current_dir().unwrap();
        assert!(inside(Path::new("root.key"), &cwd));
    }
}
