//! `kidvault ledger verify` on the SQLite file: the shared audit
//! ([`kidvault_store::audit::verify`]) over a read connection of its own.

use std::path::Path;

use kidvault_ledger::checkpoint::Verifier;
pub use kidvault_store::audit::{AuditFailure, LedgerAudit};
use kidvault_store::sql::ledger::AuditRows;
use kidvault_store::StoreError;

use crate::{open_conn, Role};

/// Audits the ledger in the data store at `db`.
pub fn verify_ledger(db: &Path, verifier: &Verifier) -> Result<LedgerAudit, AuditFailure> {
    let conn = open_conn(db, Role::Reader).map_err(StoreError::from)?;
    kidvault_store::audit::verify(&mut AuditRows(&mut crate::tx::SqliteTx(&conn)), verifier)
}
