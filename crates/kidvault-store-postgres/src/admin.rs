//! Databases on a server: `kidvault bench --database` creates a fresh one to
//! measure on (and the tests one each).

/// `url` with its database name replaced by `name`.
pub fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Creates an empty database named `prefix` + a fresh id on the server at
/// `server_url` (benchmarks use `kvbench_`); returns its URL. Blocking.
pub fn create_database_named(server_url: &str, prefix: &str) -> kidvault_store::Result<String> {
    let name = format!("{prefix}{}", uuid::Uuid::now_v7().simple());
    let mut admin = crate::db::connect_url(server_url)?;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).map_err(crate::db::store_error)?;
    Ok(with_dbname(server_url, &name))
}
