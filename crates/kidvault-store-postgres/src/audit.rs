//! `kidvault ledger verify` on PostgreSQL: the shared audit
//! ([`kidvault_store::audit::verify`]) in one read-only snapshot.

use kidvault_ledger::checkpoint::Verifier;
use kidvault_store::audit::{AuditFailure, LedgerAudit};
use kidvault_store::sql::ledger::AuditRows;

use crate::db::{connect_url, on_own_thread, store_error as backend, Tx};

/// Audits the ledger in the database at `url` (blocking; callable from async code).
/// One REPEATABLE READ snapshot: appends by running nodes do not disturb it.
pub fn verify_ledger(url: &str, verifier: &Verifier) -> Result<LedgerAudit, AuditFailure> {
    on_own_thread(|| {
        let mut client = connect_url(url)?;
        let snapshot = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(backend)?;
        let mut statements = std::collections::HashMap::new();
        let mut tx = Tx::new(snapshot, &mut statements);
        kidvault_store::audit::verify(&mut AuditRows(&mut tx), verifier)
    })
}
