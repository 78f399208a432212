//! The store contract implemented once, in SQL, for every SQL backend.
//!
//! Each function here is the body of one store operation: its statements, their
//! order and its checks, written against [`Tx`] (one transaction of whichever
//! backend runs it). A backend supplies only the executor (how transactions are
//! run, batched, retried), its migrations and its [`Tx`] adapter; the behaviour
//! lives here, once. A new store method goes here; a spelling that differs
//! between SQLite and PostgreSQL goes behind [`Tx::dialect`].

mod tx;

pub mod backend;
mod store;

pub mod accounts;
pub mod children;
pub mod datasets;
pub mod deletion_steps;
pub mod deletions;
pub mod deployment;
pub mod disclosures;
pub mod downstream;
pub mod items;
pub mod keys;
pub mod ledger;
pub mod outbox;
pub mod pairing;
pub mod staff;
pub mod sweeps;

pub use tx::{
    bind, conflict_if_unique, corrupt, dollar_placeholders, list, ts_from_sql, ts_to_sql, values_sql, Dialect, Param,
    Row, Tx, TxError, R,
};
