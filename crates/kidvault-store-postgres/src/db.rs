//! Connections, transactions and migrations.
//!
//! Every store method is one transaction: a write is run by [`PgDb::write`] in a
//! SERIALIZABLE transaction shared with the writes waiting beside it (group
//! commit, [`crate::group`]); a read by [`PgDb::read`] (REPEATABLE READ, read
//! only) on a blocking thread with a pooled connection, or by [`PgDb::single`]
//! (one statement, no transaction). A transaction that fails with a
//! serialization failure (SQLSTATE 40001) or a deadlock (40P01) is rolled back
//! and run again from the start, with exponential backoff and jitter:
//! PostgreSQL, CockroachDB and YugabyteDB all report conflicts this way. No
//! advisory locks and no LISTEN/NOTIFY anywhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kidvault_store::StoreError;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, Row, Statement};

use crate::group::Lanes;
use crate::readers::Readers;
use crate::target::Target;

/// The shared SQL's executor for a type holding an `Arc<PgDb>` in `db`: writes
/// SERIALIZABLE, reads REPEATABLE READ READ ONLY, both re-run on conflict.
/// PostgreSQL keeps a deleted row's bytes in the table file until VACUUM
/// reuses the space, and in WAL segments until they are recycled: kidvault
/// cannot remove them, so a scrub does nothing and says so
/// (`scrubs_its_files`; README, "Erasure on PostgreSQL").
macro_rules! pg_executor {
    ($t:ty) => {
        impl kidvault_store::sql::backend::SqlExecutor for $t {
            async fn write<T, F>(&self, f: F) -> kidvault_store::Result<T>
            where
                T: Send + 'static,
                F: Fn(&mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<T> + Send + 'static,
            {
                self.db.write(move |tx| Ok(f(tx)?)).await
            }

            async fn write_mergeable<W: kidvault_store::sql::backend::MergeableWrite>(
                &self,
                w: W,
            ) -> kidvault_store::Result<W::Output> {
                self.db.write_mergeable(w).await
            }

            async fn read<T, F>(&self, f: F) -> kidvault_store::Result<T>
            where
                T: Send + 'static,
                F: Fn(&mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<T> + Send + 'static,
            {
                self.db.read(move |tx| Ok(f(tx)?)).await
            }

            async fn single<T, F>(&self, f: F) -> kidvault_store::Result<T>
            where
                T: Send + 'static,
                F: Fn(&mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<T> + Send + 'static,
            {
                self.db.single(move |tx| Ok(f(tx)?)).await
            }

            async fn single_mergeable<Q: kidvault_store::sql::backend::MergeableRead>(
                &self,
                q: Q,
            ) -> kidvault_store::Result<Q::Output> {
                self.db.single_mergeable(q).await
            }

            async fn single_scan<T, F>(&self, f: F) -> kidvault_store::Result<T>
            where
                T: Send + 'static,
                F: Fn(&mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<T> + Send + 'static,
            {
                self.db.single(move |tx| Ok(f(tx)?)).await
            }

            async fn scrub(&self) -> kidvault_store::Result<()> {
                Ok(())
            }

            fn scrubs_its_files(&self) -> bool {
                false
            }

            /// PostgreSQL checks its own pages when the cluster has data
            /// checksums (`initdb --data-checksums`) and counts the failures
            /// it met; without checksums it cannot tell (the README says so).
            async fn check_integrity(&self) -> kidvault_store::Result<()> {
                let failures = kidvault_store::sql::backend::SqlExecutor::single(self, |tx| {
                    tx.one(
                        "SELECT coalesce(checksum_failures, 0) AS failures FROM pg_stat_database \
                         WHERE datname = current_database()",
                        &[],
                        |r| r.i64("failures"),
                    )
                })
                .await?;
                if failures > 0 {
                    return Err(kidvault_store::StoreError::Corrupt(format!(
                        "PostgreSQL found {failures} data page(s) whose checksum failed"
                    )));
                }
                Ok(())
            }
        }
    };
}
pub(crate) use pg_executor;

/// How many times a transaction is tried before a conflict is reported.
pub(crate) const MAX_ATTEMPTS: u32 = 12;
/// Writer threads per store, each with its own connection (see [`crate::group`]).
/// One: batches on two connections of one node conflict under SERIALIZABLE
/// (time-ordered ids put every new item on the same index page that the
/// lineage checks read), and measured slower: 64 devices, small items/s with
/// 1, 2 and 4 lanes were 1,216, 973 and 747 (`kidvault bench ingest --database`).
pub(crate) const WRITE_LANES: usize = 1;
/// Connections kept idle in the pool.
const MAX_IDLE: usize = 16;

/// Runs blocking driver calls on a thread of their own: the driver runs its own
/// runtime, which may not start inside the caller's (an async `main`, say).
pub(crate) fn on_own_thread<T: Send, Er: From<StoreError> + Send>(
    f: impl FnOnce() -> std::result::Result<T, Er> + Send,
) -> std::result::Result<T, Er> {
    std::thread::scope(|s| {
        s.spawn(f).join().unwrap_or_else(|_| Err(Er::from(StoreError::Backend("database thread panicked".into()))))
    })
}

/// An error inside a transaction: the database's (which may call for a retry)
/// or the store's own.
#[derive(Debug)]
pub(crate) enum E {
    Pg(postgres::Error),
    Store(StoreError),
    /// The connection was dead before the transaction began: nothing ran, so
    /// it is safe to run again on a fresh connection.
    Dead(postgres::Error),
    /// A conflict with a concurrent transaction, met in the shared SQL: run
    /// the transaction again.
    Retry(String),
}

impl From<postgres::Error> for E {
    fn from(e: postgres::Error) -> Self {
        E::Pg(e)
    }
}

impl From<StoreError> for E {
    fn from(e: StoreError) -> Self {
        E::Store(e)
    }
}

impl From<kidvault_ledger::LedgerError> for E {
    fn from(e: kidvault_ledger::LedgerError) -> Self {
        E::Store(e.into())
    }
}

impl From<kidvault_domain::lineage::LineageError> for E {
    fn from(e: kidvault_domain::lineage::LineageError) -> Self {
        E::Store(e.into())
    }
}

impl From<E> for StoreError {
    fn from(e: E) -> Self {
        match e {
            E::Store(s) => s,
            E::Pg(p) => store_error(p),
            E::Dead(p) => StoreError::Unavailable(describe(&p)),
            E::Retry(m) => StoreError::Backend(m),
        }
    }
}

/// A driver error as the store reports it: a full disk, a server that cannot
/// be reached now (restarting, shutting down, the connection lost), or else a
/// backend failure.
pub(crate) fn store_error(e: postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::DISK_FULL) {
        return StoreError::Full(describe(&e));
    }
    if gone(&e) {
        StoreError::Unavailable(describe(&e))
    } else {
        StoreError::Backend(describe(&e))
    }
}

/// Whether the error says the connection or the server is gone: 08
/// (connection exceptions), 57P01-03 (admin shutdown, crash shutdown, cannot
/// connect now), 53300 (too many connections), a closed client, a socket error.
pub(crate) fn gone(e: &postgres::Error) -> bool {
    let class = e.code().map(|c| c.code().get(..2).unwrap_or_default().to_owned());
    e.is_closed()
        || class.as_deref() == Some("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .iter()
        .any(|c| e.code() == Some(c))
        || (e.code().is_none() && e.as_db_error().is_none() && is_io(e))
}

/// Whether the driver error is a socket-level failure (refused, reset, timed out).
fn is_io(e: &postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A connection of its own, for the tools (audit, erasure scan, migration),
/// secured as the URL says ([`Target`]). Blocking: call it on a thread of its
/// own ([`on_own_thread`]).
pub(crate) fn connect_url(url: &str) -> kidvault_store::Result<Client> {
    Target::parse(url)?.connect().map_err(store_error)
}

/// The error's text with its SQLSTATE (never a parameter value).
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

pub(crate) type R<T> = std::result::Result<T, E>;

/// Whether the transaction should be run again.
pub(crate) fn retryable(e: &E) -> bool {
    matches!(e, E::Retry(_))
        || matches!(e, E::Pg(p) if p.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || p.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED))
}

/// Whether the error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &E) -> bool {
    matches!(e, E::Pg(p) if p.code() == Some(&SqlState::UNIQUE_VIOLATION))
}

/// A pooled connection and its prepared statements.
pub(crate) struct Conn {
    pub(crate) client: Client,
    pub(crate) statements: HashMap<String, Statement>,
    /// When it was last given back: one idle for long is checked before use.
    idle_since: std::time::Instant,
}

/// How connections are opened: the server, the schema searched first, and the
/// count of conflict retries shared by everything that uses them.
#[derive(Clone)]
pub(crate) struct Connector {
    target: Arc<Target>,
    /// The schema the connections search first: the shared SQL names tables
    /// without a schema (the keystore's live in `kidvault_keys`).
    schema: String,
    pub(crate) retries: Arc<AtomicU64>,
}

impl Connector {
    pub(crate) fn connect(&self) -> R<Conn> {
        // A server that cannot be reached (down, restarting, refusing
        // connections) is unavailable, whatever the driver's error says.
        let mut client = self.target.connect().map_err(|e| E::Store(StoreError::Unavailable(describe(&e))))?;
        // Schema names are kidvault's own constants, never input.
        client.batch_execute(&format!("SET search_path TO {}, public", self.schema))?;
        Ok(Conn { client, statements: HashMap::new(), idle_since: std::time::Instant::now() })
    }
}

/// A connection idle at least this long is checked (a round trip) before it is
/// used: the server may have restarted or dropped it meanwhile.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(2);

/// Where a [`Tx`]'s statements run.
pub(crate) enum Session<'a> {
    /// In a transaction.
    Tx(postgres::Transaction<'a>),
    /// On the bare connection, for one statement only (it commits by itself
    /// and sees one snapshot): a read that saves BEGIN and COMMIT.
    Single { client: &'a mut Client, done: bool },
}

/// One transaction (or one statement): statements are prepared once per
/// connection and reused.
pub(crate) struct Tx<'a> {
    pub(crate) tx: Session<'a>,
    pub(crate) statements: &'a mut HashMap<String, Statement>,
}

pub(crate) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// Runs `$call` on the session's transaction or connection.
macro_rules! on_session {
    ($s:expr, $c:ident => $call:expr) => {
        match $s {
            Session::Tx($c) => $call,
            Session::Single { client: $c, .. } => $call,
        }
    };
}

impl<'a> Tx<'a> {
    pub(crate) fn new(tx: postgres::Transaction<'a>, statements: &'a mut HashMap<String, Statement>) -> Self {
        Tx { tx: Session::Tx(tx), statements }
    }

    /// Commits the transaction (a single statement has committed already).
    pub(crate) fn commit(self) -> R<()> {
        match self.tx {
            Session::Tx(t) => Ok(t.commit()?),
            Session::Single { .. } => Ok(()),
        }
    }

    fn statement(&mut self, sql: &str) -> R<Statement> {
        if let Session::Single { done, .. } = &mut self.tx {
            if std::mem::replace(done, true) {
                return Err(E::Store(StoreError::Backend("a single-statement read ran a second statement".into())));
            }
        }
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        // The shared SQL numbers its placeholders SQLite's way (`?1`).
        let s = on_session!(&mut self.tx, c => c.prepare(&kidvault_store::sql::dollar_placeholders(sql)))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Runs a statement; returns the rows it changed.
    pub(crate) fn exec(&mut self, sql: &str, params: Params<'_>) -> R<u64> {
        let s = self.statement(sql)?;
        Ok(on_session!(&mut self.tx, c => c.execute(&s, params))?)
    }

    pub(crate) fn rows(&mut self, sql: &str, params: Params<'_>) -> R<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(on_session!(&mut self.tx, c => c.query(&s, params))?)
    }

    #[cfg(test)]
    pub(crate) fn one(&mut self, sql: &str, params: Params<'_>) -> R<Row> {
        let s = self.statement(sql)?;
        Ok(on_session!(&mut self.tx, c => c.query_one(&s, params))?)
    }

    /// Runs SQL text without parameters (DDL).
    pub(crate) fn batch(&mut self, sql: &str) -> R<()> {
        Ok(on_session!(&mut self.tx, c => c.batch_execute(sql))?)
    }
}

/// A PostgreSQL database: writer lanes (group commit), a pool of read
/// connections, transactions retried on conflict.
pub(crate) struct PgDb {
    connector: Connector,
    lanes: Lanes,
    readers: Readers,
    pool: Arc<Mutex<Vec<Conn>>>,
    /// Bounds the read connections open at once (each read holds at most one).
    permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("PgDb").field("dbname", &self.connector.target.config.get_dbname()).finish_non_exhaustive()
    }
}

impl Drop for PgDb {
    /// Closes the pooled connections on a thread of their own: closing one runs
    /// the driver's runtime, which may not run inside the caller's.
    fn drop(&mut self) {
        self.lanes.stop();
        self.readers.stop();
        let conns = self.pool.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        if !conns.is_empty() {
            let _ = std::thread::spawn(move || drop(conns)).join();
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Mode {
    Write,
    Read,
    /// One read statement, outside a transaction.
    Single,
}

impl PgDb {
    /// Connects to `url` (checking it at once) and applies `migrations` (version,
    /// SQL) not yet recorded in `{schema}.schema_migrations`. Reads open at
    /// most `max_connections`; writes use [`WRITE_LANES`] more.
    pub(crate) fn open(url: &str, max_connections: usize, schema: &str, migrations: &[(i64, &str)]) -> R<Self> {
        let target = Target::parse(url)?;
        target.warn_if_unauthenticated();
        let connector =
            Connector { target: Arc::new(target), schema: schema.to_owned(), retries: Arc::new(AtomicU64::new(0)) };
        let lanes =
            Lanes::start(&connector, std::env::var("KVLANES").ok().and_then(|v| v.parse().ok()).unwrap_or(WRITE_LANES))
                .map_err(|e| E::Store(StoreError::Backend(format!("starting the database writers: {e}"))))?;
        let readers = Readers::start(&connector, crate::readers::READERS)
            .map_err(|e| E::Store(StoreError::Backend(format!("starting the database readers: {e}"))))?;
        let db = Self {
            connector,
            lanes,
            readers,
            pool: Arc::new(Mutex::new(Vec::new())),
            permits: Arc::new(tokio::sync::Semaphore::new(max_connections.max(1))),
        };
        on_own_thread(|| {
            let mut conn = db.connect()?;
            migrate(&db, &mut conn, schema, migrations)?;
            db.give_back(conn);
            Ok(db)
        })
    }

    fn connect(&self) -> R<Conn> {
        self.connector.connect()
    }

    #[cfg(test)]
    pub(crate) fn connector(&self) -> Connector {
        self.connector.clone()
    }

    fn give_back(&self, mut conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        conn.idle_since = std::time::Instant::now();
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < MAX_IDLE {
                p.push(conn);
            }
        }
    }

    /// Transactions run again after a conflict, since the store opened.
    pub(crate) fn retries(&self) -> u64 {
        self.connector.retries.load(Ordering::Relaxed)
    }

    /// Runs `f` in a SERIALIZABLE transaction, shared with the writes waiting
    /// beside it and run again from the start on conflict ([`crate::group`]).
    pub(crate) async fn write<T, F>(self: &Arc<Self>, f: F) -> kidvault_store::Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> R<T> + Send + 'static,
    {
        self.lanes.write(f).await
    }

    /// A write that may share statements with others of its kind in its batch.
    pub(crate) async fn write_mergeable<W: kidvault_store::sql::backend::MergeableWrite>(
        self: &Arc<Self>,
        w: W,
    ) -> kidvault_store::Result<W::Output> {
        self.lanes.write_mergeable(w).await
    }

    /// A one-statement read shared with the concurrent reads of its kind
    /// ([`crate::readers`]).
    pub(crate) async fn single_mergeable<Q: kidvault_store::sql::backend::MergeableRead>(
        self: &Arc<Self>,
        q: Q,
    ) -> kidvault_store::Result<Q::Output> {
        self.readers.read(q).await
    }

    /// Runs `f` in a read-only REPEATABLE READ transaction (one snapshot).
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> kidvault_store::Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> R<T> + Send + 'static,
    {
        self.run(Mode::Read, f).await
    }

    /// Runs `f`, which reads with one statement, on the bare connection: one
    /// round trip instead of three (a second statement is refused).
    pub(crate) async fn single<T, F>(self: &Arc<Self>, f: F) -> kidvault_store::Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> R<T> + Send + 'static,
    {
        self.run(Mode::Single, f).await
    }

    async fn run<T, F>(self: &Arc<Self>, mode: Mode, f: F) -> kidvault_store::Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> R<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("store is closed".into()))?;
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            db.run_blocking(mode, &f)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("database task failed: {e}")))?
        .map_err(StoreError::from)
    }

    /// Runs `f` here, on this (blocking) thread.
    pub(crate) fn run_blocking<T>(&self, mode: Mode, f: &dyn Fn(&mut Tx<'_>) -> R<T>) -> R<T> {
        // A pooled connection the server has dropped (a restart, an idle
        // timeout) is never handed to a request: it is checked and discarded.
        let mut conn = loop {
            let pooled = self.pool.lock().map_err(|_| StoreError::Backend("pool poisoned".into()))?.pop();
            match pooled {
                Some(mut c) => {
                    let stale = c.idle_since.elapsed() >= CHECK_AFTER_IDLE;
                    let dead = c.client.is_closed() || (stale && c.client.is_valid(Duration::from_secs(2)).is_err());
                    if !dead {
                        break c;
                    }
                }
                None => break self.connect()?,
            }
        };
        let retries = &self.connector.retries;
        let mut out = attempt_all(&mut conn, mode, f, retries);
        // A single read statement that found its connection gone ran nothing
        // that matters: it may run again too.
        let lost_read = matches!(mode, Mode::Single) && matches!(out, Err(E::Store(StoreError::Unavailable(_))));
        if matches!(out, Err(E::Dead(_))) || lost_read {
            // Dropped under us since the check (a restart): once more, fresh.
            conn = self.connect()?;
            out = attempt_all(&mut conn, mode, f, retries);
        }
        self.give_back(conn);
        out
    }
}

pub(crate) fn attempt_all<T>(
    conn: &mut Conn,
    mode: Mode,
    f: &dyn Fn(&mut Tx<'_>) -> R<T>,
    retries: &AtomicU64,
) -> R<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match attempt_once(conn, mode, f) {
            Err(e) if attempt < MAX_ATTEMPTS && retryable(&e) => {
                retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(backoff(attempt));
            }
            Err(e) if retryable(&e) => {
                return Err(E::Store(StoreError::Conflict(format!(
                    "transaction still conflicting after {MAX_ATTEMPTS} attempts"
                ))))
            }
            other => return other,
        }
    }
}

fn attempt_once<T>(conn: &mut Conn, mode: Mode, f: &dyn Fn(&mut Tx<'_>) -> R<T>) -> R<T> {
    let Conn { client, statements, .. } = conn;
    if let Mode::Single = mode {
        if client.is_closed() {
            return Err(E::Store(StoreError::Unavailable("connection closed".into())));
        }
        return f(&mut Tx { tx: Session::Single { client, done: false }, statements });
    }
    let builder = client.build_transaction();
    let builder = match mode {
        Mode::Write => builder.isolation_level(IsolationLevel::Serializable),
        Mode::Read | Mode::Single => builder.isolation_level(IsolationLevel::RepeatableRead).read_only(true),
    };
    let tx = builder.start().map_err(|e| if gone(&e) { E::Dead(e) } else { E::Pg(e) })?;
    let mut tx = Tx::new(tx, statements);
    let value = f(&mut tx)?; // dropping `tx` on error rolls back
    tx.commit()?;
    Ok(value)
}

/// 2, 4, 8 ... ms (at most 512), each with up to as much again of jitter.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 1u64 << attempt.min(9);
    let jitter =
        u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()))
            % (base * 1000);
    Duration::from_micros(base * 1000 + jitter)
}

/// Applies the migrations not yet recorded. Each runs in its own transaction
/// that first claims its version row: a node migrating at the same time waits
/// on that row, then finds it taken and skips (no advisory locks).
fn migrate(db: &PgDb, conn: &mut Conn, schema: &str, migrations: &[(i64, &str)]) -> R<()> {
    let table = format!("{schema}.schema_migrations");
    let create = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {table} (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"
    );
    // Two nodes creating the table at once may conflict: retried like any write.
    attempt_all(conn, Mode::Write, &|tx| tx.batch(&create), &db.connector.retries).or_else(|e| {
        if is_unique_violation(&e) {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    for (version, sql) in migrations {
        let claim = format!(
            "INSERT INTO {table} (version, applied_at)
             VALUES ($1, (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT) ON CONFLICT (version) DO NOTHING"
        );
        attempt_all(
            conn,
            Mode::Write,
            &|tx| {
                if tx.exec(&claim, &[version])? == 1 {
                    tx.batch(sql)?;
                }
                Ok(())
            },
            &db.connector.retries,
        )
        .map_err(|e| {
            E::Store(StoreError::Backend(format!("migration {schema} {version} failed: {}", StoreError::from(e))))
        })?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Two transactions that read and then write the same row conflict for real
    /// under SERIALIZABLE: one fails with 40001, is run again, and both land.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_serialization_failure_is_retried_and_both_writes_land() {
        let Some(url) = crate::testing::database().await else { return };
        let schema: &[(i64, &str)] = &[(
            1,
            "CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO counter VALUES (1, 0);",
        )];
        // Two nodes: each write is in a transaction of its own (the same node
        // could put both in one batch, where they cannot meet at the barrier).
        let nodes = [
            Arc::new(PgDb::open(&url, 4, "public", schema).unwrap()),
            Arc::new(PgDb::open(&url, 4, "public", schema).unwrap()),
        ];
        let db = Arc::clone(&nodes[0]);
        // Both read before either writes, on their first attempt only.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|n| {
                let (db, barrier) = (Arc::clone(&nodes[n]), Arc::clone(&barrier));
                let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
                tokio::spawn(async move {
                    db.write(move |tx| {
                        let n: i64 = tx.one("SELECT n FROM counter WHERE id = 1", &[])?.get(0);
                        if first.swap(false, Ordering::SeqCst) {
                            barrier.wait();
                        }
                        tx.exec("UPDATE counter SET n = $1 WHERE id = 1", &[&(n + 1)])?;
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let n: i64 = db.read(|tx| Ok(tx.one("SELECT n FROM counter WHERE id = 1", &[])?.get(0))).await.unwrap();
        assert_eq!(n, 2, "each increment counted once: the loser re-read after the winner committed");
        assert!(nodes[0].retries() + nodes[1].retries() >= 1, "the conflict happened and was retried");
    }

    /// A single-statement read runs without a transaction and may not run a
    /// second statement (it would read another snapshot).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_single_read_is_one_statement() {
        let Some(url) = crate::testing::database().await else { return };
        let db = Arc::new(PgDb::open(&url, 2, "public", &[]).unwrap());
        assert_eq!(db.single(|tx| Ok(tx.one("SELECT 1", &[])?.get::<_, i32>(0))).await.unwrap(), 1);
        let twice = db
            .single(|tx| {
                tx.one("SELECT 1", &[])?;
                tx.one("SELECT 2", &[])?;
                Ok(())
            })
            .await;
        assert!(matches!(&twice, Err(StoreError::Backend(m)) if m.contains("second statement")), "{twice:?}");
    }
}
