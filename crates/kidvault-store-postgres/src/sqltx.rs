//! The shared SQL's [`Tx`](kidvault_store::sql::Tx) on a PostgreSQL transaction.

use kidvault_store::sql::{self, Dialect, Param, TxError, R};
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use uuid::Uuid;

use crate::db::{describe, store_error, Tx, E};

/// A driver error as the shared code sees it. Its text is the server's message
/// and SQLSTATE only ([`describe`]): never the DETAIL line, which quotes the
/// conflicting key (an e-mail address, say).
pub(crate) fn tx_error(e: postgres::Error) -> TxError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => TxError::Unique(describe(&e)),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
            TxError::Retry(describe(&e))
        }
        _ => TxError::Store(store_error(e)),
    }
}

impl From<TxError> for E {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Store(s) => E::Store(s),
            TxError::Retry(m) => E::Retry(m),
            TxError::Unique(m) => E::Store(kidvault_store::StoreError::Backend(m)),
        }
    }
}

impl From<E> for TxError {
    fn from(e: E) -> Self {
        match e {
            E::Pg(p) | E::Dead(p) => tx_error(p),
            E::Store(s) => TxError::Store(s),
            E::Retry(m) => TxError::Retry(m),
        }
    }
}

/// A parameter bound to whatever type the prepared statement expects (the
/// schemas use BIGINT, TEXT, BYTEA and UUID only).
#[derive(Debug)]
struct Bind<'a>(Param<'a>);

impl ToSql for Bind<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) if *ty == Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
            Param::Int(v) => v.to_sql(ty, out),
            Param::Text(s) => s.to_sql(ty, out),
            Param::Bytes(b) => b.to_sql(ty, out),
            Param::Id(u) => u.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

struct PgRow<'r>(&'r postgres::Row);

impl PgRow<'_> {
    fn get<'a, T: postgres::types::FromSql<'a>>(&'a self, col: &str) -> R<T> {
        self.0.try_get(col).map_err(tx_error)
    }
}

impl sql::Row for PgRow<'_> {
    fn int(&self, col: &str) -> R<Option<i64>> {
        match self.0.columns().iter().find(|c| c.name() == col).map(|c| c.type_().clone()) {
            Some(Type::INT4) => Ok(self.get::<Option<i32>>(col)?.map(i64::from)),
            _ => self.get(col),
        }
    }
    fn text(&self, col: &str) -> R<Option<String>> {
        self.get(col)
    }
    fn bytes(&self, col: &str) -> R<Option<Vec<u8>>> {
        self.get(col)
    }
    fn uuid(&self, col: &str) -> R<Option<Uuid>> {
        self.get(col)
    }
}

impl Tx<'_> {
    fn bound<'p>(params: &'p [Param<'p>]) -> Vec<Bind<'p>> {
        params.iter().map(|p| Bind(*p)).collect()
    }
}

impl sql::Tx for Tx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> R<u64> {
        let bound = Self::bound(params);
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
        Ok(self.exec(sql, &refs)?)
    }

    fn each(&mut self, sql: &str, params: &[Param<'_>], f: &mut dyn FnMut(&dyn sql::Row) -> R<bool>) -> R<()> {
        let bound = Self::bound(params);
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
        for row in self.rows(sql, &refs)? {
            if !f(&PgRow(&row))? {
                break;
            }
        }
        Ok(())
    }

    fn append_ledger(&mut self, entries: &[kidvault_ledger::entry::NewEntry]) -> R<Vec<u64>> {
        kidvault_store::sql::ledger::append(self, entries)
    }
}
