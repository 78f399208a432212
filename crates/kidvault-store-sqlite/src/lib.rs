//! # kidvault-store-sqlite
//!
//! The embedded backend of kidvault's [`Store`](kidvault_store::Store) and
//! [`Keystore`](kidvault_store::Keystore): each a SQLite file, served by the
//! executor below. What the store does is the shared SQL's
//! ([`kidvault_store::sql`]); this crate is how it runs on SQLite, its
//! migrations, its ledger proof readers, its erasure scan and ledger audit.
//!
//! One database file is served by one writer thread and a pool of readers. The
//! writer drains every write waiting in its queue and commits them together: one
//! WAL fsync acknowledges the whole batch (group commit). A write that fails before
//! changing anything fails alone; if one fails after changing rows, the batch is
//! rolled back and re-run with each write in its own savepoint. Reads run on blocking
//! threads against their own connections and never wait for the writer (WAL).
//! `synchronous=FULL`: a write is acknowledged only once it is on disk. A separate
//! thread checkpoints the WAL back into the database file, off the writer's path.

pub mod audit;
pub mod erasure;
mod keystore;
pub(crate) mod ledger;
mod store;
pub(crate) mod tx;
mod upper;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

pub use keystore::SqliteKeystore;
pub use store::SqliteStore;

use kidvault_store::sql::Tx;
use kidvault_store::StoreError;

/// An error inside the backend: the store's own, or the driver's classified as
/// the store reports it. It converts into [`StoreError`] at the boundary.
#[derive(Debug)]
pub struct Error(pub StoreError);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        e.0
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error(e)
    }
}

impl From<kidvault_store::sql::TxError> for Error {
    fn from(e: kidvault_store::sql::TxError) -> Self {
        Error(e.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.into())
    }
}

impl From<kidvault_ledger::LedgerError> for Error {
    fn from(e: kidvault_ledger::LedgerError) -> Self {
        Error(e.into())
    }
}

/// A driver error as the store reports it: a full disk, a damaged file, or
/// else a backend failure.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error(match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        })
    }
}

/// The shared SQL's executor for a type holding a [`Db`] in `db`: writes go to
/// the writer's next batch, reads to a blocking thread, point lookups run
/// inline; a scrub truncates the WAL.
macro_rules! db_executor {
    ($t:ty) => {
        impl kidvault_store::sql::backend::SqlExecutor for $t {
            async fn write<T, F>(&self, f: F) -> kidvault_store::Result<T>
            where
                T: Send + 'static,
                F: Fn(&mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<T> + Send + 'static,
            {
                Ok(self.db.write_tx(f).await?)
            }

            async fn read<T, F>(&self, f: F) -> kidvault_store::Result<T>
            where
                T: Send + 'static,
                F: Fn(&mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<T> + Send + 'static,
            {
                Ok(self.db.read_tx(f).await?)
            }

            fn lookup<T, F>(&self, f: F) -> impl std::future::Future<Output = kidvault_store::Result<T>> + Send
            where
                T: Send + 'static,
                F: Fn(&mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<T> + Send + 'static,
            {
                std::future::ready(self.db.lookup_tx(f).map_err(Into::into))
            }

            async fn scrub(&self) -> kidvault_store::Result<()> {
                Ok(self.db.scrub().await?)
            }

            fn scrubs_its_files(&self) -> bool {
                true
            }

            async fn check_integrity(&self) -> kidvault_store::Result<()> {
                Ok(self.db.check_integrity().await?)
            }
        }
    };
}

pub(crate) use db_executor;

const MAX_BATCH: usize = 512;
const MAX_IDLE_READERS: usize = 8;
/// Reads on blocking threads at once. Beyond the idle readers each would open
/// a connection (parsing the whole schema) and close it after: a sweep's 64
/// reads at once spent over half its time doing that. Two cores gain nothing
/// from more concurrent reads; the idle readers left over serve the lookups
/// made on the async threads.
const MAX_BLOCKING_READS: usize = 6;

/// A write waiting for the writer thread. It can run twice: once in the shared
/// batch, and again in isolation if another job of the batch failed after writing.
trait WriteJob: Send {
    /// Runs the job. Returns true if it failed *after* changing rows, in which
    /// case the batch must be rolled back and re-run in isolation.
    fn run(&mut self, conn: &Connection, isolated: bool) -> bool;
    /// Reports the outcome once the batch's commit is known.
    fn complete(self: Box<Self>, commit: std::result::Result<(), &StoreError>);
}

struct Job<T, F> {
    f: F,
    result: Option<Result<T>>,
    reply: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<T: Send, F: Fn(&Connection) -> Result<T> + Send> WriteJob for Job<T, F> {
    fn run(&mut self, conn: &Connection, isolated: bool) -> bool {
        if isolated {
            self.result = Some(in_savepoint(conn, &self.f));
            return false;
        }
        let before = conn.total_changes();
        let result = (self.f)(conn);
        let dirty = result.is_err() && conn.total_changes() != before;
        self.result = Some(result);
        dirty
    }

    fn complete(self: Box<Self>, commit: std::result::Result<(), &StoreError>) {
        let out = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(Error(StoreError::Backend("write was not run".into()))),
            (Err(e), _) => Err(Error(StoreError::Backend(format!("commit failed: {e}")))),
        };
        let _ = self.reply.send(out);
    }
}

/// A database file: one writer thread, a pool of read connections.
pub(crate) struct Db {
    path: PathBuf,
    jobs: Option<mpsc::Sender<Box<dyn WriteJob>>>,
    writer: Option<JoinHandle<()>>,
    checkpointer: Option<(Arc<std::sync::atomic::AtomicBool>, JoinHandle<()>)>,
    /// Scrub requests for the checkpointer thread (see [`Db::scrub`]).
    scrubs: Mutex<mpsc::Sender<ScrubReply>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Permits for [`Db::read`] (see [`MAX_BLOCKING_READS`]).
    blocking_reads: Arc<tokio::sync::Semaphore>,
    /// Read connections that map the file, for the ledger (see [`Role`]).
    mapped: Arc<Mutex<Vec<Connection>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish_non_exhaustive()
    }
}

/// How much of the file a mapped read connection maps. SQLite caps it at
/// SQLITE_MAX_MMAP_SIZE, raised from its 2 GiB default to this in
/// `.cargo/config.toml` (LIBSQLITE3_FLAGS).
const MAPPED_BYTES: i64 = 1 << 40;

/// What a connection is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Writer,
    Reader,
    /// Reads the ledger (entries by index, and its tree): random single pages
    /// scattered through a file of many gigabytes (an entry, a proof's tile).
    /// Mapping the file reads such a page in place from the kernel's page cache,
    /// with no read() call and no copy into a per-connection cache that other
    /// reads would churn. Only these connections map: the pages they touch show
    /// in the process's RSS as file-backed memory (the kernel's page cache,
    /// shared and reclaimable).
    Mapped,
}

/// Checks every page's structure (indexes against tables excepted, which is
/// what makes it cheap enough to run while serving); `Corrupt` names what is
/// wrong (the first ten problems).
fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let named = |e: rusqlite::Error| match Error::from(e) {
        Error(StoreError::Corrupt(e)) => Error(StoreError::Corrupt(format!("{}: {e}", path.display()))),
        e => e,
    };
    let problems: Vec<String> = conn
        .prepare("PRAGMA quick_check(10)")
        .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect::<Result<_, _>>())
        .map_err(named)?;
    if problems.iter().any(|p| p != "ok") {
        return Err(Error(StoreError::Corrupt(format!(
            "{} fails its integrity check: {}",
            path.display(),
            problems.join("; ")
        ))));
    }
    Ok(())
}

fn open_conn(path: &Path, role: Role) -> Result<Connection> {
    let write = role == Role::Writer;
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Proof queries vary in shape with the tree size: keep enough of them prepared.
    conn.set_prepared_statement_cache_capacity(256);
    // temp_store=MEMORY: SQLite never spills to temp files. secure_delete: freed
    // pages are zeroed (defence in depth; content is ciphertext anyway).
    conn.execute_batch(
        "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; PRAGMA secure_delete=ON;",
    )?;
    // Page cache (allocated only as used): the writer keeps hot index pages instead
    // of re-reading them on every batch; readers keep the upper tree levels.
    conn.execute_batch(if write { "PRAGMA cache_size=-65536;" } else { "PRAGMA cache_size=-8192;" })?;
    if role == Role::Mapped {
        conn.pragma_update(None, "mmap_size", MAPPED_BYTES)?;
    }

    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies `migrations`
    /// (version, SQL) that are not yet applied.
    pub(crate) fn open(path: &Path, migrations: &[(i64, &str)]) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = open_conn(path, Role::Writer)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error(StoreError::Backend(format!("could not enable WAL (got {mode})"))));
        }
        migrate(&conn, migrations)?;
        // Whatever a crash left in the WAL (a deletion's old page images among
        // it) is folded into the file and the WAL cut to nothing before serving.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        // A damaged file (a bad disk, a torn copy) is refused before serving.
        quick_check(&conn, path)?;
        // Checkpoints move off the writer: it only appends to the WAL (the durable
        // part), while its own thread copies committed pages back into the file.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        conn.wal_hook(Some(bound_wal));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (scrub_tx, scrub_rx) = mpsc::channel::<ScrubReply>();
        let checkpointer = {
            let (conn, stop) = (open_conn(path, Role::Writer)?, Arc::clone(&stop));
            conn.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
            std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || checkpoint_loop(&conn, &stop))?
        };
        let (tx, rx) = mpsc::channel::<Box<dyn WriteJob>>();
        let writer = std::thread::Builder::new()
            .name(format!("sqlite-writer-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("db")))
            .spawn(move || writer_loop(&conn, &rx, &scrub_rx))?;
        Ok(Self {
            path: path.to_owned(),
            jobs: Some(tx),
            writer: Some(writer),
            checkpointer: Some((stop, checkpointer)),
            scrubs: Mutex::new(scrub_tx),
            readers: Arc::new(Mutex::new(Vec::new())),
            blocking_reads: Arc::new(tokio::sync::Semaphore::new(MAX_BLOCKING_READS)),
            mapped: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Runs `f` in the writer's next batch; resolves after the batch commits. `f`
    /// must not change rows and then fail without reason: if it does, the batch is
    /// re-run with each job in its own savepoint, so it may run twice.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(Job { f, result: None, reply });
        self.jobs
            .as_ref()
            .ok_or_else(|| StoreError::Backend("store is closed".into()))?
            .send(job)
            .map_err(|_| StoreError::Backend("writer thread has stopped".into()))?;
        match rx.await.map_err(|_| StoreError::Backend("writer thread has stopped".into()))? {
            // SQLite reports some writes that meet a full disk as I/O errors
            // (growing the WAL or its index): when the volume has no room, say so.
            Err(Error(StoreError::Backend(m))) if self.volume_is_full() => Err(Error(StoreError::Full(m))),
            other => other,
        }
    }

    /// Whether the database's volume has no room left: a small probe write
    /// there fails with "no space" (checked only after a write has failed).
    fn volume_is_full(&self) -> bool {
        let Some(dir) = self.path.parent() else { return false };
        let probe = dir.join(".space-probe");
        let full = std::fs::write(&probe, [0u8; 64 * 1024]).err().is_some_and(|e| kidvault_store::is_full(&e));
        let _ = std::fs::remove_file(&probe);
        full
    }

    /// As [`Db::write`], for a body written in the shared SQL.
    pub(crate) async fn write_tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> kidvault_store::sql::R<T> + Send + 'static,
    {
        self.write(move |c| shared(c, &f)).await
    }

    /// As [`Db::read`], for a body written in the shared SQL.
    pub(crate) async fn read_tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> kidvault_store::sql::R<T> + Send + 'static,
    {
        self.read(move |c| shared(c, f)).await
    }

    /// Runs `f` on a read connection on a blocking thread. For scans and anything
    /// whose cost grows with the data.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = Arc::clone(&self.readers);
        let path = self.path.clone();
        let permit = Arc::clone(&self.blocking_reads)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("store is closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            with_reader(&pool, &path, Role::Reader, f)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader task failed: {e}")))?
    }

    /// Runs `f` on a read connection right here. Only for bounded point lookups by
    /// primary or unique key (tens of microseconds from the page cache): on the
    /// hot ingest path the hand-off to a blocking thread costs more than the
    /// lookup itself.
    pub(crate) fn lookup<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        with_reader(&self.readers, &self.path, Role::Reader, f)
    }

    /// As [`Db::lookup`], for a body written in the shared SQL.
    pub(crate) fn lookup_tx<T>(&self, f: impl FnOnce(&mut dyn Tx) -> kidvault_store::sql::R<T>) -> Result<T> {
        self.lookup(|c| shared(c, f))
    }

    /// As [`Db::lookup_mapped`], for a body written in the shared SQL.
    pub(crate) fn lookup_mapped_tx<T>(&self, f: impl FnOnce(&mut dyn Tx) -> kidvault_store::sql::R<T>) -> Result<T> {
        self.lookup_mapped(|c| shared(c, f))
    }

    /// Leaves no copy of a deleted or overwritten row in any file of the
    /// database: `secure_delete` already zeroes freed bytes in the pages the
    /// writer commits, so what remains are older page images in the WAL. A
    /// TRUNCATE checkpoint copies the newest images into the file and cuts the
    /// WAL to zero bytes; it waits for the writer's batch and for readers of
    /// older snapshots, and is retried until it completes (a concurrent PASSIVE
    /// checkpoint or a long read makes one attempt report busy).
    /// Runs on the writer thread between two batches: no other writer can
    /// take the lock meanwhile (from another connection, a stream of batches
    /// starved the checkpoint for seconds); requests waiting together share
    /// one checkpoint.
    pub(crate) async fn scrub(&self) -> Result<()> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.scrubs
            .lock()
            .map_err(|_| StoreError::Backend("scrub queue poisoned".into()))?
            .send(reply)
            .map_err(|_| StoreError::Backend("writer thread has stopped".into()))?;
        // Wakes the writer: the scrub runs right after this batch commits.
        self.write(|_| Ok(())).await?;
        done.await.map_err(|_| StoreError::Backend("writer thread has stopped".into()))?
    }

    /// Checks the file's structure again while serving ([`quick_check`]), on a
    /// connection opened for it: pages another connection holds in its cache
    /// are read from the file anew.
    pub(crate) async fn check_integrity(&self) -> Result<()> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || quick_check(&open_conn(&path, Role::Reader)?, &path))
            .await
            .map_err(|e| StoreError::Backend(format!("integrity check task failed: {e}")))?
    }

    /// As [`Db::lookup`], on a connection that maps the file: for the ledger
    /// (entries by index, roots and proofs).
    pub(crate) fn lookup_mapped<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        with_reader(&self.mapped, &self.path, Role::Mapped, f)
    }
}

/// Runs a body written in the shared SQL on `c`, inside the caller's transaction.
pub(crate) fn shared<T>(c: &Connection, f: impl FnOnce(&mut dyn Tx) -> kidvault_store::sql::R<T>) -> Result<T> {
    Ok(f(&mut tx::SqliteTx(c))?)
}

fn with_reader<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    role: Role,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let pooled = pool.lock().map_err(|_| StoreError::Backend("reader pool poisoned".into()))?.pop();
    let conn = match pooled {
        Some(c) => c,
        None => open_conn(path, role)?,
    };
    let out = f(&conn);
    if let Ok(mut p) = pool.lock() {
        // A burst of concurrent scans may open many connections; keep a few idle.
        if p.len() < MAX_IDLE_READERS {
            p.push(conn);
        }
    }
    out
}

impl Drop for Db {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what it holds, then exit.
        self.jobs.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some((stop, c)) = self.checkpointer.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = c.join();
        }
    }
}

/// The WAL's bound, in frames (pages): 64 MiB with 4 KiB pages.
const WAL_LIMIT_FRAMES: i64 = 16_384;

/// Called on the writer after every commit with the WAL's length. Under a
/// continuous stream of writes there is never a moment when every frame has been
/// copied, so the WAL would only grow; past the bound, the writer (the only one
/// that can pick a moment between batches) restarts it. The background
/// checkpointer has usually copied most frames already, so this is short.
fn bound_wal(wal: &rusqlite::hooks::Wal, frames: std::os::raw::c_int) -> rusqlite::Result<()> {
    if i64::from(frames) > WAL_LIMIT_FRAMES {
        if let Err(e) = wal.checkpoint_v2(rusqlite::hooks::CheckpointMode::RESTART) {
            // Busy (a checkpoint is running): the next commit tries again.
            tracing::debug!(error = %e, "WAL restart deferred");
        }
    }
    Ok(())
}

/// Copies committed WAL frames into the database file, continuously while there
/// is work and every 50 ms otherwise. PASSIVE checkpoints never block the writer
/// or readers; once all frames are copied, the writer starts the WAL over. A last
/// TRUNCATE checkpoint at close leaves a small WAL behind.
fn checkpoint_loop(conn: &Connection, stop: &std::sync::atomic::AtomicBool) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let progress: rusqlite::Result<(i64, i64)> =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?)));
        match progress {
            // Frames in the WAL, frames copied: idle when there is little left.
            Ok((log, done)) if log - done > 256 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; will retry"),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Where a scrub's outcome goes.
type ScrubReply = tokio::sync::oneshot::Sender<Result<()>>;

fn scrub_conn(conn: &Connection) -> Result<()> {
    let mut last = String::new();
    // Busy only while the background checkpointer copies frames, or a reader
    // holds an old snapshot past the busy timeout: retried.
    for _ in 0..2000 {
        let r = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
        match r {
            // Not busy: every frame was copied and the WAL cut to zero bytes
            // (writes after that start a new WAL, holding nothing old).
            Ok(0) => return Ok(()),
            Ok(_) => last = "busy".into(),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(Error(StoreError::Backend(format!("could not truncate the WAL: {last}"))))
}

fn in_savepoint<T>(conn: &Connection, f: impl Fn(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

/// Why a batch did not commit.
enum BatchFailure {
    /// A job failed after writing: re-run the batch in isolation.
    Dirty,
    Failed(StoreError),
}

/// Runs every job in one transaction. The fast path (`isolated == false`) uses no
/// savepoints: their per-page sub-journal copies dominate the writer's time, and a
/// job that fails before writing needs no rollback.
fn run_batch(
    conn: &Connection,
    batch: &mut [Box<dyn WriteJob>],
    isolated: bool,
) -> std::result::Result<(), BatchFailure> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| BatchFailure::Failed(Error::from(e).0))?;
    for job in batch.iter_mut() {
        if job.run(conn, isolated) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(BatchFailure::Dirty);
        }
    }
    conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        BatchFailure::Failed(Error::from(e).0)
    })
}

fn writer_loop(conn: &Connection, jobs: &mpsc::Receiver<Box<dyn WriteJob>>, scrubs: &mpsc::Receiver<ScrubReply>) {
    while let Some(mut batch) = kidvault_store::batch::next_batch(jobs, MAX_BATCH, MAX_BATCH, |_| 1) {
        let outcome = match run_batch(conn, &mut batch, false) {
            Err(BatchFailure::Dirty) => run_batch(conn, &mut batch, true),
            other => other,
        };
        let commit = match outcome {
            Ok(()) => Ok(()),
            Err(BatchFailure::Failed(e)) => Err(e),
            Err(BatchFailure::Dirty) => Err(StoreError::Backend("isolated batch still dirty".into())),
        };
        if let Err(e) = &commit {
            tracing::error!(error = %e, "write batch failed");
        }
        for job in batch {
            job.complete(commit.as_ref().map(|_| ()));
        }
        let waiting: Vec<_> = scrubs.try_iter().collect();
        if !waiting.is_empty() {
            let result = scrub_conn(conn).map_err(|e| e.to_string());
            for reply in waiting {
                let _ = reply.send(result.clone().map_err(|m| Error(StoreError::Backend(m))));
            }
        }
    }
}

fn migrate(conn: &Connection, migrations: &[(i64, &str)]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    for (version, sql) in migrations.iter().filter(|(v, _)| *v > current) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let applied = conn.execute_batch(sql).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, strftime('%s','now'))",
                [version],
            )
        });
        match applied {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                conn.execute_batch("ROLLBACK")?;
                return Err(Error(StoreError::Backend(format!("migration {version} failed: {e}"))));
            }
        }
    }
    Ok(())
}

pub(crate) fn uuid_from_sql(v: &[u8]) -> Result<uuid::Uuid> {
    uuid::Uuid::from_slice(v).map_err(|_| Error(StoreError::Corrupt("id is not 16 bytes".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database that cannot grow (its size cap reached, as on a full disk) is
    /// `Full`, not a generic failure: the API answers it `507 insufficient_storage`.
    #[test]
    fn a_full_database_is_told_apart_from_other_failures() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (b BLOB); PRAGMA max_page_count = 8;").unwrap();
        let err = (0..100)
            .find_map(|_| conn.execute("INSERT INTO t VALUES (zeroblob(4096))", []).err())
            .expect("the capped database fills up");
        assert!(matches!(StoreError::from(Error::from(err)), StoreError::Full(_)));
        let other = conn.execute("INSERT INTO missing VALUES (1)", []).unwrap_err();
        assert!(matches!(StoreError::from(Error::from(other)), StoreError::Backend(_)));
    }

    /// The ledger's readers map the whole file, past SQLite's default 2 GiB cap
    /// (which would silently leave most of a large ledger to read() calls): the
    /// build flag in `.cargo/config.toml` is in effect. Other readers do not map.
    #[test]
    fn ledger_readers_map_the_file_beyond_the_default_cap_and_no_others_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path, &[(1, "CREATE TABLE t (k INTEGER PRIMARY KEY);")]).unwrap();
        let size = |c: &Connection| Ok(c.query_row("PRAGMA mmap_size", [], |r| r.get::<_, i64>(0))?);
        let mapped = db.lookup_mapped(size).unwrap();
        assert_eq!(mapped, MAPPED_BYTES);
        assert!(mapped > 0x7fff_0000);
        assert_eq!(db.lookup(size).unwrap(), 0);
    }

    /// Under a continuous stream of writes the WAL stays bounded: it is
    /// checkpointed and restarted, not left to grow with the data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_continuous_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Arc::new(Db::open(&path, &[(1, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL);")]).unwrap());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let db = Arc::clone(&db);
                tokio::spawn(async move {
                    for i in 0..600i64 {
                        // ~120 KiB per write: 2,400 writes put ~290 MiB through the WAL.
                        db.write(move |c| {
                            c.execute("INSERT INTO t (k, v) VALUES (?1, zeroblob(120000))", [w * 100_000 + i])?;
                            Ok(())
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let wal = std::fs::metadata(dir.path().join("t.db-wal")).map(|m| m.len()).unwrap_or(0);
        let limit = (WAL_LIMIT_FRAMES as u64) * 4096;
        assert!(wal < 2 * limit, "WAL grew to {wal} bytes (bound {limit})");
    }

    /// A write that fails after changing rows must leave nothing behind, and the
    /// writes batched with it must still land, exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_failing_after_changes_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), &[(1, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);")])
            .unwrap();
        let db = Arc::new(db);
        let mut tasks = Vec::new();
        for k in 0..64i64 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                db.write(move |c| {
                    c.execute("INSERT INTO t (k, v) VALUES (?1, 'x')", [k])?;
                    if k % 8 == 3 {
                        // Fails after its insert: a dirty failure.
                        c.execute("INSERT INTO t (k, v) VALUES (?1, NULL)", [k + 1000])?;
                    }
                    Ok(k)
                })
                .await
            }));
        }
        let mut ok = Vec::new();
        for t in tasks {
            if let Ok(k) = t.await.unwrap() {
                ok.push(k);
            }
        }
        assert_eq!(ok.len(), 56);
        let rows: Vec<i64> = db
            .read(|c| {
                let mut s = c.prepare("SELECT k FROM t ORDER BY k")?;
                let rows = s.query_map([], |r| r.get(0))?.collect::<std::result::Result<Vec<i64>, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        ok.sort_unstable();
        assert_eq!(rows, ok, "exactly the successful writes, once each");
    }
}
