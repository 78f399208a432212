//! `kidvault bench ledger`: appends to the tamper-evident ledger through the real
//! store (batched, one transaction per batch, as the single writer commits them),
//! then inclusion-proof generation and verification at the final size, sampled
//! at random indexes. Heap RSS is recorded as the log grows: it must not grow
//! with it (the tree lives on disk; a writer keeps only the right edge).

use std::path::PathBuf;
use std::time::Instant;

use kidvault_ledger::entry::{EntryKind, NewEntry};
use kidvault_ledger::hash::leaf_hash;
use kidvault_ledger::verify::verify_inclusion;
use kidvault_store::Store;
use kidvault_store_sqlite::SqliteStore;
use serde_json::{json, Value};

use super::{rss_kib, storage_read_bytes, Hist};

#[derive(Clone, Debug)]
pub struct LedgerOpts {
    pub entries: u64,
    pub batch: usize,
    /// Proofs sampled at the end.
    pub samples: usize,
    pub dir: PathBuf,
    /// Consecutive entries about the same child (a guardian paging through one
    /// child's timeline). 1 = every entry about a different child: the worst case
    /// for the child index, which then dirties one page per entry.
    pub run: u64,
    /// Drop the kernel's page cache before the proofs.
    pub cold: bool,
}

fn sample_entry(i: u64, run: u64) -> NewEntry {
    let who = (i / run.max(1)) % 10_000;
    let mut e = NewEntry {
        kind: EntryKind::AccessRead,
        at: "2026-11-28T00:00:00.000000Z".into(),
        actor: format!("guardian:01a21f8a-678a-7368-a5d7-{:012x}", who / 2),
        household: Some(format!("01a21f8a-678a-7d46-bc7c-{:012x}", who / 2)),
        child: Some(format!("01a21f8a-678a-7000-8000-{:012x}", who)),
        subjects: vec![format!("01a21f8a-678b-7000-8000-{:012x}", i)],
        purpose: Some("guardian_review".into()),
        detail: Default::default(),
        counts: Default::default(),
        hashes: Default::default(),
    };
    e.detail.insert("what".into(), "content.read".into());
    e
}

/// Writes the file system's dirty pages out, then asks the kernel to drop its
/// clean page cache: the next read of any page goes to the disk.
fn drop_page_cache() -> anyhow::Result<()> {
    let status = std::process::Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "sync failed");
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")
        .map_err(|e| anyhow::anyhow!("--cold needs root to write /proc/sys/vm/drop_caches: {e}"))
}

/// xorshift64: reproducible sample indexes without a dependency.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

pub async fn ledger(opts: LedgerOpts) -> anyhow::Result<Value> {
    std::fs::create_dir_all(&opts.dir)?;
    let tmp = tempfile::Builder::new().prefix("kidvault-bench-ledger-").tempdir_in(&opts.dir)?;
    let store = SqliteStore::open(&tmp.path().join("kidvault.db"))?;
    let bar = indicatif::ProgressBar::new(opts.entries);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix("appends");
    let heap_start = rss_kib("RssAnon:");
    let mut heap_each_million = Vec::new();
    let start = Instant::now();
    let mut appended = 0u64;
    while appended < opts.entries {
        let n = (opts.entries - appended).min(opts.batch as u64);
        let batch: Vec<NewEntry> = (appended..appended + n).map(|i| sample_entry(i, opts.run)).collect();
        store.append_entries(&batch).await?;
        let before = appended;
        appended += n;
        bar.set_position(appended);
        if before / 1_000_000 != appended / 1_000_000 {
            heap_each_million.push((rss_kib("RssAnon:") as f64 / 1024.0 * 10.0).round() / 10.0);
        }
    }
    let append_secs = start.elapsed().as_secs_f64();
    bar.finish();

    if opts.cold {
        drop_page_cache()?;
    }
    let size = store.ledger_size().await?;
    let root = store.ledger_root(size).await?;
    let (mut gen, mut ver) = (Hist::new(), Hist::new());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let (mut proof_storage_bytes, mut proofs_reading_storage) = (0u64, 0u64);
    for _ in 0..opts.samples {
        let index = next(&mut x) % size;
        let body = store.ledger_entry(index).await?.map(|e| e.body).unwrap_or_default();
        let read = storage_read_bytes();
        let t = Instant::now();
        let proof = store.inclusion_proof(index, size).await?;
        gen.record(t.elapsed());
        let read = storage_read_bytes() - read;
        proof_storage_bytes += read;
        proofs_reading_storage += u64::from(read > 0);
        let leaf = leaf_hash(&body);
        let t = Instant::now();
        verify_inclusion(&leaf, index, size, &proof, &root)?;
        ver.record(t.elapsed());
    }
    // The same indexes again: each proof's pages have been read once (what a
    // server's page cache holds for entries being looked at).
    let mut again = Hist::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..opts.samples {
        let index = next(&mut x) % size;
        let t = Instant::now();
        store.inclusion_proof(index, size).await?;
        again.record(t.elapsed());
    }
    // A tree whose last block of 64 leaves is incomplete (any size that is not a
    // multiple of 64, such as most checkpoints): the unfinished block's nodes are
    // computed from its stored leaf hashes. Fresh indexes: first reads again.
    let partial_size = if size % 64 == 0 && size > 64 { size - 27 } else { size };
    let mut partial = Hist::new();
    let mut y = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..opts.samples {
        let index = next(&mut y) % partial_size;
        store.ledger_entry(index).await?;
        let t = Instant::now();
        store.inclusion_proof(index, partial_size).await?;
        partial.record(t.elapsed());
    }
    let mut cons = Hist::new();
    for _ in 0..opts.samples.min(1000) {
        let from = 1 + next(&mut x) % size;
        let t = Instant::now();
        store.consistency_proof(from, size).await?;
        cons.record(t.elapsed());
    }
    let db_bytes: u64 = std::fs::read_dir(tmp.path())?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    Ok(json!({
        "entries": size,
        "batch": opts.batch,
        "entries_per_child_run": opts.run,
        "page_cache_dropped_before_proofs": opts.cold,
        "append_seconds": (append_secs * 10.0).round() / 10.0,
        "appends_per_s": (size as f64 / append_secs).round(),
        "inclusion_proof_generation_us": gen.summary_us(),
        "inclusion_proof_generation_repeat_us": again.summary_us(),
        // Proofs that had to read from storage (not the page cache), and how much.
        "first_proofs_reading_storage": proofs_reading_storage,
        "first_proofs_storage_bytes": proof_storage_bytes,
        "inclusion_proof_generation_partial_block_us": partial.summary_us(),
        "partial_block_tree_size": partial_size,
        "inclusion_proof_verification_us": ver.summary_us(),
        "consistency_proof_generation_us": cons.summary_us(),
        "proof_samples": opts.samples,
        "bytes_on_disk_per_entry": db_bytes / size.max(1),
        "heap_rss_mib": {
            "start": (heap_start as f64 / 1024.0 * 10.0).round() / 10.0,
            "each_million_entries": heap_each_million,
            "end": (rss_kib("RssAnon:") as f64 / 1024.0 * 10.0).round() / 10.0,
        },
        // Pages of the database file mapped by readers: the kernel's page cache
        // (shared, reclaimable), not the process's own memory.
        "file_mapped_rss_mib_end": (rss_kib("RssFile:") as f64 / 1024.0 * 10.0).round() / 10.0,
    }))
}
