//! What a SQL backend supplies: how transaction bodies run (its executor),
//! and the few operations that are its own. With these, [`super::store`]
//! implements [`Store`](crate::Store) and [`Keystore`](crate::Keystore) once
//! for every backend.

use std::future::Future;

use kidvault_ledger::Hash;

use super::{ledger, Tx, R};
use crate::model::StoredEntry;
use crate::Result;

/// Runs the shared SQL's transaction bodies. A body may run more than once
/// (SQLite re-runs a batch whose member failed after writing; PostgreSQL
/// re-runs a transaction that met a serialization conflict), so it must be
/// `Fn` and decide everything from what it reads.
pub trait SqlExecutor: Send + Sync + std::fmt::Debug {
    /// A write transaction; the future resolves once it is durably committed.
    fn write<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static;

    /// A write that a backend may run together with others of its kind, in
    /// the same statements ([`MergeableWrite`]); by default it runs alone.
    fn write_mergeable<W: MergeableWrite>(&self, w: W) -> impl Future<Output = Result<W::Output>> + Send {
        self.write(move |tx| w.one(tx))
    }

    /// A read: scans, and anything whose cost grows with the data (on
    /// PostgreSQL one snapshot).
    fn read<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static;

    /// A bounded point read by primary or unique key. SQLite serves it on the
    /// calling thread (the hand-off to a blocking thread costs more than the
    /// read); by default it is a [`SqlExecutor::read`].
    fn lookup<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        self.read(f)
    }

    /// A read made of exactly one statement. One statement sees one snapshot,
    /// so a backend may run it outside a transaction (PostgreSQL saves the
    /// BEGIN and COMMIT round trips, and refuses a second statement); by
    /// default a [`SqlExecutor::lookup`].
    fn single<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        self.lookup(f)
    }

    /// A one-statement read that a backend may run together with concurrent
    /// reads of its kind, in one statement ([`MergeableRead`]); by default it
    /// runs alone, as a [`SqlExecutor::single`].
    fn single_mergeable<Q: MergeableRead>(&self, q: Q) -> impl Future<Output = Result<Q::Output>> + Send {
        self.single(move |tx| q.one(tx))
    }

    /// A read made of exactly one statement whose cost grows with the data
    /// (a scan): PostgreSQL runs it outside a transaction as [`SqlExecutor::single`]
    /// does; by default a [`SqlExecutor::read`] (SQLite keeps scans off the
    /// calling thread).
    fn single_scan<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: Fn(&mut dyn Tx) -> R<T> + Send + 'static,
    {
        self.read(f)
    }

    /// Leaves no copy of deleted rows in the backend's own files, where it can
    /// ([`SqlExecutor::scrubs_its_files`]).
    fn scrub(&self) -> impl Future<Output = Result<()>> + Send;

    /// Whether [`SqlExecutor::scrub`] removes deleted bytes from every file the
    /// backend writes (SQLite: yes; PostgreSQL: no, see the README).
    fn scrubs_its_files(&self) -> bool;

    /// Checks the backend's files for damage while serving: `Corrupt` when
    /// they are damaged (SQLite: its page structure; PostgreSQL: pages whose
    /// checksum failed, when the cluster has data checksums).
    fn check_integrity(&self) -> impl Future<Output = Result<()>> + Send;
}

/// A write that can share its statements with others of its kind in one
/// transaction, where each statement is a round trip (PostgreSQL): the group
/// does in a few multi-row statements what each would do alone. Whatever the
/// group cannot do (a check fails, a conflict) is then run alone, in the same
/// transaction, and says why, so merging changes speed, never outcome.
pub trait MergeableWrite: Send + Sync + 'static {
    /// What the write returns.
    type Output: Send + 'static;

    /// The write alone; its error is the caller's.
    fn one(&self, tx: &mut dyn Tx) -> R<Self::Output>;

    /// Does what it can of `group` at once; returns, per member, its output
    /// if it is done (`None`: left to [`MergeableWrite::one`]). An error dooms
    /// the transaction (the batch is then run again, each write alone).
    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Option<Self::Output>>>
    where
        Self: Sized;
}

/// A point read of one statement that can share it with concurrent reads of
/// its kind, where a statement costs a round trip and the server's work per
/// statement outweighs its work per row (PostgreSQL): every device request
/// reads its device's context, and 64 devices' reads then cost one statement
/// instead of 64. Each member gets exactly what it would have read alone.
pub trait MergeableRead: Send + Sync + 'static {
    /// What the read returns.
    type Output: Send + 'static;

    /// The read alone.
    fn one(&self, tx: &mut dyn Tx) -> R<Self::Output>;

    /// The reads of `group`, in one statement; one output per member, in order.
    fn many(tx: &mut dyn Tx, group: &[&Self]) -> R<Vec<Self::Output>>
    where
        Self: Sized;
}

/// A data store backend: an executor, with the ledger's proof reads (by
/// default the shared [`ledger::hashes_of`]; SQLite reads mapped pages).
pub trait StoreBackend: SqlExecutor {
    /// The tree hash of each range.
    fn ledger_hashes(&self, ranges: Vec<(u64, u64)>) -> impl Future<Output = Result<Vec<Hash>>> + Send {
        self.read(move |tx| ledger::hashes_of(tx, &ranges))
    }

    /// One ledger entry by index.
    fn ledger_entry(&self, index: u64) -> impl Future<Output = Result<Option<StoredEntry>>> + Send {
        self.lookup(move |tx| ledger::entry(tx, index))
    }
}

/// A keystore backend: an executor over the keystore's own tables.
pub trait KeystoreBackend: SqlExecutor {}
