//! Shared by the end-to-end tests: a kidvault server on a random port with a fresh
//! data directory (in-process, or the real binary), and helpers that drive it
//! through the HTTP API as a guardian and a device would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub use std::path::{Path, PathBuf};
pub use std::sync::Arc;

pub use kidvault::config::Config;
pub use reqwest::StatusCode;
pub use serde_json::{json, Value};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The in-process server's vault (None for the real binary).
    pub vault: Option<Arc<kidvault_service::Vault>>,
}

/// An HTTP client that, like any well-behaved client, lets go of an idle
/// connection before the server closes it (the server's header timeout also
/// ends idle keep-alive connections; a test thread busy scanning files cannot
/// notice a close in time).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(2)).build().unwrap()
}

pub fn config_for(root: &Path) -> Config {
    Config {
        data_dir: root.join("data"),
        database: database_of(root),
        blob_store: blob_store_of(root),
        key_file: Some(root.join("keys/root.key")),
        // A small space reserve: every test sets one aside.
        storage_reserve_mib: 1,
        ..Config::default()
    }
}

/// Object versions stored by the S3 blob store at `url` (from sync code too).
pub fn s3_versions(url: &str) -> u64 {
    let store = s3(url);
    block_on_own_thread(async move { store.stored_versions().await.unwrap().len() as u64 })
}

/// The S3 blob store at `url`, with the test credentials.
fn s3(url: &str) -> kidvault_blob_s3::S3BlobStore {
    let location = kidvault_blob_s3::S3Location::parse(url).unwrap();
    kidvault_blob_s3::S3BlobStore::from_env(location).expect("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for tests")
}

/// Runs `work` to completion on a runtime of its own (callable from sync code
/// inside a test's runtime).
fn block_on_own_thread<T: Send>(work: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(work))
            .join()
            .unwrap()
    })
}

/// The bucket every test shares on the S3 server of `KIDVAULT_TEST_S3` (each
/// deployment under a prefix of its own).
pub const TEST_BUCKET: &str = "kvtest-shared";

/// The S3 blob store of the deployment at `root` when the tests run with
/// `KIDVAULT_TEST_S3=http://HOST:PORT` (remembered in `root`), else `None`.
pub fn blob_store_of(root: &Path) -> Option<String> {
    let file = root.join("blob-store");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    let endpoint = kidvault_store::test_server("KIDVAULT_TEST_S3", "s3")?;
    let url = format!("s3://{TEST_BUCKET}/{}?endpoint={endpoint}", uuid::Uuid::now_v7().simple());
    let store = s3(&url);
    block_on_own_thread(async move { store.create_bucket().await })
        .unwrap_or_else(|e| panic!("KIDVAULT_TEST_S3={endpoint}: {e}"));
    std::fs::write(&file, &url).unwrap();
    Some(url)
}

/// Whether this run tests the PostgreSQL backend (`KIDVAULT_TEST_DATABASE`).
pub fn on_postgres() -> bool {
    kidvault_store_postgres::testing::server().is_some()
}

/// The PostgreSQL database of the deployment at `root` when the tests run on
/// PostgreSQL (created on first use and remembered in `root`), else `None`.
pub fn database_of(root: &Path) -> Option<String> {
    let file = root.join("database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    let url = kidvault_store_postgres::testing::create_database_now(&kidvault_store_postgres::testing::server()?);
    std::fs::write(&file, &url).unwrap();
    Some(url)
}

pub async fn start(dir: tempfile::TempDir) -> TestApp {
    let config = config_for(dir.path());
    start_with(dir, &config).await
}

/// Starts on `dir` with a configuration of the test's own.
pub async fn start_with(dir: tempfile::TempDir, config: &Config) -> TestApp {
    // Warnings and errors of the in-process server show in a failing test's output.
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
    let vault = kidvault::app::open(config).unwrap();
    kidvault::app::set_space_reserve(config, &vault).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kidvault::app::serve(listener, Arc::clone(&vault), config.http.clone(), async move {
        let _ = stopped.await;
    }));
    TestApp { base, http: client(), dir, stop: Some(stop), server: Some(server), vault: Some(vault) }
}

pub async fn spawn_app() -> TestApp {
    start(tempfile::tempdir().unwrap()).await
}

impl TestApp {
    /// Drives a server already running (the real binary) on `base`, whose data lives in `dir`.
    pub fn attach(base: &str, dir: tempfile::TempDir) -> TestApp {
        TestApp { base: base.to_owned(), http: client(), dir, stop: None, server: None, vault: None }
    }

    /// Gives back the data directory of an attached server (which keeps running).
    pub fn detach(self) -> tempfile::TempDir {
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Stops the server gracefully and waits until its stores are closed.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
        self.dir
    }

    pub async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let req = self.http.post(self.url(path)).json(&body);
        Self::send(match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        })
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        Self::send(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        Self::send(self.http.put(self.url(path)).bearer_auth(token).json(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        Self::send(self.http.delete(self.url(path)).bearer_auth(token)).await
    }

    pub async fn upload(
        &self,
        child: &str,
        token: &str,
        wav: Vec<u8>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let req = self.http.post(self.url(&format!("/children/{child}/recordings"))).bearer_auth(token).body(wav);
        Self::send(match content_type {
            Some(ct) => req.header("content-type", ct),
            None => req,
        })
        .await
    }

    /// The ledger's verifier key, as the API serves it.
    pub async fn public_key(&self) -> String {
        self.http.get(self.url("/ledger/public-key")).send().await.unwrap().text().await.unwrap()
    }

    /// A deletion's receipt, verified with nothing but the served public key.
    pub async fn verified_receipt(
        &self,
        token: &str,
        deletion: &str,
    ) -> (kidvault_ledger::receipt::DocumentReceipt, kidvault_ledger::entry::Entry) {
        let (s, receipt) = self.get(&format!("/deletions/{deletion}/receipt"), token).await;
        assert_eq!(s, StatusCode::OK, "{receipt}");
        let parsed: kidvault_ledger::receipt::DocumentReceipt = serde_json::from_value(receipt).unwrap();
        let entry = parsed.verify(&verifier_from(&self.public_key().await)).expect("receipt verifies");
        (parsed, entry)
    }

    /// Signs up a guardian and returns a session token.
    pub async fn guardian(&self, email: &str) -> String {
        let (s, body) = self
            .post(
                "/guardians",
                None,
                json!({"email": email, "password": "a long enough password", "display_name": "Ana"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert!(body["guardian_id"].is_string() && body["household_id"].is_string());
        let (s, body) =
            self.post("/sessions", None, json!({"email": email, "password": "a long enough password"})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn child(&self, token: &str, name: &str) -> String {
        let (s, body) = self.post("/children", Some(token), json!({"display_name": name, "birth_year": 2019})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "pending_consent");
        body["child_id"].as_str().unwrap().to_owned()
    }

    pub async fn consent(&self, token: &str, child: &str, scopes: &[&str]) {
        let (s, body) = self
            .post(
                &format!("/children/{child}/consents"),
                Some(token),
                json!({"method": "signed_form", "evidence_ref": "form-1", "notice_version": NOTICE, "scopes": scopes}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }

    pub async fn device(&self, token: &str, child: &str, name: &str) -> (String, String) {
        let (s, body) = self.post("/devices", Some(token), json!({"child_id": child, "name": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        (body["device_id"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
    }

    pub async fn item(&self, child: &str, device: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/children/{child}/items"), Some(device), body).await
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.dir.path().join("data/kidvault.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Rows in the data store, and bytes in the blob directory: what a refusal must not change.
    pub fn footprint(&self) -> (i64, i64, u64) {
        let (items, edges) = (count(self.dir.path(), "items"), count(self.dir.path(), "item_edges"));
        if let Some(url) = blob_store_of(self.dir.path()) {
            return (items, edges, s3_versions(&url));
        }
        let blobs = walk(&self.dir.path().join("data/blobs")).iter().map(|p| p.metadata().unwrap().len()).sum();
        (items, edges, blobs)
    }
}

/// The notice version in force by default: privacy notice + retention policy.
pub const NOTICE: &str = "2026-11-01+retention-2026-11-01";

/// The epochs of a child's key still in the keystore (read beside the server).
pub fn keystore_epochs(root: &Path, child: &str) -> Vec<(u32, Vec<u8>)> {
    let child: uuid::Uuid = child.parse().unwrap();
    if let Some(url) = database_of(root) {
        let sql = "SELECT epoch, wrapped FROM kidvault_keys.child_keys WHERE child_id = $1 ORDER BY epoch";
        return kidvault_store_postgres::testing::rows_for(&url, sql, child, |r| {
            (u32::try_from(r.get::<_, i64>(0)).unwrap(), r.get(1))
        });
    }
    let keystore = sqlite_file(&root.join("keys/keystore.db"));
    let mut stmt =
        keystore.prepare("SELECT epoch, wrapped FROM child_keys WHERE child_id = ?1 ORDER BY epoch").unwrap();
    stmt.query_map([child.as_bytes().to_vec()], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// A keystore row's wrapped key, out of the seal chain in the deployment's
/// key directory (what an attacker holding a copy of it could do).
pub fn unseal_row(root: &Path, row: kidvault_store::KeyRowId, stored: &[u8]) -> Vec<u8> {
    let chain = kidvault_crypto::SealChain::load(&root.join("keys/seal-chain.key")).unwrap().expect("a seal chain");
    kidvault_service::keyring::open_row(&chain, row, stored).unwrap().to_vec()
}

/// The child's key at `epoch` from its stored row, opened with the deployment's
/// seal chain and root key.
pub fn open_child_row(root: &Path, child: &str, epoch: u32, stored: &[u8]) -> kidvault_crypto::ChildKey {
    use kidvault_crypto::KeyProvider;
    let id: kidvault_domain::ids::ChildId = child.parse().unwrap();
    let (provider, _) = kidvault_crypto::FileKeyProvider::load_or_create(&root.join("keys/root.key")).unwrap();
    let wrapped = unseal_row(root, kidvault_store::KeyRowId::Child(id, epoch), stored);
    let key = provider.unwrap(&kidvault_service::keyring::root_context(id, epoch), &wrapped).unwrap();
    kidvault_crypto::ChildKey::new(key, *id.as_bytes(), epoch)
}

/// An item's data key from its stored row, opened with the deployment's seal
/// chain and the child's key.
pub fn open_item_row(
    root: &Path,
    child_key: &kidvault_crypto::ChildKey,
    item: &str,
    stored: &[u8],
) -> kidvault_crypto::SecretKey {
    let id: kidvault_domain::ids::ItemId = item.parse().unwrap();
    let wrapped = unseal_row(root, kidvault_store::KeyRowId::Item(id), stored);
    child_key.unwrap(id.0.as_bytes(), &wrapped).unwrap()
}

/// An item's data key as the keystore holds it: (epoch, wrapped), if any.
pub fn keystore_item_key(root: &Path, item: &str) -> Option<(u32, Vec<u8>)> {
    let item: uuid::Uuid = item.parse().unwrap();
    if let Some(url) = database_of(root) {
        let sql = "SELECT epoch, wrapped FROM kidvault_keys.item_keys WHERE item_id = $1";
        return kidvault_store_postgres::testing::rows_for(&url, sql, item, |r| {
            (u32::try_from(r.get::<_, i64>(0)).unwrap(), r.get(1))
        })
        .pop();
    }
    use rusqlite::OptionalExtension;
    sqlite_file(&root.join("keys/keystore.db"))
        .query_row("SELECT epoch, wrapped FROM item_keys WHERE item_id = ?1", [item.as_bytes().to_vec()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .unwrap()
}

/// An item's row as the data store holds it: (the data key stored beside it,
/// its inline ciphertext), if any: what a copy of the data store would hold.
pub fn item_row(root: &Path, item: &str) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let item: uuid::Uuid = item.parse().unwrap();
    if let Some(url) = database_of(root) {
        let sql = "SELECT wrapped_key, inline_content FROM items WHERE id = $1";
        return kidvault_store_postgres::testing::rows_for(&url, sql, item, |r| (r.get(0), r.get(1))).pop();
    }
    use rusqlite::OptionalExtension;
    sqlite_file(&root.join("data/kidvault.db"))
        .query_row("SELECT wrapped_key, inline_content FROM items WHERE id = ?1", [item.as_bytes().to_vec()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .unwrap()
}

/// How many rows of `table` name `id` in `column`, on either backend.
pub fn rows_naming(root: &Path, table: &str, column: &str, id: &str) -> i64 {
    let id: uuid::Uuid = id.parse().unwrap();
    if let Some(url) = database_of(root) {
        let sql = format!("SELECT count(*) FROM {table} WHERE {column} = $1");
        return kidvault_store_postgres::testing::rows_for(&url, &sql, id, |r| r.get(0)).pop().unwrap();
    }
    sqlite_file(&root.join("data/kidvault.db"))
        .query_row(&format!("SELECT count(*) FROM {table} WHERE {column} = ?1"), [id.as_bytes().to_vec()], |r| r.get(0))
        .unwrap()
}

/// `SELECT count(*) FROM <from>` on the deployment's data store, either backend
/// (`from` is a table, perhaps with a `WHERE`).
pub fn count(root: &Path, from: &str) -> i64 {
    if let Some(url) = database_of(root) {
        return kidvault_store_postgres::testing::count_rows(&url, from);
    }
    sqlite_file(&root.join("data/kidvault.db"))
        .query_row(&format!("SELECT count(*) FROM {from}"), [], |r| r.get(0))
        .unwrap()
}

fn sqlite_file(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// A second process on a stopped deployment: its vault and the guardian's session.
pub async fn offline_vault(
    root: &Path,
    token: &str,
) -> (Arc<kidvault_service::Vault>, kidvault_service::access::GuardianSession) {
    let vault = kidvault::app::open(&config_for(root)).unwrap();
    let session = vault.authenticate_guardian(token, chrono::Utc::now()).await.unwrap();
    (vault, session)
}

/// GET with a bearer token, through any client.
pub async fn fetch(http: &reqwest::Client, url: String, token: &str) -> reqwest::Response {
    http.get(url).bearer_auth(token).send().await.unwrap()
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// 16 kHz mono PCM of pseudo-random samples: no byte window of it can occur by chance.
pub fn wav(seconds: f64, seed: u32) -> (Vec<u8>, Vec<i16>) {
    let mut x = seed | 1;
    let samples: Vec<i16> = (0..(16_000.0 * seconds) as usize)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 16) as i16
        })
        .collect();
    (kidvault_domain::audio::encode_wav_mono16(16_000, &samples), samples)
}

/// A household with one consented child (voice + precise location) and its device.
pub async fn household(app: &TestApp, email: &str) -> (String, String, String) {
    let g = app.guardian(email).await;
    let child = app.child(&g, "Mia").await;
    app.consent(&g, &child, &["voice", "precise_location"]).await;
    let (_, device) = app.device(&g, &child, "Mia's watch").await;
    (g, child, device)
}

// ---- the real binary ----

pub struct Proc {
    pub child: std::process::Child,
    pub base: String,
    pub stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Proc {
    /// A test that fails leaves no server behind (holding its output pipe open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run_binary(root: &Path, extra: &[&str]) -> Proc {
    run_binary_with(root, extra, &[])
}

/// Runs `kidvault serve` with extra arguments and environment variables.
pub fn run_binary_with(root: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"));
    cmd.envs(env.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.join("data"))
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .args(database_of(root).map(|url| format!("--database={url}")))
        .args(blob_store_of(root).map(|url| format!("--blob-store={url}")))
        .args(extra)
        .env("KIDVAULT_LOG", "warn")
        // A small space reserve: the tests scan every file the server writes.
        .env("KIDVAULT_STORAGE_RESERVE_MIB", "1");
    spawn_serving(cmd)
}

/// Starts `cmd` (a `kidvault serve` however launched) and waits until it says
/// where it listens.
pub fn spawn_serving(mut cmd: std::process::Command) -> Proc {
    use std::io::BufRead;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "kidvault exited before listening");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    Proc { child, base, stdout }
}

pub fn terminate(p: &mut Proc) -> std::process::ExitStatus {
    std::process::Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().unwrap();
    p.child.wait().unwrap()
}

pub fn verifier_from(text: &str) -> kidvault_ledger::checkpoint::Verifier {
    kidvault_ledger::checkpoint::Verifier::parse(text).unwrap()
}

pub async fn await_deletion(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..200 {
        let (s, d) = app.get(&format!("/deletions/{id}"), token).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        if d["step"] == "completed" {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("deletion {id} did not complete");
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

/// `kidvault verify-erasure` on a deployment's data (the server may be running).
pub fn erasure_clean(root: &Path, args: &[&str]) -> bool {
    let out = verify_erasure(root, args);
    if !out.status.success() {
        eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

/// `kidvault verify-erasure ARGS` on the deployment at `root`, either backend.
pub fn verify_erasure(root: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
        .arg("verify-erasure")
        .args(args)
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(database_of(root).map(|url| format!("--database={url}")))
        .args(blob_store_of(root).map(|url| format!("--blob-store={url}")))
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .output()
        .unwrap()
}

// ---- downstream processors ----

/// What a processor's webhook endpoint does with each call.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// 503 for the first `n` calls, then acknowledge in the response.
    FailThenAck(usize),
    /// 202 without acknowledging: the processor will call the ack endpoint.
    AckLater,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub processor: String,
    pub task: String,
    pub signature: String,
    pub body: String,
}

pub type Calls = Arc<std::sync::Mutex<Vec<Call>>>;

/// A real local HTTP receiver standing in for processors: `{base}/{name}`.
pub async fn receiver(behaviours: &[(&str, Behaviour)]) -> (String, Calls) {
    use axum::extract::{Path as UrlPath, State};
    let behaviours: std::collections::HashMap<String, Behaviour> =
        behaviours.iter().map(|(n, b)| (n.to_string(), *b)).collect();
    let calls: Calls = Arc::default();
    let state = (Arc::new(behaviours), Arc::clone(&calls));
    async fn hook(
        State((behaviours, calls)): State<(Arc<std::collections::HashMap<String, Behaviour>>, Calls)>,
        UrlPath(name): UrlPath<String>,
        headers: axum::http::HeaderMap,
        body: String,
    ) -> (axum::http::StatusCode, String) {
        let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let mut calls = calls.lock().unwrap();
        let before = calls.iter().filter(|c| c.processor == name).count();
        calls.push(Call {
            processor: name.clone(),
            task: header("kidvault-task"),
            signature: header("kidvault-signature"),
            body,
        });
        match behaviours.get(&name) {
            Some(Behaviour::FailThenAck(n)) if before < *n => {
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy".into())
            }
            Some(Behaviour::FailThenAck(_)) => (axum::http::StatusCode::OK, r#"{"acknowledged": true}"#.into()),
            Some(Behaviour::AckLater) => (axum::http::StatusCode::ACCEPTED, "{}".into()),
            None => (axum::http::StatusCode::NOT_FOUND, String::new()),
        }
    }
    let router = axum::Router::new().route("/{name}", axum::routing::post(hook)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, calls)
}

/// `kidvault ARGS` on the deployment at `root`: its data directory, key file and database.
fn command_on(root: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .args(database_of(root).map(|url| format!("--database={url}")));
    cmd
}

/// Runs `kidvault ARGS` on the deployment at `root` with its blob store too
/// (an S3 bucket on the PostgreSQL run) and the environment `env`.
pub fn kidvault_with(root: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    command_on(root, args)
        .envs(env.iter().copied())
        .args(blob_store_of(root).map(|url| format!("--blob-store={url}")))
        .output()
        .unwrap()
}

/// Runs `kidvault ARGS` on the deployment at `root` (its data directory, key
/// file and database).
pub fn kidvault_on(root: &Path, args: &[&str]) -> std::process::Output {
    command_on(root, args).output().unwrap()
}

/// `kidvault serve` on `root`, expected to refuse: its output once it exits
/// (a server that starts instead is stopped after a minute, and its output
/// then lacks the refusal the caller looks for).
pub fn serve_refused(root: &Path) -> std::process::Output {
    std::process::Command::new("timeout")
        .args(["60", env!("CARGO_BIN_EXE_kidvault"), "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.join("data"))
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .args(database_of(root).map(|url| format!("--database={url}")))
        .args(blob_store_of(root).map(|url| format!("--blob-store={url}")))
        .output()
        .unwrap()
}

/// `kidvault admin create` beside the running server; returns what it printed
/// once (`staff_id`, `key`, `totp_secret`, `totp_uri`).
pub fn enrol_staff(root: &Path, role: &str) -> Value {
    let out = kidvault_on(root, &["admin", "create", "--name", "Sam", "--role", role]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(e["key"].as_str().unwrap().starts_with("kvk_"), "{e}");
    e
}

/// The current TOTP code of an enrolment, `steps` periods from now.
pub fn staff_code(enrolment: &Value, steps: i64) -> String {
    use kidvault_crypto::totp;
    let secret = totp::base32_decode(enrolment["totp_secret"].as_str().unwrap()).unwrap();
    let step = totp::step_at(chrono::Utc::now().timestamp()) + steps;
    format!("{:06}", totp::hotp(&secret, step as u64, 6))
}

/// Signs an enrolled staff member in (key and current code); returns the response.
pub async fn staff_sign_in(app: &TestApp, enrolment: &Value, steps: i64) -> (StatusCode, Value) {
    let body = json!({"key": enrolment["key"], "code": staff_code(enrolment, steps)});
    app.post("/staff/sign-in", None, body).await
}

/// A new staff account of `role`, signed in: its session token.
pub async fn staff(app: &TestApp, root: &Path, role: &str) -> String {
    let e = enrol_staff(root, role);
    let (status, body) = staff_sign_in(app, &e, 0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("kva_"), "{token}");
    token
}

/// Registers an `integral` processor.
pub async fn register(app: &TestApp, admin: &str, name: &str, url: String, categories: &[&str]) -> (StatusCode, Value) {
    register_for(app, admin, name, url, "integral", categories).await
}

pub async fn register_for(
    app: &TestApp,
    admin: &str,
    name: &str,
    url: String,
    purpose: &str,
    categories: &[&str],
) -> (StatusCode, Value) {
    let body = json!({"name": name, "url": url, "purpose": purpose, "categories": categories});
    app.post("/admin/processors", Some(admin), body).await
}

/// Whether `header` is a `Kidvault-Signature` of `body` under `secret`.
pub fn signed_by(secret: &str, header: &str, body: &str) -> bool {
    let (t, tag) = kidvault_domain::downstream::parse_signature_header(header).unwrap();
    kidvault_crypto::hmac_sha256_verify(secret.as_bytes(), format!("{t}.{body}").as_bytes(), &tag)
}

/// A `Kidvault-Signature` header for `body`, made at unix time `t`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let tag = kidvault_crypto::hmac_sha256(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    kidvault_domain::downstream::signature_header(t, &tag)
}

pub async fn poll<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A portal page as the signed-in guardian sees it (the session token as its cookie).
pub async fn portal_page(app: &TestApp, guardian: &str, path: &str) -> String {
    let page = app.http.get(format!("{}{path}", app.base)).header("cookie", format!("kv_session={guardian}"));
    let page = page.send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{path}");
    page.text().await.unwrap()
}
