//! Group commit on PostgreSQL: concurrent writes share one transaction.
//!
//! Every write goes to a queue served by writer threads ("lanes"; one per
//! store, [`crate::db`]'s `WRITE_LANES` says why), each with a connection of its
//! own. A lane takes every write waiting (up to [`MAX_BATCH`]) and runs them
//! one after another in one SERIALIZABLE transaction, then commits once: one
//! BEGIN/COMMIT pair and one WAL flush acknowledge the whole batch, and a write
//! is acknowledged only after that commit (durable when the server runs with
//! `synchronous_commit` on, as the benchmarks do).
//!
//! A write that fails (a store refusal, a constraint the database enforces)
//! fails alone: the batch is rolled back and run again with each write in its
//! own savepoint, the failing one rolled back to it, and its batch-mates
//! commit (savepoints cost a round trip each, so only a batch that needs them
//! pays for them). A serialization failure or deadlock dooms the whole
//! transaction: the batch is run again from the start (every body is `Fn` and
//! decides from what it reads); a batch that keeps conflicting is split, each
//! write then run in a transaction of its own.
//!
//! Why SERIALIZABLE stays for every write, ingest included: an item insert reads
//! its sources' state and its child's key epoch, and a deletion reads the items
//! and edges it cascades over. Under a weaker level an insert could commit a
//! derived item after a concurrent deletion read the lineage, and escape it.
//! SSI turns that interleaving into a retry; batching is where the speed comes
//! from, not a weaker level.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use std::any::{Any, TypeId};

use kidvault_store::sql::backend::MergeableWrite;
use kidvault_store::StoreError;
use postgres::IsolationLevel;

use crate::db::{backoff, gone, retryable, Conn, Connector, Tx, E, R};

/// Writes in one transaction at most, counted as plain writes: each runs its
/// own statements, so a batch holds at most this many.
pub(crate) const MAX_BATCH: usize = 64;
/// A [`MergeableWrite`] weighs this much of a plain write: writes of one kind
/// share their statements (the deletion runner's steps take 500 deletions
/// at once), so a batch may hold more of them (up to 512).
const MERGEABLE_SHARE: usize = 8;
const MAX_WEIGHT: usize = MAX_BATCH * MERGEABLE_SHARE;

/// A write's share of a batch (see [`MERGEABLE_SHARE`]).
fn weight(job: &dyn Job) -> usize {
    if job.merge_kind().is_some() {
        1
    } else {
        MERGEABLE_SHARE
    }
}
/// Attempts of a whole batch before it is split into single writes.
const BATCH_ATTEMPTS: u32 = 3;

/// A write waiting for a lane. It may run several times (conflict retries,
/// a batch-mate's failure).
pub(crate) trait Job: Send {
    /// Runs the body in the batch's transaction and keeps its result. With
    /// `savepoint`, a failure of the body is rolled back to its savepoint.
    /// Returns whether the body succeeded; an error only when the transaction
    /// as a whole is lost (a conflict, a lost connection).
    fn run(&mut self, tx: &mut Tx<'_>, savepoint: bool) -> R<bool>;
    /// Sends the outcome: the body's own error if it failed, else its value
    /// once the batch committed, else the batch's failure.
    fn complete(self: Box<Self>, batch: Result<(), &StoreError>);

    /// The kind of [`MergeableWrite`] this is, if it is one: writes of one
    /// kind in a batch run together first ([`Job::run_merged`]).
    fn merge_kind(&self) -> Option<TypeId> {
        None
    }

    /// Runs `group` (this job and the others of its kind) together; returns,
    /// per member, its output if that did it.
    fn run_merged(&self, _tx: &mut Tx<'_>, _group: &[&dyn Job]) -> R<Vec<Option<Done>>> {
        Ok(Vec::new())
    }

    /// Records that a merged statement did this write, with its output.
    fn merged(&mut self, _out: Done) {}

    fn as_any(&self) -> &dyn Any;
}

struct Write<T, F> {
    f: F,
    result: Option<R<T>>,
    reply: tokio::sync::oneshot::Sender<kidvault_store::Result<T>>,
}

/// Whether the transaction as a whole is lost (conflict, connection gone): no
/// savepoint can save it.
fn dooms_batch(e: &E) -> bool {
    retryable(e) || matches!(e, E::Dead(_)) || matches!(e, E::Pg(p) if gone(p))
}

/// Runs a write's body in the batch's transaction (in a savepoint when
/// `savepoint`) and keeps its result; see [`Job::run`].
fn run_body<T>(
    result: &mut Option<R<T>>,
    tx: &mut Tx<'_>,
    savepoint: bool,
    body: impl FnOnce(&mut Tx<'_>) -> R<T>,
) -> R<bool> {
    *result = None;
    if savepoint {
        tx.batch("SAVEPOINT write")?;
    }
    match body(tx) {
        Ok(v) => {
            if savepoint {
                tx.batch("RELEASE SAVEPOINT write")?;
            }
            *result = Some(Ok(v));
            Ok(true)
        }
        Err(e) if dooms_batch(&e) => Err(e),
        Err(e) => {
            if savepoint {
                tx.batch("ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write")?;
            }
            *result = Some(Err(e));
            Ok(false)
        }
    }
}

/// What a write reports: its own error if it failed, else its value once the
/// batch committed, else the batch's failure.
fn outcome<T>(batch: Result<(), &StoreError>, result: Option<R<T>>) -> kidvault_store::Result<T> {
    match (batch, result) {
        (_, Some(Err(own))) => Err(StoreError::from(own)),
        (Ok(()), Some(Ok(v))) => Ok(v),
        (Ok(()), None) => Err(StoreError::Backend("write was not run".into())),
        (Err(e), _) => Err(same(e)),
    }
}

impl<T: Send + 'static, F: Fn(&mut Tx<'_>) -> R<T> + Send + 'static> Job for Write<T, F> {
    fn run(&mut self, tx: &mut Tx<'_>, savepoint: bool) -> R<bool> {
        run_body(&mut self.result, tx, savepoint, &self.f)
    }

    fn complete(self: Box<Self>, batch: Result<(), &StoreError>) {
        let _ = self.reply.send(outcome(batch, self.result));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A merged write's output, on its way back to its job.
pub(crate) type Done = Box<dyn Any + Send>;

/// A [`MergeableWrite`] waiting for a lane.
struct Merge<W: MergeableWrite> {
    w: W,
    result: Option<R<W::Output>>,
    reply: tokio::sync::oneshot::Sender<kidvault_store::Result<W::Output>>,
}

impl<W: MergeableWrite> Job for Merge<W> {
    fn run(&mut self, tx: &mut Tx<'_>, savepoint: bool) -> R<bool> {
        let w = &self.w;
        run_body(&mut self.result, tx, savepoint, |tx| Ok(w.one(tx)?))
    }

    fn complete(self: Box<Self>, batch: Result<(), &StoreError>) {
        let _ = self.reply.send(outcome(batch, self.result));
    }

    fn merge_kind(&self) -> Option<TypeId> {
        Some(TypeId::of::<W>())
    }

    fn run_merged(&self, tx: &mut Tx<'_>, group: &[&dyn Job]) -> R<Vec<Option<Done>>> {
        let members: Vec<&W> =
            group.iter().filter_map(|j| j.as_any().downcast_ref::<Merge<W>>()).map(|m| &m.w).collect();
        if members.len() != group.len() {
            return Err(E::Store(StoreError::Backend("a merged group mixes kinds of write".into())));
        }
        Ok(W::many(tx, &members)?.into_iter().map(|out| out.map(|v| Box::new(v) as Done)).collect())
    }

    fn merged(&mut self, out: Done) {
        self.result = Some(match out.downcast::<W::Output>() {
            Ok(v) => Ok(*v),
            Err(_) => Err(E::Store(StoreError::Backend("a merged write returned another kind of output".into()))),
        });
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The batch's failure, as each of its writes reports it.
fn same(e: &StoreError) -> StoreError {
    match e {
        StoreError::Full(m) => StoreError::Full(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// The lanes and their queue.
pub(crate) struct Lanes {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Lanes {
    /// Starts `lanes` writer threads for `db`. Their connections are opened
    /// on first use, and again after one is lost.
    pub(crate) fn start(db: &Connector, lanes: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for n in 0..lanes.max(1) {
            let (db, rx) = (db.clone(), Arc::clone(&rx));
            threads.push(std::thread::Builder::new().name(format!("kv-pg-writer-{n}")).spawn(move || {
                let mut conn: Option<Conn> = None;
                loop {
                    let batch = match rx.lock() {
                        Ok(rx) => kidvault_store::batch::next_batch(&rx, MAX_WEIGHT, MAX_WEIGHT, |j| weight(&**j)),
                        Err(_) => None,
                    };
                    let Some(batch) = batch else { return };
                    run_batch(&db, &mut conn, batch);
                }
            })?);
        }
        Ok(Self { queue: Some(tx), threads })
    }

    /// Queues a write; the future resolves once its batch has committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> kidvault_store::Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> R<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Box::new(Write { f, result: None, reply }), answer).await
    }

    /// Queues a write that may share statements with others of its kind in
    /// its batch; resolves once its batch has committed.
    pub(crate) async fn write_mergeable<W: MergeableWrite>(&self, w: W) -> kidvault_store::Result<W::Output> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Box::new(Merge { w, result: None, reply }), answer).await
    }

    /// Queues `job` and waits for the outcome it sends on `answer`.
    async fn submit<T>(
        &self,
        job: Box<dyn Job>,
        answer: tokio::sync::oneshot::Receiver<kidvault_store::Result<T>>,
    ) -> kidvault_store::Result<T> {
        self.queue
            .as_ref()
            .and_then(|q| q.send(job).ok())
            .ok_or_else(|| StoreError::Backend("store is closed".into()))?;
        answer.await.map_err(|_| StoreError::Backend("database writer stopped".into()))?
    }

    /// Stops taking writes and waits for the lanes to finish what they hold.
    pub(crate) fn stop(&mut self) {
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// How a batch's writes are run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One after another, no savepoints (a savepoint costs a round trip): the
    /// usual case, where every write succeeds.
    Fast,
    /// Each in its own savepoint, after a write of the batch failed.
    Isolated,
}

/// Why an attempt did not commit.
enum Stop {
    /// A write failed in [`Mode::Fast`]: run the batch again isolated.
    Failed,
    Lost(E),
}

impl From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Lost(e)
    }
}

/// Runs a batch to its end: committed, split after repeated conflicts, or failed.
fn run_batch(db: &Connector, conn: &mut Option<Conn>, mut batch: Vec<Box<dyn Job>>) {
    let single = batch.len() == 1;
    let attempts = if single { crate::db::MAX_ATTEMPTS } else { BATCH_ATTEMPTS };
    let mut mode = Mode::Fast;
    let mut reconnected = false;
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        let c = match conn.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => match db.connect() {
                Ok(c) => c,
                Err(e) => break Err(e),
            },
        };
        let c = conn.insert(c);
        match once(c, &mut batch, mode) {
            Ok(()) => break Ok(()),
            // Alone, its failure is the outcome (its own error, kept).
            Err(Stop::Failed) if single => break Err(E::Store(StoreError::Backend("the write failed".into()))),
            Err(Stop::Failed) => {
                mode = Mode::Isolated;
                attempt -= 1;
            }
            Err(Stop::Lost(e)) if retryable(&e) && attempt < attempts => {
                db.retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(backoff(attempt));
            }
            Err(Stop::Lost(e)) if retryable(&e) && !single => {
                // Conflicting again and again: each write on its own.
                db.retries.fetch_add(1, Ordering::Relaxed);
                for job in batch {
                    run_batch(db, conn, vec![job]);
                }
                return;
            }
            Err(Stop::Lost(e)) if retryable(&e) => {
                break Err(E::Store(StoreError::Conflict(format!(
                    "transaction still conflicting after {attempts} attempts"
                ))))
            }
            // The connection was gone before anything ran: once more, fresh.
            Err(Stop::Lost(E::Dead(e))) if !reconnected => {
                reconnected = true;
                attempt -= 1;
                *conn = None;
                tracing::debug!(error = %crate::db::describe(&e), "database connection lost; reconnecting");
            }
            Err(Stop::Lost(e)) => break Err(e),
        }
    };
    if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
        *conn = None;
    }
    let outcome = outcome.map_err(StoreError::from);
    for job in batch {
        job.complete(outcome.as_ref().map(|_| ()));
    }
}

/// One attempt: every write of the batch in one transaction, then the commit.
fn once(conn: &mut Conn, batch: &mut [Box<dyn Job>], mode: Mode) -> Result<(), Stop> {
    let Conn { client, statements, .. } = conn;
    let tx = client.build_transaction().isolation_level(IsolationLevel::Serializable).start().map_err(|e| {
        if gone(&e) {
            E::Dead(e)
        } else {
            E::Pg(e)
        }
    })?;
    let mut tx = Tx::new(tx, statements);
    // Dropping `tx` on the way out rolls back.
    let mut done = if mode == Mode::Fast { run_merged(&mut tx, batch)? } else { Vec::new() };
    done.resize_with(batch.len(), || None);
    for (job, done) in batch.iter_mut().zip(done) {
        if let Some(out) = done {
            job.merged(out);
        } else if !job.run(&mut tx, mode == Mode::Isolated)? && mode == Mode::Fast {
            return Err(Stop::Failed);
        }
    }
    tx.commit()?;
    Ok(())
}

/// Runs each kind of mergeable write that the batch holds more than one of
/// as a group; returns, per job, whether that did it. A group's failure is
/// the batch's: conflicts retry it, anything else runs it again isolated
/// (where nothing is merged, so each write meets its own error).
fn run_merged(tx: &mut Tx<'_>, batch: &[Box<dyn Job>]) -> Result<Vec<Option<Done>>, Stop> {
    let mut done: Vec<Option<Done>> = Vec::new();
    done.resize_with(batch.len(), || None);
    let mut kinds: Vec<TypeId> = batch.iter().filter_map(|j| j.merge_kind()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let at: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].merge_kind() == Some(kind)).collect();
        if at.len() < 2 {
            continue;
        }
        let group: Vec<&dyn Job> = at.iter().map(|&i| &*batch[i]).collect();
        match group[0].run_merged(tx, &group) {
            Ok(did) => {
                for (&i, d) in at.iter().zip(did) {
                    done[i] = d;
                }
            }
            Err(e) if dooms_batch(&e) => return Err(Stop::Lost(e)),
            Err(_) => return Err(Stop::Failed),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

    use super::*;
    use crate::db::PgDb;

    /// Inserts `id`; returns the (top-level) transaction it ran in.
    fn insert(tx: &mut Tx<'_>, id: i64) -> R<i64> {
        tx.exec("INSERT INTO t (id) VALUES ($1)", &[&id])?;
        Ok(tx.one("SELECT txid_current()", &[])?.get(0))
    }

    /// Writes queued while the lane is busy commit together in one transaction;
    /// the ones that fail (after writing, on a constraint, before writing) fail
    /// alone, with their own errors, and leave nothing behind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_commits_once_and_a_failing_write_fails_alone() {
        let Some(url) = crate::testing::database().await else { return };
        let db = Arc::new(PgDb::open(&url, 2, "public", &[(1, "CREATE TABLE t (id BIGINT PRIMARY KEY)")]).unwrap());
        let lanes = Arc::new(Lanes::start(&db.connector(), 1).unwrap());
        // The first write holds the only lane until the others are queued.
        let (go, wait) = mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let first = {
            let lanes = Arc::clone(&lanes);
            tokio::spawn(async move {
                lanes
                    .write(move |tx| {
                        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(30));
                        insert(tx, 0)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        type Body = Box<dyn Fn(&mut Tx<'_>) -> R<i64> + Send>;
        let bodies: Vec<Body> = vec![
            Box::new(|tx| insert(tx, 1)),
            Box::new(|tx| {
                insert(tx, 2)?;
                Err(E::Store(StoreError::Conflict("refused after writing".into())))
            }),
            Box::new(|tx| insert(tx, 1)), // a duplicate key
            Box::new(|tx| insert(tx, 4)),
            Box::new(|_| Err(E::Store(StoreError::NotFound))),
        ];
        let mut rest = Vec::new();
        for body in bodies {
            let lanes = Arc::clone(&lanes);
            rest.push(tokio::spawn(async move { lanes.write(move |tx| body(tx)).await }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        go.send(()).unwrap();
        let first = first.await.unwrap().unwrap();
        let mut results = Vec::new();
        for t in rest {
            results.push(t.await.unwrap());
        }
        let (one, four) = (results[0].as_ref().unwrap(), results[3].as_ref().unwrap());
        assert_eq!(one, four, "writes 1 and 4 committed in one transaction");
        assert_ne!(first, *one, "the first write committed before the others were queued");
        assert!(matches!(&results[1], Err(StoreError::Conflict(m)) if m == "refused after writing"), "{results:?}");
        assert!(results[2].is_err(), "the duplicate is refused: {results:?}");
        assert!(matches!(results[4], Err(StoreError::NotFound)), "{results:?}");
        let ids: Vec<i64> = db
            .read(|tx| Ok(tx.rows("SELECT id FROM t ORDER BY id", &[])?.iter().map(|r| r.get(0)).collect()))
            .await
            .unwrap();
        assert_eq!(ids, [0, 1, 4], "nothing of the failed writes is stored");
    }

    /// A mergeable write for the tests: inserts its id; as a group, the even
    /// ids in one statement (the odd ones are left to run alone).
    struct Ins(i64);

    static GROUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    impl MergeableWrite for Ins {
        type Output = ();

        fn one(&self, tx: &mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<()> {
            tx.exec("INSERT INTO t (id) VALUES (?1)", &[kidvault_store::sql::Param::Int(self.0)])?;
            Ok(())
        }

        fn many(tx: &mut dyn kidvault_store::sql::Tx, group: &[&Self]) -> kidvault_store::sql::R<Vec<Option<()>>> {
            GROUPS.fetch_add(1, Ordering::SeqCst);
            let even: Vec<kidvault_store::sql::Param<'_>> =
                group.iter().filter(|w| w.0 % 2 == 0).map(|w| kidvault_store::sql::Param::Int(w.0)).collect();
            let sql = format!(
                "INSERT INTO t (id) VALUES {} ON CONFLICT DO NOTHING RETURNING id",
                kidvault_store::sql::values_sql(even.len(), 1)
            );
            let got: std::collections::HashSet<i64> = tx.rows(&sql, &even, |r| r.i64("id"))?.into_iter().collect();
            let mut first = std::collections::HashSet::new();
            Ok(group.iter().map(|w| (got.contains(&w.0) && first.insert(w.0)).then_some(())).collect())
        }
    }

    /// Queues `writes` behind a write that holds the only lane, so that they
    /// form one batch; returns each one's outcome.
    async fn one_batch(lanes: &Arc<Lanes>, writes: Vec<i64>) -> Vec<kidvault_store::Result<()>> {
        let (go, wait) = mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let first = {
            let lanes = Arc::clone(lanes);
            tokio::spawn(async move {
                lanes
                    .write(move |_| {
                        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(30));
                        Ok(())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut queued = Vec::new();
        for id in writes {
            let lanes = Arc::clone(lanes);
            queued.push(tokio::spawn(async move { lanes.write_mergeable(Ins(id)).await }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        go.send(()).unwrap();
        first.await.unwrap().unwrap();
        let mut out = Vec::new();
        for q in queued {
            out.push(q.await.unwrap());
        }
        out
    }

    /// Mergeable writes of one batch run as one group; what the group leaves
    /// undone runs alone in the same transaction; a write that then fails
    /// (a duplicate, in the group or already stored) fails alone, and its
    /// batch-mates land.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mergeable_writes_run_as_one_group_and_what_it_leaves_runs_alone() {
        let Some(url) = crate::testing::database().await else { return };
        let db = Arc::new(PgDb::open(&url, 2, "public", &[(1, "CREATE TABLE t (id BIGINT PRIMARY KEY)")]).unwrap());
        let lanes = Arc::new(Lanes::start(&db.connector(), 1).unwrap());
        let ids = |db: Arc<PgDb>| async move {
            db.read(|tx| {
                Ok(tx.rows("SELECT id FROM t ORDER BY id", &[])?.iter().map(|r| r.get(0)).collect::<Vec<i64>>())
            })
            .await
            .unwrap()
        };

        let before = GROUPS.load(Ordering::SeqCst);
        let results = one_batch(&lanes, vec![2, 3, 4, 5]).await;
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        assert_eq!(GROUPS.load(Ordering::SeqCst) - before, 1, "one group for the batch");
        assert_eq!(ids(Arc::clone(&db)).await, [2, 3, 4, 5], "the group's and the lone writes both landed");

        let results = one_batch(&lanes, vec![6, 6, 4, 7]).await;
        assert!(results[0].is_ok() && results[3].is_ok(), "{results:?}");
        assert!(results[1].is_err(), "a duplicate within the group fails alone: {results:?}");
        assert!(results[2].is_err(), "a duplicate of a stored row fails alone: {results:?}");
        assert_eq!(ids(db).await, [2, 3, 4, 5, 6, 7]);
    }
}
