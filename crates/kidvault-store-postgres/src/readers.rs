//! Merged reads on PostgreSQL: concurrent one-statement reads of one kind
//! share one statement.
//!
//! Every device request reads its device's context (the device, its child, the
//! child's consents). On a busy node 64 devices make 64 such reads at once,
//! and the server's work per statement (parse of the message, snapshot,
//! executor start-up, TLS record, round trip) outweighs its work per row. A
//! [`MergeableRead`] therefore goes to a queue served by reader threads, each
//! with a connection of its own; a reader takes every read waiting (up to
//! [`MAX_GROUP`]) and runs each kind's group as one statement outside a
//! transaction (one statement sees one snapshot, as each read alone would).
//! Nothing is cached: each read sees the database as of a statement that
//! began after it was asked, so a revoked device or a withdrawn consent is
//! refused exactly as before.
//!
//! A group whose statement fails is run again read by read, so each read meets
//! its own error (or succeeds).

use std::any::{Any, TypeId};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use kidvault_store::sql::backend::MergeableRead;
use kidvault_store::StoreError;

use crate::db::{attempt_all, Conn, Connector, Mode, Tx, E, R};

/// Reads in one statement at most.
const MAX_GROUP: usize = 64;
/// Reader threads (connections): two, so that one group's statement runs while
/// the next group gathers.
pub(crate) const READERS: usize = 2;

/// A read waiting for a reader.
trait ReadJob: Send {
    /// The kind of read: reads of one kind share a statement.
    fn kind(&self) -> TypeId;
    /// Runs this read and `rest` (reads of its kind) together, and sends each
    /// its outcome.
    fn run(self: Box<Self>, rest: Vec<Box<dyn ReadJob>>, conn: &mut Reader);
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

struct Read<Q: MergeableRead> {
    q: Q,
    reply: tokio::sync::oneshot::Sender<kidvault_store::Result<Q::Output>>,
}

impl<Q: MergeableRead> ReadJob for Read<Q> {
    fn kind(&self) -> TypeId {
        TypeId::of::<Q>()
    }

    fn run(self: Box<Self>, rest: Vec<Box<dyn ReadJob>>, reader: &mut Reader) {
        let mut group: Vec<Read<Q>> = vec![*self];
        group.extend(rest.into_iter().filter_map(|j| j.into_any().downcast::<Read<Q>>().ok().map(|r| *r)));
        if group.len() > 1 {
            let qs: Vec<&Q> = group.iter().map(|r| &r.q).collect();
            if let Ok(outs) = reader.single(&|tx| Ok(Q::many(tx, &qs)?)) {
                if outs.len() == group.len() {
                    for (r, out) in group.into_iter().zip(outs) {
                        let _ = r.reply.send(Ok(out));
                    }
                    return;
                }
            }
        }
        for r in group {
            let out = reader.single(&|tx| Ok(r.q.one(tx)?)).map_err(StoreError::from);
            let _ = r.reply.send(out);
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// A reader thread's connection, opened on first use and again after one is lost.
struct Reader {
    db: Connector,
    conn: Option<Conn>,
}

impl Reader {
    /// Runs one statement outside a transaction; once more on a fresh
    /// connection if the one held was lost (a read that ran on a lost
    /// connection changed nothing).
    fn single<T>(&mut self, f: &dyn Fn(&mut Tx<'_>) -> R<T>) -> R<T> {
        let mut fresh = false;
        loop {
            let conn = match self.conn.take() {
                Some(c) if !c.client.is_closed() => c,
                _ => {
                    fresh = true;
                    self.db.connect()?
                }
            };
            let conn = self.conn.insert(conn);
            let out = attempt_all(conn, Mode::Single, f, &self.db.retries);
            let lost =
                matches!(out, Err(E::Dead(_)) | Err(E::Store(StoreError::Unavailable(_)))) || conn.client.is_closed();
            if lost {
                self.conn = None;
                if !fresh {
                    continue;
                }
            }
            return out;
        }
    }
}

/// The reader threads and their queue.
pub(crate) struct Readers {
    queue: Option<mpsc::Sender<Box<dyn ReadJob>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Readers {
    /// Starts `readers` threads reading from `db`.
    pub(crate) fn start(db: &Connector, readers: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Box<dyn ReadJob>>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for n in 0..readers.max(1) {
            let (db, rx) = (db.clone(), Arc::clone(&rx));
            threads.push(std::thread::Builder::new().name(format!("kv-pg-reader-{n}")).spawn(move || {
                let mut reader = Reader { db, conn: None };
                loop {
                    let batch = match rx.lock() {
                        Ok(rx) => kidvault_store::batch::next_batch(&rx, MAX_GROUP, MAX_GROUP, |_| 1),
                        Err(_) => None,
                    };
                    let Some(batch) = batch else { return };
                    run_groups(batch, &mut reader);
                }
            })?);
        }
        Ok(Self { queue: Some(tx), threads })
    }

    /// Queues a read; resolves with what it read.
    pub(crate) async fn read<Q: MergeableRead>(&self, q: Q) -> kidvault_store::Result<Q::Output> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .as_ref()
            .and_then(|queue| queue.send(Box::new(Read { q, reply })).ok())
            .ok_or_else(|| StoreError::Backend("store is closed".into()))?;
        answer.await.map_err(|_| StoreError::Backend("database reader stopped".into()))?
    }

    /// Stops taking reads and waits for the readers to answer what they hold.
    pub(crate) fn stop(&mut self) {
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Splits a batch by kind and runs each kind's group.
fn run_groups(mut batch: Vec<Box<dyn ReadJob>>, reader: &mut Reader) {
    while let Some(first) = batch.pop() {
        let kind = first.kind();
        let (same, other): (Vec<_>, Vec<_>) = batch.into_iter().partition(|j| j.kind() == kind);
        batch = other;
        first.run(same, reader);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kidvault_store::sql::{list, Param};

    use super::*;
    use crate::db::PgDb;

    /// Reads a row of `t` by id; as a group, all of them in one statement
    /// (and counts the groups).
    #[derive(Debug)]
    struct Get(i64);

    static GROUPS: AtomicUsize = AtomicUsize::new(0);

    impl MergeableRead for Get {
        type Output = Option<String>;

        fn one(&self, tx: &mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<Option<String>> {
            tx.opt("SELECT v FROM t WHERE id = ?1", &[Param::Int(self.0)], |r| r.string("v"))
        }

        fn many(tx: &mut dyn kidvault_store::sql::Tx, group: &[&Self]) -> kidvault_store::sql::R<Vec<Option<String>>> {
            GROUPS.fetch_add(1, Ordering::SeqCst);
            if group.iter().any(|g| g.0 < 0) {
                // A statement that fails: every read then runs alone.
                tx.exec("SELECT no_such_column FROM t", &[])?;
            }
            let mut params = Vec::new();
            let ids = list(&mut params, group.iter().map(|g| Param::Int(g.0)));
            let found: std::collections::HashMap<i64, String> = tx
                .rows(&format!("SELECT id, v FROM t WHERE id IN ({ids})"), &params, |r| {
                    Ok((r.i64("id")?, r.string("v")?))
                })?
                .into_iter()
                .collect();
            Ok(group.iter().map(|g| found.get(&g.0).cloned()).collect())
        }
    }

    /// Reads queued while both readers are busy share one statement, and
    /// each gets what it would have read alone; a group whose statement
    /// fails is answered read by read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reads_of_a_kind_share_a_statement_and_each_gets_its_own_row() {
        let Some(url) = crate::testing::database().await else { return };
        let db = Arc::new(
            PgDb::open(
                &url,
                2,
                "public",
                &[(1, "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL); INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');")],
            )
            .unwrap(),
        );
        let readers = Arc::new(Readers::start(&db.connector(), 1).unwrap());
        // One slow read holds the only reader while the others queue.
        struct Slow;
        impl MergeableRead for Slow {
            type Output = ();
            fn one(&self, tx: &mut dyn kidvault_store::sql::Tx) -> kidvault_store::sql::R<()> {
                tx.exec("SELECT pg_sleep(0.3)", &[])?;
                Ok(())
            }
            fn many(_: &mut dyn kidvault_store::sql::Tx, _: &[&Self]) -> kidvault_store::sql::R<Vec<()>> {
                unreachable!("one slow read")
            }
        }
        let ask = |ids: Vec<i64>| {
            let readers = Arc::clone(&readers);
            async move {
                let slow = tokio::spawn({
                    let readers = Arc::clone(&readers);
                    async move { readers.read(Slow).await }
                });
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let asked: Vec<_> = ids
                    .into_iter()
                    .map(|id| {
                        let readers = Arc::clone(&readers);
                        tokio::spawn(async move { readers.read(Get(id)).await })
                    })
                    .collect();
                slow.await.unwrap().unwrap();
                let mut out = Vec::new();
                for a in asked {
                    out.push(a.await.unwrap());
                }
                out
            }
        };

        let before = GROUPS.load(Ordering::SeqCst);
        let got = ask(vec![3, 1, 9, 2]).await;
        let got: Vec<Option<String>> = got.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, [Some("three".into()), Some("one".into()), None, Some("two".into())]);
        assert_eq!(GROUPS.load(Ordering::SeqCst) - before, 1, "four reads, one statement");

        let got = ask(vec![2, -1]).await;
        assert_eq!(got[0].as_ref().unwrap().as_deref(), Some("two"), "{got:?}");
        assert_eq!(got[1].as_ref().unwrap(), &None, "the failed group's reads each ran alone: {got:?}");
    }
}
