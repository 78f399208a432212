//! `kidvault ledger verify` on the SQLite file: the rows [`crate::audit::verify`] reads.

use std::path::Path;

use kidvault_ledger::checkpoint::Verifier;
use rusqlite::{params, Connection, OptionalExtension};

use super::open_conn;
pub use crate::audit::{AuditFailure, LedgerAudit};
use crate::audit::{LedgerRows, StoredRow};
use crate::StoreError;

struct Rows(Connection);

impl LedgerRows for Rows {
    fn checkpoints(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        let mut stmt = self.0.prepare("SELECT size, note FROM ledger_checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn entries(&mut self, from: u64, limit: usize) -> Result<Vec<StoredRow>, StoreError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT idx, body, leaf_hash FROM ledger_entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2")?;
        let rows = stmt.query_map(params![from as i64, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn node(&mut self, level: u8, idx: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT hash FROM ledger_nodes WHERE level = ?1 AND idx = ?2")?
            .query_row(params![level, idx as i64], |r| r.get(0))
            .optional()?)
    }

    fn tile(&mut self, block: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT hashes FROM ledger_tiles WHERE block = ?1")?
            .query_row([block as i64], |r| r.get(0))
            .optional()?)
    }
}

/// Audits the ledger in the data store at `db`.
pub fn verify_ledger(db: &Path, verifier: &Verifier) -> Result<LedgerAudit, AuditFailure> {
    crate::audit::verify(&mut Rows(open_conn(db, super::Role::Reader)?), verifier)
}
