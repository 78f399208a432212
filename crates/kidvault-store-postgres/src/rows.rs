//! Reading typed values out of rows, with corrupt data reported as such.

use kidvault_domain::Timestamp;
use kidvault_store::StoreError;
use postgres::Row;

use crate::db::{E, R};

pub(crate) fn ts_to_sql(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn corrupt(what: &str) -> E {
    E::Store(StoreError::Corrupt(format!("bad {what}")))
}

/// Typed reads by column name.
pub(crate) trait Get {
    fn val<'a, T: postgres::types::FromSql<'a>>(&'a self, col: &str) -> R<T>;
    fn epoch(&self, col: &str) -> R<u32> {
        u32::try_from(self.val::<i64>(col)?).map_err(|_| corrupt("key epoch"))
    }
}

impl Get for Row {
    fn val<'a, T: postgres::types::FromSql<'a>>(&'a self, col: &str) -> R<T> {
        Ok(self.try_get(col)?)
    }
}
