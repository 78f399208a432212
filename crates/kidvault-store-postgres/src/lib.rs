//! # kidvault-store-postgres
//!
//! kidvault's [`Store`](kidvault_store::Store) and
//! [`Keystore`](kidvault_store::Keystore) on PostgreSQL, for deployments that
//! outgrow one machine: any number of stateless `kidvault serve` nodes share one
//! database. The SQL is kept to what Citus, CockroachDB and YugabyteDB also run:
//! UUID keys, BIGINT times, no advisory locks, no LISTEN/NOTIFY; every write is
//! SERIALIZABLE, committed together with the writes waiting beside it
//! ([`group`]) and run again on SQLSTATE 40001 ([`db`]).
//!
//! - The ledger stays one totally ordered log: every append first locks the one
//!   `ledger_head` row, so appends from many nodes serialise without gaps or forks.
//! - Background work (deletion tasks, notices) is claimed with
//!   `FOR UPDATE SKIP LOCKED` and a lease: two nodes never take the same item, and
//!   a dead node's leases expire.
//! - The keystore lives in the same database under its own schema,
//!   `kidvault_keys`, so that it can be granted to its own role and left out of
//!   data backups (`pg_dump --exclude-schema=kidvault_keys`). Deleting a key row
//!   crypto-shreds the child's data in every copy of the data schema; a backup
//!   that includes `kidvault_keys` keeps the wrapped key until that backup expires
//!   (it is still useless without the root key, which is never in the database).
//!
//! Invariant, as for every backend: nothing here ever receives plaintext child content.

pub mod admin;
pub mod audit;
pub mod backup;
mod db;
pub mod erasure;
mod group;
pub mod import;
mod keystore;
mod readers;
mod sqltx;
mod store;
mod target;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use keystore::{PgKeystore, KEYSTORE_SCHEMA};
pub use store::PgStore;

/// Connections each store opens at most (requests beyond wait their turn).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
