//! `kidvault migrate-store`: copies a whole embedded deployment (the SQLite data
//! store and keystore) into an empty PostgreSQL database, in one transaction.
//! Values are copied as they are: ciphertext stays ciphertext, wrapped keys stay
//! wrapped (the root key never enters the database), ledger entries, subtree
//! hashes, tiles and signed checkpoints byte for byte. Each column is converted
//! by the target's type: 16-byte ids to UUID, integers to BIGINT, the rest as is.
//! Blobs stay where they are (the deployment's blob directory).

use std::collections::BTreeMap;
use std::path::Path;

use kidvault_store::{Result, StoreError};
use postgres::types::ToSql;
use rusqlite::types::Value as Lite;

/// A SQLite error as the store reports it.
fn lite(e: rusqlite::Error) -> StoreError {
    kidvault_store_sqlite::Error::from(e).into()
}

use crate::db::{connect_url, on_own_thread};
use crate::keystore::KEYSTORE_SCHEMA;

/// Tables in an order that satisfies every foreign key. `leases` is not copied:
/// a lease belongs to a running node.
pub const TABLES: [&str; 39] = [
    "households",
    "guardians",
    "sessions",
    "children",
    "consents",
    "consent_scopes",
    "devices",
    "items",
    "item_edges",
    "ledger_entries",
    "ledger_nodes",
    "ledger_tiles",
    "ledger_checkpoints",
    "deletions",
    "deletion_items",
    "staff",
    "processors",
    "processor_tasks",
    "disclosures",
    "datasets",
    "dataset_children",
    "dataset_items",
    "models",
    "model_inputs",
    "model_flags",
    "notices",
    "invites",
    "pending_consents",
    "guardian_totp",
    "recovery_codes",
    "staff_sessions",
    "support_grants",
    "access_reviews",
    "access_denials",
    "device_codes",
    "pending_sign_ups",
    "child_keys",
    "item_keys",
    "seal_generations",
];

/// The tables of [`TABLES`] that are the keystore's.
pub(crate) const KEYSTORE_TABLES: [&str; 3] = ["child_keys", "item_keys", "seal_generations"];

/// Rows per table, as copied (`child_keys`, `item_keys` and `seal_generations` are the keystore's).
pub type Counts = BTreeMap<String, i64>;

fn bad(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(what.to_string())
}

/// One value converted to the target column's type.
fn convert(v: Lite, pg_type: &str, at: &str) -> Result<Box<dyn ToSql + Sync + Send>> {
    Ok(match (v, pg_type) {
        (Lite::Null, "uuid") => Box::new(Option::<uuid::Uuid>::None),
        (Lite::Null, "bigint") => Box::new(Option::<i64>::None),
        (Lite::Null, "bytea") => Box::new(Option::<Vec<u8>>::None),
        (Lite::Null, _) => Box::new(Option::<String>::None),
        (Lite::Blob(b), "uuid") => {
            Box::new(uuid::Uuid::from_slice(&b).map_err(|_| bad(format!("{at}: an id is not 16 bytes")))?)
        }
        (Lite::Integer(i), "bigint") => Box::new(i),
        (Lite::Blob(b), "bytea") => Box::new(b),
        (Lite::Text(t), "text") => Box::new(t),
        (v, t) => return Err(bad(format!("{at}: cannot copy {:?} into a {t} column", v.data_type()))),
    })
}

/// A table's columns in the database: name and type.
pub(crate) fn columns(tx: &mut postgres::Transaction<'_>, schema: &str, table: &str) -> Result<Vec<(String, String)>> {
    let rows = tx
        .query(
            "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .map_err(bad)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Copies `table` from `src` to `dst` (columns by name); returns the rows copied.
pub(crate) fn copy_table(
    src: &rusqlite::Connection,
    dst: &mut postgres::Transaction<'_>,
    schema: &str,
    table: &str,
) -> Result<i64> {
    let columns = columns(dst, schema, table)?;
    let names = columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    let slots = (1..=columns.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let insert = dst.prepare(&format!("INSERT INTO {schema}.{table} ({names}) VALUES ({slots})")).map_err(bad)?;
    let mut stmt = src.prepare(&format!("SELECT {names} FROM {table}")).map_err(lite)?;
    let mut rows = stmt.query([]).map_err(lite)?;
    let mut n = 0i64;
    while let Some(row) = rows.next().map_err(lite)? {
        n += 1;
        let values = columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                convert(row.get::<_, Lite>(i).map_err(lite)?, ty, &format!("{table}.{name}, row {n}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
        dst.execute(&insert, &params).map_err(bad)?;
    }
    Ok(n)
}

/// Copies the deployment (data store `data`, keystore `keys`) into the database
/// at `url`, which must hold no deployment yet. All or nothing.
pub fn import_sqlite(data: &Path, keys: &Path, url: &str) -> Result<Counts> {
    // The schemas first (PgStore/PgKeystore migrate on open).
    crate::PgStore::open(url, 1)?;
    crate::PgKeystore::open(url, 1)?;
    on_own_thread(|| {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let data = rusqlite::Connection::open_with_flags(data, flags).map_err(lite)?;
        let keys = rusqlite::Connection::open_with_flags(keys, flags).map_err(lite)?;
        let mut client = connect_url(url)?;
        let mut tx = client.transaction().map_err(bad)?;
        let existing: i64 = tx
            .query_one("SELECT (SELECT count(*) FROM households) + (SELECT size FROM ledger_head WHERE id = 1)", &[])
            .map_err(bad)?
            .get(0);
        if existing > 0 {
            return Err(StoreError::Conflict("the target database already holds a deployment".into()));
        }
        let mut counts = Counts::new();
        for table in TABLES {
            let n = if KEYSTORE_TABLES.contains(&table) {
                copy_table(&keys, &mut tx, KEYSTORE_SCHEMA, table)?
            } else {
                copy_table(&data, &mut tx, "public", table)?
            };
            counts.insert(table.to_owned(), n);
        }
        let size = counts["ledger_entries"];
        tx.execute("UPDATE ledger_head SET size = $1 WHERE id = 1", &[&size]).map_err(bad)?;
        tx.commit().map_err(bad)?;
        Ok(counts)
    })
}

/// Rows per table in the database at `url` (to check a copy against its source).
pub fn counts(url: &str) -> Result<Counts> {
    on_own_thread(|| {
        let mut client = connect_url(url)?;
        let mut out = Counts::new();
        for table in TABLES {
            let schema = if KEYSTORE_TABLES.contains(&table) { KEYSTORE_SCHEMA } else { "public" };
            let n: i64 = client.query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[]).map_err(bad)?.get(0);
            out.insert(table.to_owned(), n);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table added to the embedded schema is copied too (or named here as
    /// deliberately left behind).
    #[test]
    fn every_embedded_table_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let (data, keys) = (dir.path().join("kidvault.db"), dir.path().join("keystore.db"));
        drop(kidvault_store_sqlite::SqliteStore::open(&data).unwrap());
        drop(kidvault_store_sqlite::SqliteKeystore::open(&keys).unwrap());
        // Node state (leases), throttling windows (sign_in_failures), the migrations
        // table and the deployment binding (the target has its own) stay behind.
        let left_behind = ["leases", "sign_in_failures", "schema_migrations", "deployment", "sqlite_sequence"];
        for db in [&data, &keys] {
            let conn = rusqlite::Connection::open(db).unwrap();
            let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap();
            let names: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(|n| n.unwrap()).collect();
            for name in names {
                assert!(
                    TABLES.contains(&name.as_str()) || left_behind.contains(&name.as_str()),
                    "table {name} is not copied by migrate-store"
                );
            }
        }
    }
}
