//! Reading typed values out of rows, with corrupt data reported as such.

use chrono::TimeZone;
use kidvault_domain::Timestamp;
use kidvault_store::StoreError;
use postgres::Row;

use crate::db::{E, R};

pub(crate) fn ts_to_sql(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn ts_from_sql(v: i64) -> R<Timestamp> {
    chrono::Utc
        .timestamp_micros(v)
        .single()
        .ok_or_else(|| E::Store(StoreError::Corrupt(format!("timestamp {v} out of range"))))
}

pub(crate) fn corrupt(what: &str) -> E {
    E::Store(StoreError::Corrupt(format!("bad {what}")))
}

/// Typed reads by column name.
pub(crate) trait Get {
    fn val<'a, T: postgres::types::FromSql<'a>>(&'a self, col: &str) -> R<T>;
    fn ts(&self, col: &str) -> R<Timestamp> {
        ts_from_sql(self.val(col)?)
    }
    fn opt_ts(&self, col: &str) -> R<Option<Timestamp>> {
        self.val::<Option<i64>>(col)?.map(ts_from_sql).transpose()
    }
    fn id<T: From<uuid::Uuid>>(&self, col: &str) -> R<T> {
        Ok(T::from(self.val::<uuid::Uuid>(col)?))
    }
    fn hash32(&self, col: &str) -> R<[u8; 32]> {
        self.val::<Vec<u8>>(col)?.try_into().map_err(|_| corrupt("hash (not 32 bytes)"))
    }
    fn epoch(&self, col: &str) -> R<u32> {
        u32::try_from(self.val::<i64>(col)?).map_err(|_| corrupt("key epoch"))
    }
    fn count(&self, col: &str) -> R<u32> {
        u32::try_from(self.val::<i64>(col)?).map_err(|_| corrupt("count"))
    }
    /// A text column parsed by `parse`.
    fn parsed<T>(&self, col: &str, parse: impl FnOnce(&str) -> Option<T>) -> R<T> {
        let s: String = self.val(col)?;
        parse(&s).ok_or_else(|| corrupt(&format!("{col} {s:?}")))
    }
}

impl Get for Row {
    fn val<'a, T: postgres::types::FromSql<'a>>(&'a self, col: &str) -> R<T> {
        Ok(self.try_get(col)?)
    }
}

/// A page size for SQL.
pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n)
}
