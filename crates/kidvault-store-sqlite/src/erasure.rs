//! `kidvault verify-erasure`: proof by inspection that a deleted child (or given
//! items) left no residue. Every table of the data store is read row by row and
//! every value searched for the ids — as 16 bytes and as text — except the
//! ledger and the deletion records, which keep ids (never content) as the proof of
//! what was deleted. The keystore must hold no key of the child, and every blob
//! record of a deleted item must be zeros.

use std::path::Path;

use rusqlite::types::ValueRef;

use crate::open_conn;
use crate::Result;

/// Tables that may name deleted ids: the proof of deletion itself, and the
/// register of what left kidvault (which processor received which item, and the
/// task that told it to delete it), and the lineage of training datasets and the
/// models flagged for what was deleted (ids only), and staff accesses to review
/// or refused (ids, roles, tickets; the justification is sealed under the
/// child's key and cleared with the child).
pub const PROOF_TABLES: [&str; 14] = [
    "ledger_entries",
    "ledger_nodes",
    "ledger_tiles",
    "ledger_checkpoints",
    "deletions",
    "deletion_items",
    "processor_tasks",
    "disclosures",
    "dataset_children",
    "dataset_items",
    "model_flags",
    "access_reviews",
    "access_denials",
    "schema_migrations",
];

/// One place where something of the deleted data remains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Residue {
    pub place: String,
    pub what: String,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Scans a SQLite file (data store or keystore) for the ids.
pub fn scan_database(db: &Path, ids: &[uuid::Uuid]) -> Result<Vec<Residue>> {
    let conn = open_conn(db, crate::Role::Reader)?;
    let tables: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let needles: Vec<(Vec<u8>, String)> = ids.iter().map(|u| (u.as_bytes().to_vec(), u.to_string())).collect();
    let mut found = Vec::new();
    for table in tables.iter().filter(|t| !PROOF_TABLES.contains(&t.as_str())) {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let mut rows = stmt.query([])?;
        let mut row_no = 0u64;
        while let Some(row) = rows.next()? {
            row_no += 1;
            for (col, name) in names.iter().enumerate() {
                let hit = match row.get_ref(col)? {
                    ValueRef::Blob(b) => {
                        needles.iter().find(|(bytes, text)| contains(b, bytes) || contains(b, text.as_bytes()))
                    }
                    ValueRef::Text(t) => needles.iter().find(|(_, text)| contains(t, text.as_bytes())),
                    _ => None,
                };
                if let Some((_, id)) = hit {
                    found.push(Residue {
                        place: format!("{} table {table}, row {row_no}, column {name}", db.display()),
                        what: format!("id {id}"),
                    });
                }
            }
        }
    }
    Ok(found)
}

/// Scans the raw bytes of every file of a SQLite database (the file, its WAL,
/// its rollback journal, its shared-memory index) for the ids, as 16 bytes and
/// as text: a row that is gone from the tables may still sit in a stale WAL
/// frame or a free page. For the keystore, whose rows are keys next to the ids
/// they open, any such hit means key material may remain.
pub fn scan_raw(db: &Path, ids: &[uuid::Uuid]) -> Result<Vec<Residue>> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-journal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for id in ids {
            let text = id.to_string();
            for needle in [id.as_bytes().as_slice(), text.as_bytes()] {
                if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
                    found.push(Residue {
                        place: format!("{} at byte {at} (raw file)", file.display()),
                        what: format!("id {id}"),
                    });
                    break;
                }
            }
        }
    }
    Ok(found)
}

/// The items recorded as deleted for `child` (from the deletion records).
pub fn deleted_items_of(db: &Path, child: uuid::Uuid) -> Result<Vec<uuid::Uuid>> {
    let conn = open_conn(db, crate::Role::Reader)?;
    let mut stmt = conn.prepare(
        "SELECT di.item_id FROM deletion_items di JOIN deletions d ON d.id = di.deletion_id WHERE d.child_id = ?1",
    )?;
    let rows = stmt.query_map([child.as_bytes().to_vec()], |r| r.get::<_, Vec<u8>>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(crate::uuid_from_sql(&r?)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deleted row is gone from the tables at once but not from the files:
    /// its page image stays in the WAL until a scrub, which the raw scan sees
    /// and the table scan does not. After `Db::scrub`, neither finds it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deleted_row_stays_in_the_wal_until_scrubbed_and_the_raw_scan_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let db = crate::Db::open(&path, &[(1, "CREATE TABLE k (id BLOB PRIMARY KEY, v BLOB NOT NULL);")]).unwrap();
        let id = uuid::Uuid::now_v7();
        let write = |sql: &'static str| {
            db.write(move |c| {
                c.execute(sql, rusqlite::params![id.as_bytes().to_vec()])?;
                Ok(())
            })
        };
        write("INSERT INTO k (id, v) VALUES (?1, randomblob(60))").await.unwrap();
        // Keep the background checkpointer from folding the frames in first.
        let reader = open_conn(&path, crate::Role::Reader).unwrap();
        reader.execute_batch("BEGIN; SELECT count(*) FROM k;").unwrap();
        write("DELETE FROM k WHERE id = ?1").await.unwrap();
        assert!(scan_database(&path, &[id]).unwrap().is_empty(), "gone from the table");
        let raw = scan_raw(&path, &[id]).unwrap();
        assert!(raw.iter().any(|r| r.place.contains("k.db-wal")), "{raw:?}");
        reader.execute_batch("COMMIT").unwrap();
        db.scrub().await.unwrap();
        assert_eq!(scan_raw(&path, &[id]).unwrap(), Vec::new());
    }
}
