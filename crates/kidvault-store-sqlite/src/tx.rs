//! The shared SQL's [`Tx`] on a SQLite connection.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use uuid::Uuid;

use kidvault_store::sql::{Dialect, Param, Row, Tx, TxError, R};

/// A connection inside the caller's transaction (the writer's batch, or a
/// read connection).
pub(crate) struct SqliteTx<'c>(pub(crate) &'c Connection);

/// A driver error as the shared code sees it: a unique violation told apart.
pub(crate) fn tx_error(e: rusqlite::Error) -> TxError {
    if is_unique_violation(&e) {
        TxError::Unique(e.to_string())
    } else {
        TxError::Store(crate::Error::from(e).0)
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// A parameter as rusqlite binds it.
struct Bind<'a>(&'a Param<'a>);

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Param::Null => ValueRef::Null,
            Param::Int(v) => ValueRef::Integer(*v),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Bytes(b) => ValueRef::Blob(b),
            Param::Id(u) => ValueRef::Blob(u.as_bytes()),
        }))
    }
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn int(&self, col: &str) -> R<Option<i64>> {
        self.0.get(col).map_err(tx_error)
    }
    fn text(&self, col: &str) -> R<Option<String>> {
        self.0.get(col).map_err(tx_error)
    }
    fn bytes(&self, col: &str) -> R<Option<Vec<u8>>> {
        self.0.get(col).map_err(tx_error)
    }
    fn uuid(&self, col: &str) -> R<Option<Uuid>> {
        match self.0.get_ref(col).map_err(tx_error)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) => {
                Uuid::from_slice(b).map(Some).map_err(|_| kidvault_store::sql::corrupt("id (not 16 bytes)"))
            }
            _ => Err(kidvault_store::sql::corrupt(&format!("{col} (not an id)"))),
        }
    }
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> R<u64> {
        let mut stmt = self.0.prepare_cached(sql).map_err(tx_error)?;
        let n = stmt.execute(rusqlite::params_from_iter(params.iter().map(Bind))).map_err(tx_error)?;
        Ok(n as u64)
    }

    fn each(&mut self, sql: &str, params: &[Param<'_>], f: &mut dyn FnMut(&dyn Row) -> R<bool>) -> R<()> {
        let mut stmt = self.0.prepare_cached(sql).map_err(tx_error)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(Bind))).map_err(tx_error)?;
        while let Some(row) = rows.next().map_err(tx_error)? {
            if !f(&SqliteRow(row))? {
                break;
            }
        }
        Ok(())
    }

    fn append_ledger(&mut self, entries: &[kidvault_ledger::entry::NewEntry]) -> R<Vec<u64>> {
        kidvault_store::sql::ledger::append(self, entries)
    }
}
