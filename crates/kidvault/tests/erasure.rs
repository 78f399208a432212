//! Erasure against every copy, on the embedded store: after a deletion, no
//! file kidvault writes (data store, its WAL, keystore, its WAL, blobs) holds
//! a destroyed key (wrapped or not) or a deleted item's ciphertext, with the
//! server still running and after `kill -9`; and a copy of the keys directory
//! taken at that moment, with a data backup from before the deletion, opens
//! nothing deleted while the survivors open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

/// Byte strings that must be found in no file: what a deletion destroyed.
struct Secrets(Vec<(String, Vec<u8>)>);

impl Secrets {
    /// The data keys of `items` (wrapped, and unwrapped under `child_key`) and
    /// their inline ciphertext, read from the running deployment's files.
    fn add_items(&mut self, root: &Path, child_key: &kidvault_crypto::ChildKey, items: &[&str]) {
        let db = rusqlite::Connection::open_with_flags(
            root.join("data/kidvault.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        for item in items {
            let (_, stored) = keystore_item_key(root, item).expect("a live item has its key");
            let id: uuid::Uuid = item.parse().unwrap();
            let key = open_item_row(root, child_key, item, &stored);
            self.0.push((format!("wrapped data key of {item}"), stored));
            self.0.push((format!("data key of {item}"), key.expose().to_vec()));
            let inline: Option<Vec<u8>> = db
                .query_row("SELECT inline_content FROM items WHERE id = ?1", [id.as_bytes().to_vec()], |r| r.get(0))
                .unwrap();
            if let Some(c) = inline {
                self.0.push((format!("ciphertext of {item}"), c));
            }
        }
    }

    /// Every secret found in any file under `dir`, with the file.
    fn found_under(&self, dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        for file in walk(dir) {
            let bytes = std::fs::read(&file).unwrap();
            for (what, needle) in &self.0 {
                if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    found.push(format!("{what} in {}", file.display()));
                }
            }
        }
        found
    }
}

/// The child's key (its only epoch), unwrapped with the root key, and its wrapped bytes.
fn child_key(root: &Path, child: &str) -> (kidvault_crypto::ChildKey, Vec<u8>) {
    let epochs = keystore_epochs(root, child);
    assert_eq!(epochs.len(), 1);
    let (epoch, stored) = epochs[0].clone();
    (open_child_row(root, child, epoch, &stored), stored)
}

async fn text_item(app: &TestApp, child: &str, device: &str, kind: &str, from: &[&str], content: &str) -> String {
    let (s, v) = app.item(child, device, json!({"kind": kind, "derived_from": from, "content": content})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["item_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn destroyed_keys_and_deleted_ciphertext_are_in_no_file_and_no_copy_of_the_keys_opens_them() {
    if on_postgres() {
        // Byte-level scrubbing is the embedded store's promise; the README says
        // what PostgreSQL keeps (dead tuples, WAL) and for how long.
        panic!("this test scans the embedded store's files; run it without KIDVAULT_TEST_DATABASE");
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    let (g, mia, device) = household(&app, "ana@example.org").await;
    let (_, rec) = app.upload(&mia, &device, wav(0.5, 11).0, Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let tr = text_item(&app, &mia, &device, "transcript", &[&rec], "the secret words of the deleted recording").await;
    let (keep_audio, _) = wav(0.5, 12);
    let (_, keep) = app.upload(&mia, &device, keep_audio.clone(), Some("audio/wav")).await;
    let keep = keep["item_id"].as_str().unwrap().to_owned();
    let keep_tr = text_item(&app, &mia, &device, "transcript", &[&keep], "words that stay").await;
    let memories = [
        text_item(&app, &mia, &device, "memory", &[&keep_tr], "a memory to delete by kind").await,
        text_item(&app, &mia, &device, "memory", &[&keep_tr], "another memory to delete by kind").await,
    ];
    // A second child, deleted whole.
    let leo = app.child(&g, "Leo").await;
    app.consent(&g, &leo, &["voice"]).await;
    let (_, leo_device) = app.device(&g, &leo, "Leo's speaker").await;
    let (_, leo_rec) = app.upload(&leo, &leo_device, wav(0.5, 13).0, Some("audio/wav")).await;
    let leo_rec = leo_rec["item_id"].as_str().unwrap().to_owned();
    let leo_tr = text_item(&app, &leo, &leo_device, "transcript", &[&leo_rec], "what Leo said").await;

    let mut secrets = Secrets(Vec::new());
    let (mia_key, _) = child_key(&root, &mia);
    secrets.add_items(&root, &mia_key, &[&rec, &tr, &memories[0], &memories[1]]);
    let (leo_key, leo_wrapped) = child_key(&root, &leo);
    secrets.add_items(&root, &leo_key, &[&leo_rec, &leo_tr]);
    secrets.0.push(("Leo's wrapped child key".into(), leo_wrapped));
    // What the test looks for is there before the deletion (the scan works).
    let before = secrets.found_under(&root);
    for (what, _) in &secrets.0 {
        if !what.starts_with("data key of") {
            assert!(before.iter().any(|f| f.starts_with(what.as_str())), "{what} not found before deleting");
        }
    }
    // verify-erasure finds a live item everywhere, and says it is readable.
    let out = kidvault_on(&root, &["verify-erasure", "--item", &tr]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && said.contains("item_keys") && said.contains("READABLE"), "{said}");
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&root.join("data"), &backup.path().join("data"));

    let mut deletions = Vec::new();
    let (s, d) = app.delete(&format!("/items/{rec}"), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    deletions.push(d["deletion_id"].as_str().unwrap().to_owned());
    let (s, d) = app.post(&format!("/children/{mia}/deletions"), Some(&g), json!({"kinds": ["memory"]})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    deletions.push(d["deletion_id"].as_str().unwrap().to_owned());
    let (s, d) = app.delete(&format!("/children/{leo}"), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    deletions.push(d["deletion_id"].as_str().unwrap().to_owned());
    for id in &deletions {
        await_deletion(&app, &g, id).await;
    }
    // A checkpoint over the deletions, anchored beside the keys.
    app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap();

    // The server still running: nothing of it in any file, and verify-erasure
    // (tables and raw files) agrees.
    assert_eq!(secrets.found_under(&root), Vec::<String>::new(), "while serving");
    assert!(erasure_clean(&root, &["--child", &leo]));
    assert!(erasure_clean(&root, &["--item", &rec, "--item", &tr, "--item", &memories[0], "--item", &memories[1]]));
    // A hot copy of the keys directory, as a volume snapshot would take it.
    let keys_copy = tempfile::tempdir().unwrap();
    copy_dir(&root.join("keys"), &keys_copy.path().join("keys"));
    // kill -9, and again.
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert_eq!(secrets.found_under(&root), Vec::<String>::new(), "after kill -9");
    assert_eq!(secrets.found_under(keys_copy.path()), Vec::<String>::new(), "in the copy of the keys");

    // The pre-deletion data backup served with that copy of the keys: the
    // survivors open; nothing deleted does.
    copy_dir(&keys_copy.path().join("keys"), &backup.path().join("keys"));
    let out = kidvault_on(backup.path(), &["ledger", "accept-rollback", "--reason", "restore drill"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restored = run_binary(backup.path(), &[]);
    let app = TestApp::attach(&restored.base, tempfile::tempdir().unwrap());
    let (s, t) = app.get(&format!("/items/{keep_tr}"), &g).await;
    assert_eq!((s, t["content"].as_str()), (StatusCode::OK, Some("words that stay")));
    let audio = fetch(&app.http, app.url(&format!("/items/{keep}/content")), &g).await;
    assert_eq!(audio.bytes().await.unwrap().to_vec(), keep_audio);
    for gone in [&tr, &memories[0], &memories[1], &leo_tr] {
        let (s, body) = app.get(&format!("/items/{gone}"), &g).await;
        assert_ne!(s, StatusCode::OK, "{gone} opened from the backup: {body}");
        assert!(!body.to_string().contains("secret words") && !body.to_string().contains("what Leo said"));
    }
    let resp = fetch(&app.http, app.url(&format!("/items/{rec}/content")), &g).await;
    assert_ne!(resp.status(), StatusCode::OK, "the deleted recording played from the backup");

    // Dormancy: 18 months unused, then the grace period, and Mia's whole
    // profile goes by the policy (`kidvault sweep` on the stopped deployment).
    let mut dormant = Secrets(Vec::new());
    dormant.add_items(&root, &mia_key, &[&keep, &keep_tr]);
    dormant.0.push(("Mia's wrapped child key".into(), child_key(&root, &mia).1));
    let now = chrono::Utc::now();
    for at in [now + chrono::Duration::days(549), now + chrono::Duration::days(549 + 61)] {
        let out = kidvault_on(&root, &["sweep", "--as-of", &at.to_rfc3339()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(keystore_epochs(&root, &mia).is_empty(), "the dormant profile's keys are destroyed");
    assert_eq!(dormant.found_under(&root), Vec::<String>::new(), "after the dormancy deletion");
}

fn kidvault(root: &Path, args: &[&str]) -> std::process::Output {
    kidvault_on(root, args)
}

/// A data store restored from a backup cannot make the server sign a fork of
/// its own ledger: start is refused until the operator records the rollback
/// (a ledger entry), and `ledger verify --against` names the fork.
#[tokio::test]
async fn a_restored_data_store_is_refused_until_its_rollback_is_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    household(&app, "ana@example.org").await;
    let checkpoint = |app: &TestApp| {
        let http = app.http.clone();
        let url = app.url("/ledger/checkpoint");
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    checkpoint(&app).await;
    let backup = tempfile::tempdir().unwrap();
    p = {
        terminate(&mut p);
        copy_dir(&root.join("data"), backup.path());
        run_binary(&root, &[])
    };
    let app = TestApp::attach(&p.base, app.detach());
    household(&app, "bob@example.org").await;
    let later = checkpoint(&app).await;
    terminate(&mut p);
    let old = root.join("old-checkpoint.txt");
    std::fs::write(&old, &later).unwrap();
    let anchored = std::fs::read_to_string(root.join("keys/ledger.checkpoint")).unwrap();
    assert_eq!(anchored, later, "the latest signed checkpoint is kept beside the keys");

    // The data store restored from the backup: start is refused, and says why.
    std::fs::remove_dir_all(root.join("data")).unwrap();
    copy_dir(backup.path(), &root.join("data"));
    let refused = serve_refused(&root);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("does not extend") && said.contains("accept-rollback"), "{said}");
    let out = kidvault(&root, &["ledger", "verify", "--against", old.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FORK"), "{}", String::from_utf8_lossy(&out.stderr));

    // The explicit step: the rollback is an entry; then the server starts.
    let out = kidvault(&root, &["ledger", "accept-rollback", "--reason", "restored after a disk failure"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kidvault(&root, &["ledger", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kidvault(&root, &["ledger", "verify", "--against", old.to_str().unwrap()]);
    assert!(!out.status.success(), "the fork stays visible against the old checkpoint");
    let p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, tempfile::tempdir().unwrap());
    let note = checkpoint(&app).await;
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    let admin = staff(&app, &root, "auditor").await;
    let (s, entry) = app.get(&format!("/ledger/entries/{}", size - 1), &admin).await;
    assert_eq!(s, StatusCode::OK, "{entry}");
    assert_eq!(entry["kind"], "ledger.rollback", "{entry}");
    assert_eq!(entry["detail"]["reason"], "restored after a disk failure");
}

/// A deployment whose key directory is missing (or whose data directory is)
/// refuses to start and writes nothing: keys are never minted over old data.
#[tokio::test]
async fn a_deployment_missing_its_keys_or_its_data_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    household(&app, "ana@example.org").await;
    app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap();
    terminate(&mut p);
    let aside = tempfile::tempdir().unwrap();
    for missing in ["keys", "keys/keystore.db", "keys/ledger.key", "keys/root.key"] {
        let (from, to) = (root.join(missing), aside.path().join("moved"));
        std::fs::rename(&from, &to).unwrap();
        let listing = walk(&root);
        let out = serve_refused(&root);
        assert!(!out.status.success(), "started without {missing}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("keys are missing") && said.contains(missing), "{said}");
        assert_eq!(walk(&root), listing, "nothing written without {missing}");
        std::fs::rename(&to, &from).unwrap();
    }
    // A file where the key directory should be (a volume mounted wrongly): said plainly.
    std::fs::rename(root.join("keys"), aside.path().join("keys")).unwrap();
    std::fs::write(root.join("keys"), b"not a directory").unwrap();
    let out = serve_refused(&root);
    assert!(!out.status.success(), "started with a file for its key directory");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is a file, not a directory"), "{said}");
    std::fs::remove_file(root.join("keys")).unwrap();
    std::fs::rename(aside.path().join("keys"), root.join("keys")).unwrap();
    std::fs::rename(root.join("data"), aside.path().join("data")).unwrap();
    let out = serve_refused(&root);
    assert!(!out.status.success(), "started without its data directory");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the data directory mounted"));
    assert!(!root.join("data").exists(), "nothing written");
    std::fs::rename(aside.path().join("data"), root.join("data")).unwrap();
    let _ok = run_binary(&root, &[]);
}

/// The data store and keystore are bound to one deployment, and the data store
/// to its root key and ledger key: another deployment's keystore, root key or
/// ledger key refuses start, naming what is wrong; its own serve again.
#[tokio::test]
async fn a_deployment_with_another_deployments_keys_refuses_to_start() {
    let mut roots = Vec::new();
    for email in ["ana@example.org", "bob@example.org"] {
        let dir = tempfile::tempdir().unwrap();
        let mut p = run_binary(dir.path(), &[]);
        let app = TestApp::attach(&p.base, dir);
        household(&app, email).await;
        terminate(&mut p);
        roots.push(app.detach());
    }
    let (a, b) = (roots[0].path(), roots[1].path());
    let aside = tempfile::tempdir().unwrap();
    for (file, said) in [
        ("keystore.db", "the keystore belongs to deployment"),
        ("root.key", "the root key file is not this deployment's"),
        ("ledger.key", "the ledger signing key (ledger.key) is not this deployment's"),
    ] {
        let (mine, theirs) = (a.join("keys").join(file), b.join("keys").join(file));
        std::fs::rename(&mine, aside.path().join(file)).unwrap();
        std::fs::copy(&theirs, &mine).unwrap();
        let out = serve_refused(a);
        assert!(!out.status.success(), "started with the other deployment's {file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(said) && err.contains("key directory"), "{file}: {err}");
        std::fs::remove_file(&mine).unwrap();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(a.join("keys").join(format!("{file}{suffix}")));
        }
        std::fs::rename(aside.path().join(file), &mine).unwrap();
    }
    let p = run_binary(a, &[]);
    let app = TestApp::attach(&p.base, tempfile::tempdir().unwrap());
    let (s, _) =
        app.post("/sessions", None, json!({"email": "ana@example.org", "password": "a long enough password"})).await;
    assert_eq!(s, StatusCode::CREATED, "its own keys serve it again");
}

/// Item keys are made ahead (an item never exists without its key); those not
/// used are destroyed at a clean shutdown, so the keystore then holds a key for
/// exactly the items there are.
#[tokio::test]
async fn keys_made_ahead_and_unused_are_gone_after_a_clean_stop() {
    let app = spawn_app().await;
    let (_, child, device) = household(&app, "ana@example.org").await;
    let (_, rec) = app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    for n in 0..2 {
        text_item(&app, &child, &device, "transcript", &[&rec], &format!("words {n}")).await;
    }
    let count = |root: &Path, db: &str, table: &str| -> i64 {
        let c = rusqlite::Connection::open(root.join(db)).unwrap();
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    };
    let dir = app.stop().await;
    assert_eq!(count(dir.path(), "data/kidvault.db", "items"), 3);
    assert_eq!(count(dir.path(), "keys/keystore.db", "item_keys"), 3, "one key per item, no spare");
}

/// A node serving five households whose data file is then damaged under it
/// (a failing disk): every page but the first two gets a bad header.
async fn damaged_while_serving(env: &[(&str, &str)]) -> (Proc, TestApp, Vec<(String, String)>) {
    use std::io::{Seek, Write};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let p = run_binary_with(&root, &[], env);
    let app = TestApp::attach(&p.base, dir);
    let mut families = Vec::new();
    for i in 0..5 {
        let (g, child, _) = household(&app, &format!("p{i}@example.org")).await;
        families.push((g, child));
    }
    // Healthy so far (on a short interval, a few checks have passed meanwhile).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let ok = health(&app).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.json::<Value>().await.unwrap()["status"], "ok");

    let db = root.join("data/kidvault.db");
    let mut file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    let pages = std::fs::metadata(&db).unwrap().len() / 4096;
    assert!(pages > 8, "{pages} pages");
    for page in 2..pages {
        file.seek(std::io::SeekFrom::Start(page * 4096)).unwrap();
        file.write_all(&[0xAB; 12]).unwrap();
    }
    file.sync_all().unwrap();
    (p, app, families)
}

async fn health(app: &TestApp) -> reqwest::Response {
    app.http.get(format!("{}/healthz", app.base)).send().await.unwrap()
}

/// `/healthz` once damage was found: 503 `store_damaged`, naming the way back.
async fn says_damaged(app: &TestApp) {
    let said = poll("/healthz to tell of the damage", async || {
        let r = health(app).await;
        (r.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(r)
    })
    .await;
    let said: Value = said.json().await.unwrap();
    assert_eq!(said["error"]["code"], "store_damaged", "{said}");
    assert!(said["error"]["message"].as_str().unwrap().contains("kidvault restore"), "{said}");
}

/// Damage under a running node is found by the periodic check: `/healthz`
/// stops answering "ok" and says what to do, with no request needed.
#[tokio::test]
async fn damage_while_serving_is_found_and_healthz_says_so() {
    let (mut p, app, _) = damaged_while_serving(&[("KIDVAULT_INTEGRITY_CHECK_INTERVAL_SECS", "1")]).await;
    says_damaged(&app).await;
    terminate(&mut p);
}

/// Between checks, a request that meets a damaged page fails with
/// `store_damaged` (never answering from it), and from then on `/healthz` tells.
#[tokio::test]
async fn a_request_that_meets_damage_says_so_and_healthz_tells() {
    let (mut p, app, families) = damaged_while_serving(&[]).await;
    let mut seen = Vec::new();
    for (g, child) in &families {
        for path in [format!("/children/{child}"), format!("/children/{child}/items"), "/children".to_owned()] {
            let (s, body) = app.get(&path, g).await;
            seen.push((s, body["error"]["code"].clone()));
        }
    }
    assert!(seen.contains(&(StatusCode::INTERNAL_SERVER_ERROR, json!("store_damaged"))), "{seen:?}");
    says_damaged(&app).await;
    terminate(&mut p);
}

/// A damaged data store (a bad disk, a torn copy) is found at start, which is
/// refused with a message that says so, instead of serving until a read trips.
#[tokio::test]
async fn a_corrupt_data_store_refuses_to_start_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    for i in 0..5 {
        household(&app, &format!("p{i}@example.org")).await;
    }
    terminate(&mut p);
    let db = root.join("data/kidvault.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 8, "{pages} pages");
    for page in 2..pages {
        bytes[page * 4096..page * 4096 + 12].fill(0xAB);
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = serve_refused(&root);
    assert!(!out.status.success(), "started on a corrupt data store");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is damaged") && said.contains("kidvault.db") && said.contains("kidvault restore"), "{said}");
}
