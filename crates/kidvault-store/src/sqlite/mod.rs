//! The embedded SQLite backend.
//!
//! One database file is served by one writer thread and a pool of readers. The
//! writer drains every write waiting in its queue, runs each in its own savepoint
//! (one failing write does not abort the others) and commits them together: one
//! WAL fsync acknowledges the whole batch (group commit). Reads run on blocking
//! threads against their own connections and never wait for the writer (WAL).
//! `synchronous=FULL`: a write is acknowledged only once it is on disk.

mod keystore;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use chrono::TimeZone;
use kidvault_domain::Timestamp;
use rusqlite::{Connection, OpenFlags};

pub use keystore::SqliteKeystore;
pub use store::SqliteStore;

use crate::{Result, StoreError};

const MAX_BATCH: usize = 512;

type Completion = Box<dyn FnOnce(std::result::Result<(), &StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;

/// A database file: one writer thread, a pool of read connections.
pub(crate) struct Db {
    path: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open_conn(path: &Path, write: bool) -> Result<Connection> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // temp_store=MEMORY: SQLite never spills to temp files. secure_delete: freed
    // pages are zeroed (defence in depth; content is ciphertext anyway).
    conn.execute_batch(
        "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; PRAGMA secure_delete=ON;",
    )?;
    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies `migrations`
    /// (version, SQL) that are not yet applied.
    pub(crate) fn open(path: &Path, migrations: &[(i64, &str)]) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = open_conn(path, true)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "could not enable WAL (got {mode})"
            )));
        }
        migrate(&conn, migrations)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let writer = std::thread::Builder::new()
            .name(format!(
                "sqlite-writer-{}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("db")
            ))
            .spawn(move || writer_loop(&conn, &rx))?;
        Ok(Self {
            path: path.to_owned(),
            jobs: Some(tx),
            writer: Some(writer),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Runs `f` in the writer's next batch; resolves after the batch commits.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit| {
                let out = match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Backend(format!("commit failed: {e}"))),
                };
                let _ = tx.send(out);
            })
        });
        self.jobs
            .as_ref()
            .ok_or_else(|| StoreError::Backend("store is closed".into()))?
            .send(job)
            .map_err(|_| StoreError::Backend("writer thread has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("writer thread has stopped".into()))?
    }

    /// Runs `f` on a read connection on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = Arc::clone(&self.readers);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = pool
                .lock()
                .map_err(|_| StoreError::Backend("reader pool poisoned".into()))?
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_conn(&path, false)?,
            };
            let out = f(&conn);
            if let Ok(mut p) = pool.lock() {
                p.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader task failed: {e}")))?
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what it holds, then exit.
        self.jobs.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
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

fn writer_loop(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = StoreError::from(e);
            for job in batch {
                // Nothing ran: report the failure to each waiter without running it.
                drop(job);
            }
            tracing::error!(error = %e, "could not begin a write transaction");
            continue;
        }
        let completions: Vec<Completion> = batch.into_iter().map(|job| job(conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for c in completions {
            c(commit.as_ref().map(|_| ()));
        }
    }
}

fn migrate(conn: &Connection, migrations: &[(i64, &str)]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
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
                return Err(StoreError::Backend(format!(
                    "migration {version} failed: {e}"
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn ts_to_sql(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn ts_from_sql(v: i64) -> Result<Timestamp> {
    chrono::Utc
        .timestamp_micros(v)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {v} out of range")))
}

pub(crate) fn uuid_from_sql(v: &[u8]) -> Result<uuid::Uuid> {
    uuid::Uuid::from_slice(v).map_err(|_| StoreError::Corrupt("id is not 16 bytes".into()))
}
