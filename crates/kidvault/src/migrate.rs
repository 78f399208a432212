//! Moving a deployment up: `kidvault migrate-store` copies the embedded data
//! store and keystore into PostgreSQL; `kidvault migrate-blobs` moves every blob
//! to another blob store (local to S3), item by item. Both check what they did.

use std::sync::Arc;

use anyhow::Context;
use kidvault_store::Store;
use kidvault_store_postgres::PgStore;
use kidvault_store_sqlite::SqliteStore;

use crate::app::{open_blobs, open_stores};
use crate::config::{Backend, Config};

/// `kidvault migrate-store`: copies the embedded deployment into PostgreSQL and
/// verifies the copy (rows per table, ledger size, root and latest checkpoint).
pub async fn migrate_store(config: &Config, from: Option<&str>, to: &str) -> anyhow::Result<()> {
    let Backend::Sqlite(data) = Backend::parse(from.or(config.database.as_deref()), &config.data_dir)? else {
        anyhow::bail!("--from must name the embedded store: sqlite://PATH");
    };
    let Backend::Postgres(url) = Backend::parse(Some(to), &config.data_dir)? else {
        anyhow::bail!("--to must name a PostgreSQL database: postgres://USER@HOST:PORT/DB");
    };
    anyhow::ensure!(data.exists(), "no data store at {}", data.display());
    let keystore = config.key_file().with_file_name("keystore.db");
    anyhow::ensure!(keystore.exists(), "no keystore at {} (use --key-file)", keystore.display());
    let copied = kidvault_store_postgres::import::import_sqlite(&data, &keystore, &url)?;
    let landed = kidvault_store_postgres::import::counts(&url)?;
    for (table, n) in &copied {
        println!("{table:<20} {n:>10} rows");
    }
    anyhow::ensure!(copied == landed, "row counts differ after the copy: {copied:?} vs {landed:?}");
    let source: Arc<dyn Store> = Arc::new(SqliteStore::open(&data)?);
    let target: Arc<dyn Store> = Arc::new(PgStore::open(&url, 2)?);
    let size = source.ledger_size().await?;
    anyhow::ensure!(target.ledger_size().await? == size, "ledger sizes differ");
    let root = source.ledger_root(size).await?;
    anyhow::ensure!(target.ledger_root(size).await? == root, "ledger roots differ at size {size}");
    anyhow::ensure!(
        target.latest_checkpoint().await? == source.latest_checkpoint().await?,
        "latest signed checkpoints differ"
    );
    println!(
        "verified: every table's rows, ledger of {size} entries with root {}, latest checkpoint",
        root.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    Ok(())
}

/// Items read per page while moving blobs.
const PAGE: u32 = 500;

/// `kidvault migrate-blobs`: moves the content of every blob item from the
/// deployment's blob store to `to`. Each blob is copied, read back and compared,
/// and only then is its item pointed at the copy (if it has not changed
/// meanwhile); with `delete_source`, the original is then erased. Items already
/// in `to` are skipped, so an interrupted run is resumed by running it again.
/// Refused while deletions are unfinished: their purge erases blobs where they
/// were recorded. Run it with the nodes stopped, then start them on `to`.
pub async fn migrate_blobs(config: &Config, to: &str, delete_source: bool) -> anyhow::Result<()> {
    let from = config.blobs()?;
    let target = Config { blob_store: Some(to.to_owned()), ..config.clone() }.blobs()?;
    anyhow::ensure!(from != target, "--to names the blob store this deployment already uses");
    let (source, target) = (open_blobs(from.clone())?, open_blobs(target)?);
    let key_dir = config.key_file().parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let (store, _) = open_stores(&config.backend()?, &key_dir)?;
    let open = store.open_deletions().await?;
    anyhow::ensure!(
        open.is_empty(),
        "{} deletions are unfinished: let `kidvault serve` (or `kidvault sweep`) complete them first, \
         since they erase blobs where they were recorded",
        open.len()
    );
    let (mut moved, mut bytes, mut after) = (0u64, 0u64, None);
    loop {
        let page = store.blob_items(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.0);
        for (item, at) in page {
            if target.holds(&at) {
                continue; // moved by an earlier run
            }
            let data = source.get(&at).await.with_context(|| format!("item {item}: reading its blob"))?;
            let copy = target.put(item.0, data.clone()).await.with_context(|| format!("item {item}: copying"))?;
            anyhow::ensure!(target.get(&copy).await? == data, "item {item}: the copy reads back differently");
            if store.relocate_blob(item, &at, &copy).await? {
                moved += 1;
                bytes += data.len() as u64;
                if delete_source {
                    source.delete(&at).await.with_context(|| format!("item {item}: erasing the original"))?;
                }
            } else {
                target.delete(&copy).await?; // purged or changed meanwhile: no stray copy
            }
        }
    }
    let left = remaining(&*store, &*target).await?;
    anyhow::ensure!(left == 0, "{left} items still point outside {to}");
    println!("moved {moved} blobs ({:.1} MiB); every blob item's content is now in {to}", bytes as f64 / 1048576.0);
    if let (false, true, crate::config::Blobs::Local(dir)) = (delete_source, moved > 0, &from) {
        println!(
            "the originals are still in {}: ciphertext only (children deleted later are crypto-shredded there \
             too), but remove them once the deployment runs on the new store",
            dir.display()
        );
    }
    Ok(())
}

/// Blob items whose content is not in `target`.
async fn remaining(store: &dyn Store, target: &dyn kidvault_store::BlobStore) -> anyhow::Result<u64> {
    let (mut left, mut after) = (0u64, None);
    loop {
        let page = store.blob_items(after, PAGE).await?;
        let Some(last) = page.last() else { return Ok(left) };
        after = Some(last.0);
        left += page.iter().filter(|(_, at)| !target.holds(at)).count() as u64;
    }
}
