//! `kidvault verify-erasure` on PostgreSQL: every row of every table of the data
//! store and the keystore schema is read as text and searched for the deleted
//! ids, as text and as the hex of their 16 bytes, except the tables that keep
//! ids (never content) as the proof of deletion (the same list as on SQLite).

use kidvault_store::Result;
use kidvault_store_sqlite::erasure::{Residue, PROOF_TABLES};

use crate::db::{connect_url as connect, store_error as backend};
use crate::keystore::KEYSTORE_SCHEMA;

/// Scans the database at `url` for `ids` (blocking; callable from async code).
pub fn scan(url: &str, ids: &[uuid::Uuid]) -> Result<Vec<Residue>> {
    crate::db::on_own_thread(|| scan_here(url, ids))
}

fn scan_here(url: &str, ids: &[uuid::Uuid]) -> Result<Vec<Residue>> {
    let mut client = connect(url)?;
    let tables = client
        .query(
            "SELECT table_schema::TEXT, table_name::TEXT FROM information_schema.tables
             WHERE table_type = 'BASE TABLE' AND table_schema::TEXT IN ('public', $1::TEXT) ORDER BY 1, 2",
            &[&KEYSTORE_SCHEMA],
        )
        .map_err(backend)?;
    let needles: Vec<(String, String)> = ids
        .iter()
        .map(|u| (u.to_string(), u.as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()))
        .collect();
    let mut found = Vec::new();
    for t in tables {
        let (schema, table): (String, String) = (t.get(0), t.get(1));
        if schema == "public" && PROOF_TABLES.contains(&table.as_str()) {
            continue;
        }
        let sql = format!("SELECT ctid::text, t::text FROM \"{schema}\".\"{table}\" t");
        for row in client.query(sql.as_str(), &[]).map_err(backend)? {
            let (at, text): (String, String) = (row.get(0), row.get(1));
            if let Some((id, _)) =
                needles.iter().find(|(s, hex)| text.contains(s.as_str()) || text.contains(hex.as_str()))
            {
                found.push(Residue { place: format!("table {schema}.{table}, row {at}"), what: format!("id {id}") });
            }
        }
    }
    Ok(found)
}

/// The items recorded as deleted for `child` (blocking; callable from async code).
pub fn deleted_items_of(url: &str, child: uuid::Uuid) -> Result<Vec<uuid::Uuid>> {
    crate::db::on_own_thread(|| deleted_items_here(url, child))
}

fn deleted_items_here(url: &str, child: uuid::Uuid) -> Result<Vec<uuid::Uuid>> {
    let mut client = connect(url)?;
    let rows = client
        .query(
            "SELECT di.item_id FROM deletion_items di JOIN deletions d ON d.id = di.deletion_id WHERE d.child_id = $1",
            &[&child],
        )
        .map_err(backend)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
