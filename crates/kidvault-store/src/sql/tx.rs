//! The transaction interface the shared SQL is written against.
//!
//! A backend gives the shared code one [`Tx`]: run a statement, visit the rows
//! of a query. Statements are written once, in the common subset of SQLite's and
//! PostgreSQL's SQL, with numbered placeholders `?1`, `?2`, … (SQLite's own
//! spelling; the PostgreSQL backend rewrites them to `$1`, `$2`, … once per
//! statement it prepares). Where the two really differ the shared code asks
//! [`Tx::dialect`] and picks a statement per dialect.
//!
//! Values cross in four types, the only ones the schemas use: 64-bit integers
//! (counts, epochs, and timestamps in microseconds), text, bytes, and ids (a
//! native `uuid` on PostgreSQL, 16 bytes on SQLite).

use kidvault_domain::ids::*;
use kidvault_domain::Timestamp;
use uuid::Uuid;

use crate::StoreError;

/// The SQL dialect behind a [`Tx`]: only for what the two spell differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Why a statement failed, as the shared code needs to tell.
#[derive(Debug)]
pub enum TxError {
    /// The store's own verdict (not found, corrupt, full, unavailable, …).
    Store(StoreError),
    /// A unique or primary-key constraint refused a row.
    Unique(String),
    /// The database gave up on the transaction because of a concurrent one
    /// (serialization failure, deadlock): the backend runs it again.
    Retry(String),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<kidvault_ledger::LedgerError> for TxError {
    fn from(e: kidvault_ledger::LedgerError) -> Self {
        TxError::Store(e.into())
    }
}

impl From<kidvault_domain::lineage::LineageError> for TxError {
    fn from(e: kidvault_domain::lineage::LineageError) -> Self {
        TxError::Store(e.into())
    }
}

impl From<TxError> for StoreError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Store(s) => s,
            TxError::Unique(m) | TxError::Retry(m) => StoreError::Backend(m),
        }
    }
}

/// What a transaction body returns.
pub type R<T> = std::result::Result<T, TxError>;

/// A unique violation as `Conflict(what)`; every other outcome unchanged.
pub fn conflict_if_unique<T>(r: R<T>, what: impl FnOnce() -> String) -> R<T> {
    r.map_err(|e| match e {
        TxError::Unique(_) => TxError::Store(StoreError::Conflict(what())),
        other => other,
    })
}

/// A stored value that does not decode.
pub fn corrupt(what: &str) -> TxError {
    TxError::Store(StoreError::Corrupt(format!("bad {what}")))
}

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Id(Uuid),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Int(i64::from(v))
    }
}

/// Timestamps are stored as microseconds since the Unix epoch.
impl From<Timestamp> for Param<'_> {
    fn from(t: Timestamp) -> Self {
        Param::Int(t.timestamp_micros())
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Bytes(v)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Param<'a> {
    fn from(v: &'a [u8; N]) -> Self {
        Param::Bytes(v)
    }
}

impl From<Uuid> for Param<'_> {
    fn from(v: Uuid) -> Self {
        Param::Id(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

macro_rules! id_params {
    ($($t:ty),*) => {$(
        impl From<$t> for Param<'_> {
            fn from(v: $t) -> Self {
                Param::Id(v.0)
            }
        }
    )*};
}
id_params!(
    HouseholdId,
    GuardianId,
    ChildId,
    DeviceId,
    ItemId,
    ConsentId,
    AccessId,
    DeletionId,
    StaffId,
    ProcessorId,
    TaskId,
    NoticeId,
    DatasetId,
    ModelId,
    SupportGrantId,
    ReviewId,
    DenialId
);

/// Parameters for a statement: `p![a, b, c]`.
#[macro_export]
macro_rules! p {
    ($($v:expr),* $(,)?) => { &[$($crate::sql::Param::from($v)),*] };
}

/// One result row, read by column name. Each getter returns `None` for NULL.
pub trait Row {
    fn int(&self, col: &str) -> R<Option<i64>>;
    fn text(&self, col: &str) -> R<Option<String>>;
    fn bytes(&self, col: &str) -> R<Option<Vec<u8>>>;
    fn uuid(&self, col: &str) -> R<Option<Uuid>>;
}

/// A row's columns named `{prefix}{name}`, read as `name`: one row reader
/// serves a table read alone and the same table's columns in a join.
pub(crate) struct Prefixed<'r> {
    pub(crate) row: &'r dyn Row,
    pub(crate) prefix: &'static str,
}

impl Row for Prefixed<'_> {
    fn int(&self, col: &str) -> R<Option<i64>> {
        self.row.int(&format!("{}{col}", self.prefix))
    }
    fn text(&self, col: &str) -> R<Option<String>> {
        self.row.text(&format!("{}{col}", self.prefix))
    }
    fn bytes(&self, col: &str) -> R<Option<Vec<u8>>> {
        self.row.bytes(&format!("{}{col}", self.prefix))
    }
    fn uuid(&self, col: &str) -> R<Option<Uuid>> {
        self.row.uuid(&format!("{}{col}", self.prefix))
    }
}

fn required<T>(v: Option<T>, col: &str) -> R<T> {
    v.ok_or_else(|| corrupt(&format!("{col} (NULL)")))
}

impl dyn Row + '_ {
    pub fn i64(&self, col: &str) -> R<i64> {
        required(self.int(col)?, col)
    }
    pub fn string(&self, col: &str) -> R<String> {
        required(self.text(col)?, col)
    }
    pub fn blob(&self, col: &str) -> R<Vec<u8>> {
        required(self.bytes(col)?, col)
    }
    pub fn id<T: From<Uuid>>(&self, col: &str) -> R<T> {
        Ok(T::from(required(self.uuid(col)?, col)?))
    }
    pub fn opt_id<T: From<Uuid>>(&self, col: &str) -> R<Option<T>> {
        Ok(self.uuid(col)?.map(T::from))
    }
    pub fn ts(&self, col: &str) -> R<Timestamp> {
        ts_from_sql(self.i64(col)?)
    }
    pub fn opt_ts(&self, col: &str) -> R<Option<Timestamp>> {
        self.int(col)?.map(ts_from_sql).transpose()
    }
    pub fn hash32(&self, col: &str) -> R<[u8; 32]> {
        self.blob(col)?.try_into().map_err(|_| corrupt("hash (not 32 bytes)"))
    }
    pub fn epoch(&self, col: &str) -> R<u32> {
        u32::try_from(self.i64(col)?).map_err(|_| corrupt("key epoch"))
    }
    pub fn count(&self, col: &str) -> R<u32> {
        u32::try_from(self.i64(col)?).map_err(|_| corrupt("count"))
    }
    /// A text column parsed by `parse`.
    pub fn parsed<T>(&self, col: &str, parse: impl FnOnce(&str) -> Option<T>) -> R<T> {
        let s = self.string(col)?;
        parse(&s).ok_or_else(|| corrupt(&format!("{col} {s:?}")))
    }
}

/// A timestamp as stored: microseconds since the Unix epoch.
pub fn ts_to_sql(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub fn ts_from_sql(v: i64) -> R<Timestamp> {
    use chrono::TimeZone;
    chrono::Utc.timestamp_micros(v).single().ok_or_else(|| corrupt(&format!("timestamp {v} (out of range)")))
}

/// One transaction of a backend. Every statement of one store operation runs
/// in one `Tx`: it commits (or rolls back) as a whole, as the backend decides.
pub trait Tx {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns how many rows it changed.
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> R<u64>;
    /// Runs a query and calls `f` on each row, in order, while it returns
    /// `Ok(true)` (`Ok(false)` stops early, an error stops and is returned).
    fn each(&mut self, sql: &str, params: &[Param<'_>], f: &mut dyn FnMut(&dyn Row) -> R<bool>) -> R<()>;
    /// Appends `entries` to the ledger in this transaction (so they commit with
    /// the action they record, or not at all); returns their indexes. The
    /// backends still keep the ledger's tables themselves (their node reads
    /// differ most): the last part of the store not yet written here.
    fn append_ledger(&mut self, entries: &[kidvault_ledger::entry::NewEntry]) -> R<Vec<u64>>;
}

impl dyn Tx + '_ {
    /// Every row, mapped by `f`.
    pub fn rows<T>(&mut self, sql: &str, params: &[Param<'_>], mut f: impl FnMut(&dyn Row) -> R<T>) -> R<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, params, &mut |r| {
            out.push(f(r)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row, if any, mapped by `f` (the rest are not read).
    pub fn opt<T>(&mut self, sql: &str, params: &[Param<'_>], f: impl FnOnce(&dyn Row) -> R<T>) -> R<Option<T>> {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, params, &mut |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row, mapped by `f`; a query that returns none is corrupt
    /// data (use it where the schema guarantees a row: counts, aggregates).
    pub fn one<T>(&mut self, sql: &str, params: &[Param<'_>], f: impl FnOnce(&dyn Row) -> R<T>) -> R<T> {
        self.opt(sql, params, f)?.ok_or_else(|| corrupt("query result (no row)"))
    }
}

/// Appends a parameter to those of a statement being built; returns its
/// placeholder (`?N`).
pub fn bind<'a>(params: &mut Vec<Param<'a>>, value: Param<'a>) -> String {
    params.push(value);
    format!("?{}", params.len())
}

/// Appends each value to the parameters; returns their placeholders as a
/// list for `IN (…)`.
pub fn list<'a>(params: &mut Vec<Param<'a>>, values: impl IntoIterator<Item = Param<'a>>) -> String {
    values.into_iter().map(|v| bind(params, v)).collect::<Vec<_>>().join(", ")
}

/// `rows` rows of `cols` placeholders each, numbered from `?1`:
/// `(?1, ?2), (?3, ?4)` for a multi-row `VALUES` list.
pub fn values_sql(rows: usize, cols: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            let _ = write!(out, "{}?{}", if c == 0 { "" } else { ", " }, r * cols + c + 1);
        }
        out.push(')');
    }
    out
}

/// Rewrites `?N` placeholders to PostgreSQL's `$N` (outside quoted text).
pub fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_number_their_placeholders_in_order() {
        assert_eq!(values_sql(2, 3), "(?1, ?2, ?3), (?4, ?5, ?6)");
        assert_eq!(values_sql(1, 1), "(?1)");
    }

    #[test]
    fn placeholders_are_rewritten_outside_quotes_only() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE b = ?2 AND c = '?1' AND d IN (?1, ?10)"),
            "SELECT a FROM t WHERE b = $2 AND c = '?1' AND d IN ($1, $10)"
        );
    }
}
