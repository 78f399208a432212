//! Test support: a fresh, empty database per test on the server named by
//! `KIDVAULT_TEST_DATABASE` (`postgres://...`; unset or `sqlite` means the
//! embedded backend, and PostgreSQL cases are skipped). A run that names a
//! server it cannot reach fails: it never quietly falls back.
#![allow(clippy::panic, clippy::expect_used)] // test support: a failure must stop the test

/// The variable that selects the backend for tests.
pub const BACKEND_VAR: &str = "KIDVAULT_TEST_DATABASE";

/// Prefix of every database the tests create (`scripts/test` counts them to check
/// that a PostgreSQL run really ran).
pub const DATABASE_PREFIX: &str = "kvtest_";

/// The PostgreSQL server tests should use, if one was asked for.
pub fn server() -> Option<String> {
    match kidvault_store::test_server(BACKEND_VAR, "postgres") {
        Some(v) if v.starts_with("postgres://") || v.starts_with("postgresql://") => Some(v),
        Some(v) => panic!("{BACKEND_VAR}={v:?}: expected sqlite or a postgres:// URL"),
        None => None,
    }
}

/// Creates an empty database on the server at `server_url`; returns its URL.
/// Blocking: call from a blocking thread.
pub fn create_database(server_url: &str) -> kidvault_store::Result<String> {
    crate::admin::create_database_named(server_url, DATABASE_PREFIX)
}

/// A fresh database for one test, or `None` when tests run on SQLite. Panics
/// if the named server cannot be reached.
pub async fn database() -> Option<String> {
    let server = server()?;
    let url = tokio::task::spawn_blocking(move || create_database(&server)).await.expect("creating a test database");
    match url {
        Ok(url) => Some(url),
        Err(e) => panic!("{BACKEND_VAR} names a PostgreSQL server that cannot be used: {e}"),
    }
}

/// Runs `f` on a connection to `url`, on a thread of its own (so from async
/// code too); a failure fails the test.
fn with_client<T: Send>(url: &str, f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| f(&mut crate::db::connect_url(url)?).map_err(crate::db::store_error))
            .join()
            .expect("a test's database thread")
            .unwrap_or_else(|e| panic!("the test database: {e}"))
    })
}

/// The number of rows in `table` of the database at `url` (for tests that check
/// a refusal stored nothing).
pub fn count_rows(url: &str, table: &str) -> i64 {
    with_client(url, |c| Ok(c.query_one(format!("SELECT count(*) FROM {table}").as_str(), &[])?.get(0)))
}

/// Creates a database as [`create_database`] does, from async code or not.
pub fn create_database_now(server_url: &str) -> String {
    let server = server_url.to_owned();
    std::thread::spawn(move || create_database(&server))
        .join()
        .expect("creating a test database")
        .unwrap_or_else(|e| panic!("{BACKEND_VAR} names a PostgreSQL server that cannot be used: {e}"))
}

/// Runs `sql` on the database at `url` (tests that tamper with stored rows).
pub fn execute(url: &str, sql: &str) -> u64 {
    with_client(url, |c| c.execute(sql, &[]))
}

/// The rows `sql` (with `$1` = `id`) returns from the database at `url`, each
/// read by `read` (tests that look at what a store holds about one id).
pub fn rows_for<T: Send>(
    url: &str,
    sql: &str,
    id: uuid::Uuid,
    read: impl Fn(&postgres::Row) -> T + Send + Sync,
) -> Vec<T> {
    with_client(url, |c| Ok(c.query(sql, &[&id])?.iter().map(&read).collect()))
}

/// A new test database holding a copy of the one at `url` (nothing may be
/// connected to it; a server that has just stopped is waited for). Returns its URL.
pub fn copy_database(url: &str) -> String {
    let server = server().expect("copying a database needs KIDVAULT_TEST_DATABASE");
    let from = url.split('?').next().and_then(|b| b.rsplit('/').next()).expect("a database name").to_owned();
    let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let sql = format!("CREATE DATABASE {name} TEMPLATE {from}");
    for attempt in 0.. {
        let made = std::thread::scope(|s| {
            s.spawn(|| crate::db::connect_url(&server)?.batch_execute(&sql).map_err(crate::db::store_error))
                .join()
                .expect("a test's database thread")
        });
        match made {
            Ok(()) => break,
            // "source database is being accessed by other users": a closing connection.
            Err(e) if attempt < 50 && e.to_string().contains("accessed by other users") => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("copying the test database: {e}"),
        }
    }
    crate::admin::with_dbname(&server, &name)
}

/// Every row of `table` at `url`, as text in a stable order (tests that check
/// a refusal changed nothing).
pub fn table_digest(url: &str, table: &str) -> Vec<u8> {
    let sql = format!("SELECT coalesce(string_agg(t::TEXT, E'\\n' ORDER BY t::TEXT), '') FROM {table} t");
    with_client(url, |c| Ok(c.query_one(sql.as_str(), &[])?.get::<_, String>(0).into_bytes()))
}
