//! The deployment a database is bound to: one row, written once. The data
//! store and the keystore each carry it, so that a keystore from another
//! deployment (or a fresh one where keys were expected) is refused at start.

use super::{Tx, R};
use crate::p;

/// The binding in force, if any.
pub fn binding(tx: &mut dyn Tx) -> R<Option<String>> {
    tx.opt("SELECT binding FROM deployment WHERE id = 1", p![], |r| r.string("binding"))
}

/// Binds an unbound database; returns the binding in force (an earlier one wins).
pub fn bind(tx: &mut dyn Tx, binding: &str) -> R<String> {
    tx.exec("INSERT INTO deployment (id, binding) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING", p![binding])?;
    tx.one("SELECT binding FROM deployment WHERE id = 1", p![], |r| r.string("binding"))
}
