//! `kidvault ledger verify` on PostgreSQL: the rows [`kidvault_store::audit::verify`] reads.

use kidvault_ledger::checkpoint::Verifier;
use kidvault_store::audit::{AuditFailure, LedgerAudit, LedgerRows, StoredRow};
use kidvault_store::StoreError;

use crate::db::{connect_url, on_own_thread, store_error as backend};

struct Rows(postgres::Client);

impl LedgerRows for Rows {
    fn checkpoints(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = self.0.query("SELECT size, note FROM ledger_checkpoints ORDER BY size", &[]).map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect())
    }

    fn entries(&mut self, from: u64, limit: usize) -> Result<Vec<StoredRow>, StoreError> {
        let rows = self
            .0
            .query(
                "SELECT idx, body, leaf_hash FROM ledger_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
                &[&(from as i64), &(limit as i64)],
            )
            .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1), r.get(2))).collect())
    }

    fn node(&mut self, level: u8, idx: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .0
            .query_opt(
                "SELECT hash FROM ledger_nodes WHERE level = $1 AND idx = $2",
                &[&i64::from(level), &(idx as i64)],
            )
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn tile(&mut self, block: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .0
            .query_opt("SELECT hashes FROM ledger_tiles WHERE block = $1", &[&(block as i64)])
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }
}

/// Audits the ledger in the database at `url` (blocking; callable from async code).
/// One REPEATABLE READ snapshot: appends by running nodes do not disturb it.
pub fn verify_ledger(url: &str, verifier: &Verifier) -> Result<LedgerAudit, AuditFailure> {
    on_own_thread(|| {
        let mut client = connect_url(url)?;
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").map_err(backend)?;
        kidvault_store::audit::verify(&mut Rows(client), verifier)
    })
}
