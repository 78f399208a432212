//! `kidvault backup` and `kidvault restore` on PostgreSQL: the deployment's
//! tables copied out of one consistent snapshot into the embedded layout (a
//! data store file and a keystore file, which the backup then seals), and
//! copied back in one transaction per part. Values move as they are, by the
//! columns both schemas share (see [`crate::import`]).
//!
//! A restored keystore row is handed to the caller first: it is sealed under
//! the live seal chain before it enters the database, and a key the live data
//! store records as deleted never enters it at all (not even as a dead row or
//! a WAL record).

use std::path::Path;

use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_store::{KeyRowId, Result, StoreError};
use postgres::types::ToSql;
use rusqlite::types::Value as Lite;

use crate::db::{connect_url, on_own_thread};
use crate::import::{columns, Counts, KEYSTORE_TABLES, TABLES};
use crate::keystore::KEYSTORE_SCHEMA;

/// Rows read from PostgreSQL per round trip.
const PAGE: i32 = 2000;

fn bad(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(what.to_string())
}

fn lite(e: rusqlite::Error) -> StoreError {
    kidvault_store_sqlite::Error::from(e).into()
}

fn schema_of(table: &str) -> &'static str {
    if KEYSTORE_TABLES.contains(&table) {
        KEYSTORE_SCHEMA
    } else {
        "public"
    }
}

/// One PostgreSQL value as SQLite stores it.
fn to_lite(row: &postgres::Row, i: usize, ty: &str, at: &str) -> Result<Lite> {
    let v = match ty {
        "uuid" => row.get::<_, Option<uuid::Uuid>>(i).map(|u| Lite::Blob(u.as_bytes().to_vec())),
        "bigint" => row.get::<_, Option<i64>>(i).map(Lite::Integer),
        "bytea" => row.get::<_, Option<Vec<u8>>>(i).map(Lite::Blob),
        "text" => row.get::<_, Option<String>>(i).map(Lite::Text),
        other => return Err(bad(format!("{at}: cannot copy a {other} column"))),
    };
    Ok(v.unwrap_or(Lite::Null))
}

/// Copies the deployment at `url` into new embedded files: `data` (the data
/// store's tables) and `keys` (the keystore's), from one snapshot, so every
/// item in the copy has its key in the copy. Returns the rows per table.
pub fn export_sqlite(url: &str, data: &Path, keys: &Path) -> Result<Counts> {
    // The embedded schemas first (the stores migrate on open).
    drop(kidvault_store_sqlite::SqliteStore::open(data)?);
    drop(kidvault_store_sqlite::SqliteKeystore::open(keys)?);
    on_own_thread(|| {
        let data = rusqlite::Connection::open(data).map_err(lite)?;
        let keys = rusqlite::Connection::open(keys).map_err(lite)?;
        for db in [&data, &keys] {
            db.execute_batch("PRAGMA journal_mode=MEMORY; PRAGMA foreign_keys=OFF; BEGIN;").map_err(lite)?;
        }
        let mut client = connect_url(url)?;
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(bad)?;
        let mut counts = Counts::new();
        for table in TABLES {
            let schema = schema_of(table);
            let dst = if schema == KEYSTORE_SCHEMA { &keys } else { &data };
            let cols = columns(&mut tx, schema, table)?;
            let names = cols.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
            let slots = (1..=cols.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
            let mut insert = dst.prepare(&format!("INSERT INTO {table} ({names}) VALUES ({slots})")).map_err(lite)?;
            let select = tx.prepare(&format!("SELECT {names} FROM {schema}.{table}")).map_err(bad)?;
            let portal = tx.bind(&select, &[]).map_err(bad)?;
            let mut n = 0i64;
            loop {
                let rows = tx.query_portal(&portal, PAGE).map_err(bad)?;
                for row in &rows {
                    n += 1;
                    let values = cols
                        .iter()
                        .enumerate()
                        .map(|(i, (name, ty))| to_lite(row, i, ty, &format!("{table}.{name}")))
                        .collect::<Result<Vec<_>>>()?;
                    insert.execute(rusqlite::params_from_iter(values)).map_err(lite)?;
                }
                if rows.len() < PAGE as usize {
                    break;
                }
            }
            counts.insert(table.to_owned(), n);
        }
        tx.commit().map_err(bad)?;
        for db in [&data, &keys] {
            db.execute_batch("COMMIT;").map_err(lite)?;
        }
        Ok(counts)
    })
}

/// What the live data store records as deleted: every item of every deletion,
/// and every child deleted whole.
pub fn deleted(url: &str) -> Result<(Vec<ItemId>, Vec<ChildId>)> {
    on_own_thread(|| {
        let mut client = connect_url(url)?;
        let items = client.query("SELECT item_id FROM deletion_items", &[]).map_err(bad)?;
        let items = items.iter().map(|r| ItemId(r.get(0))).collect();
        let mut children = Vec::new();
        for r in client.query("SELECT child_id, scope FROM deletions", &[]).map_err(bad)? {
            let scope: kidvault_domain::deletion::DeletionScope =
                serde_json::from_str(r.get::<_, &str>(1)).map_err(bad)?;
            if scope.is_child() {
                children.push(ChildId(r.get(0)));
            }
        }
        Ok((items, children))
    })
}

/// Replaces the data store's tables with those of the embedded file `data`,
/// in one transaction. Returns the rows per table.
pub fn restore_data(url: &str, data: &Path) -> Result<Counts> {
    on_own_thread(|| {
        let src =
            rusqlite::Connection::open_with_flags(data, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(lite)?;
        let mut client = connect_url(url)?;
        let mut tx = client.transaction().map_err(bad)?;
        let tables: Vec<&str> = TABLES.iter().copied().filter(|t| !KEYSTORE_TABLES.contains(t)).collect();
        // Throttling windows refer to accounts; they start again empty.
        tx.batch_execute(&format!("TRUNCATE {}, sign_in_failures", tables.join(", "))).map_err(bad)?;
        let mut counts = Counts::new();
        for table in tables {
            counts.insert(table.to_owned(), crate::import::copy_table(&src, &mut tx, "public", table)?);
        }
        let size = counts["ledger_entries"];
        tx.execute("UPDATE ledger_head SET size = $1 WHERE id = 1", &[&size]).map_err(bad)?;
        tx.commit().map_err(bad)?;
        Ok(counts)
    })
}

/// What becomes of a restored keystore row: sealed again (`Some`), or left out
/// (`None`: its key was destroyed since the backup).
pub type Reseal<'a> = dyn Fn(KeyRowId, ChildId, &[u8]) -> Result<Option<Vec<u8>>> + Sync + 'a;

/// Replaces the keystore's keys with those of the embedded file `keys`, each
/// passed through `reseal` first, in one transaction; the seal chain's record
/// of generations stays the live one. Returns the rows written per table, and
/// under `left_out` the rows `reseal` kept out.
pub fn restore_keys(url: &str, keys: &Path, reseal: &Reseal<'_>) -> Result<Counts> {
    on_own_thread(|| {
        let src =
            rusqlite::Connection::open_with_flags(keys, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(lite)?;
        let mut client = connect_url(url)?;
        let mut tx = client.transaction().map_err(bad)?;
        tx.batch_execute(&format!("TRUNCATE {KEYSTORE_SCHEMA}.child_keys, {KEYSTORE_SCHEMA}.item_keys"))
            .map_err(bad)?;
        let uuid = |b: Vec<u8>| uuid::Uuid::from_slice(&b).map_err(|_| bad("a keystore id is not 16 bytes"));
        let mut counts = Counts::new();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {KEYSTORE_SCHEMA}.child_keys (child_id, epoch, wrapped, created_at) VALUES ($1, $2, $3, $4)"
            ))
            .map_err(bad)?;
        let mut stmt = src.prepare("SELECT child_id, epoch, wrapped, created_at FROM child_keys").map_err(lite)?;
        let mut rows = stmt.query([]).map_err(lite)?;
        let (mut n, mut left_out) = (0i64, 0i64);
        while let Some(r) = rows.next().map_err(lite)? {
            let child = uuid(r.get(0).map_err(lite)?)?;
            let epoch: i64 = r.get(1).map_err(lite)?;
            let wrapped: Vec<u8> = r.get(2).map_err(lite)?;
            let created: i64 = r.get(3).map_err(lite)?;
            let id = KeyRowId::Child(ChildId(child), u32::try_from(epoch).map_err(bad)?);
            if let Some(sealed) = reseal(id, ChildId(child), &wrapped)? {
                let params: [&(dyn ToSql + Sync); 4] = [&child, &epoch, &sealed, &created];
                tx.execute(&insert, &params).map_err(bad)?;
                n += 1;
            } else {
                left_out += 1;
            }
        }
        counts.insert("child_keys".into(), n);
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {KEYSTORE_SCHEMA}.item_keys (item_id, child_id, epoch, wrapped) VALUES ($1, $2, $3, $4)"
            ))
            .map_err(bad)?;
        let mut stmt = src.prepare("SELECT item_id, child_id, epoch, wrapped FROM item_keys").map_err(lite)?;
        let mut rows = stmt.query([]).map_err(lite)?;
        let mut n = 0i64;
        while let Some(r) = rows.next().map_err(lite)? {
            let item = uuid(r.get(0).map_err(lite)?)?;
            let child = uuid(r.get(1).map_err(lite)?)?;
            let epoch: i64 = r.get(2).map_err(lite)?;
            let wrapped: Vec<u8> = r.get(3).map_err(lite)?;
            if let Some(sealed) = reseal(KeyRowId::Item(ItemId(item)), ChildId(child), &wrapped)? {
                let params: [&(dyn ToSql + Sync); 4] = [&item, &child, &epoch, &sealed];
                tx.execute(&insert, &params).map_err(bad)?;
                n += 1;
            } else {
                left_out += 1;
            }
        }
        counts.insert("item_keys".into(), n);
        counts.insert("left_out".into(), left_out);
        tx.commit().map_err(bad)?;
        Ok(counts)
    })
}

/// After a restore: what the data store holds whose keys the keystore does not
/// (deleted since the backup): children, and items not derived from another
/// such item, each with its household. Each is to be deleted again.
pub fn without_keys(url: &str) -> Result<Vec<(ChildId, kidvault_domain::ids::HouseholdId, Option<ItemId>)>> {
    use kidvault_domain::ids::HouseholdId;
    on_own_thread(|| {
        let mut client = connect_url(url)?;
        let mut out = Vec::new();
        let children = client
            .query(
                &format!(
                    "SELECT id, household_id FROM children
                     WHERE status != 'deleting' AND id NOT IN (SELECT child_id FROM {KEYSTORE_SCHEMA}.child_keys)"
                ),
                &[],
            )
            .map_err(bad)?;
        let gone: std::collections::HashSet<uuid::Uuid> = children.iter().map(|r| r.get(0)).collect();
        for r in &children {
            out.push((ChildId(r.get(0)), HouseholdId(r.get(1)), None));
        }
        let items = client
            .query(
                &format!(
                    "SELECT i.id, i.child_id, c.household_id FROM items i JOIN children c ON c.id = i.child_id
                     WHERE i.state = 'live' AND octet_length(i.wrapped_key) = 0
                       AND i.id NOT IN (SELECT item_id FROM {KEYSTORE_SCHEMA}.item_keys)
                       AND NOT EXISTS (SELECT 1 FROM item_edges e JOIN items p ON p.id = e.source_id
                                       WHERE e.item_id = i.id AND p.state = 'live'
                                         AND octet_length(p.wrapped_key) = 0
                                         AND p.id NOT IN (SELECT item_id FROM {KEYSTORE_SCHEMA}.item_keys))"
                ),
                &[],
            )
            .map_err(bad)?;
        for r in &items {
            let child: uuid::Uuid = r.get(1);
            if !gone.contains(&child) {
                out.push((ChildId(child), HouseholdId(r.get(2)), Some(ItemId(r.get(0)))));
            }
        }
        Ok(out)
    })
}

/// The seal chain's newest generation in the keystore, if it has one.
pub fn newest_generation(url: &str) -> Result<Option<u32>> {
    on_own_thread(|| {
        let mut client = connect_url(url)?;
        let row = client
            .query_one(&format!("SELECT max(generation) FROM {KEYSTORE_SCHEMA}.seal_generations"), &[])
            .map_err(bad)?;
        row.get::<_, Option<i64>>(0).map(|g| u32::try_from(g).map_err(bad)).transpose()
    })
}
