//! The seal chain, on both backends: a copy of a keystore row taken before a
//! deletion (what PostgreSQL's dead rows, WAL segments and base backups keep)
//! opens with the live keys until the chain forgets the generation it was
//! sealed under, and from nothing after that, which is at most the backup
//! window after the deletion; survivors stay readable throughout; every node
//! steps its own chain file forward; a chain file that is missing or another
//! deployment's refuses start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use kidvault_crypto::SealChain;
use kidvault_store::KeyRowId;

/// Every node and command of this test: a re-seal a day, a three-day window.
const ENV: [(&str, &str); 2] = [("KIDVAULT_KEY_RESEAL_HOURS", "24"), ("KIDVAULT_BACKUP_WINDOW_DAYS", "3")];

fn kidvault_env(root: &Path, args: &[&str]) -> std::process::Output {
    let out = kidvault_with(root, args, &ENV);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn chain(root: &Path) -> SealChain {
    SealChain::load(&root.join("keys/seal-chain.key")).unwrap().expect("a seal chain file")
}

fn item_id(s: &str) -> KeyRowId {
    KeyRowId::Item(s.parse().unwrap())
}

#[tokio::test]
async fn a_deleted_keys_remnants_open_from_nothing_after_the_backup_window_and_survivors_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary_with(&root, &[], &ENV);
    let app = TestApp::attach(&p.base, dir);
    let (g, mia, device) = household(&app, "ana@example.org").await;
    let (_, rec) = app.upload(&mia, &device, wav(0.5, 21).0, Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let (s, gone) = app
        .item(&mia, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "words to forget"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{gone}");
    let gone = gone["item_id"].as_str().unwrap().to_owned();
    let (s, keep) = app
        .item(&mia, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "words that stay"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{keep}");
    let keep = keep["item_id"].as_str().unwrap().to_owned();

    // What a database keeps after the deletion (a dead row, a WAL record, a
    // base backup): the deleted item's key row and its ciphertext, as now.
    let (_, stolen) = keystore_item_key(&root, &gone).expect("a live item has its key");
    let (_, ciphertext) = item_row(&root, &gone).unwrap();
    let ciphertext = ciphertext.expect("a transcript is stored inline");
    let epochs = keystore_epochs(&root, &mia);
    assert_eq!(epochs.len(), 1);
    assert_eq!(kidvault_crypto::chain::generation_of(&stolen), Some(0), "sealed under the chain's first generation");
    assert_eq!(kidvault_crypto::chain::generation_of(&epochs[0].1), Some(0));
    // A second node's key directory, copied now (on PostgreSQL it serves the
    // same database; on SQLite the keystore file in it is its own).
    let node_b = tempfile::tempdir().unwrap();
    copy_dir(&root.join("keys"), &node_b.path().join("keys"));

    let (s, d) = app.delete(&format!("/items/{gone}"), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    await_deletion(&app, &g, d["deletion_id"].as_str().unwrap()).await;
    assert_eq!(keystore_item_key(&root, &gone), None);
    terminate(&mut p);

    // Today the remnant still opens with the live keys: why the portal and the
    // receipts promise a date rather than "now" for such copies.
    let opens = |root: &Path| {
        let child_key = open_child_row(root, &mia, epochs[0].0, &keystore_epochs(root, &mia)[0].1);
        let id: uuid::Uuid = gone.parse().unwrap();
        let wrapped = kidvault_service::keyring::open_row(&chain(root), item_id(&gone), &stolen).ok()?;
        let key = child_key.unwrap(id.as_bytes(), &wrapped).ok()?;
        kidvault_crypto::open(&key, id.as_bytes(), &ciphertext).ok()
    };
    let opened = opens(&root).expect("before the chain steps, the copy opens");
    assert!(String::from_utf8_lossy(&opened).contains("words to forget"));

    // Day by day, as the sweep does it: a generation a day; generation 0 is
    // forgotten once generation 1 has been complete for the window less two
    // days (one, here), well within three days of the deletion.
    let now = chrono::Utc::now();
    let sweep = |day: i64| {
        let as_of = (now + chrono::Duration::days(day) + chrono::Duration::minutes(day)).to_rfc3339();
        let before = std::fs::read(root.join("keys/seal-chain.key")).unwrap();
        let out = kidvault_env(&root, &["sweep", "--as-of", &as_of]);
        (String::from_utf8_lossy(&out.stderr).into_owned(), before)
    };
    let (said, _) = sweep(1);
    assert!(said.contains("began seal generation 1") && !said.contains("forgot"), "{said}");
    assert!(opens(&root).is_some(), "within the window the copy still opens");
    assert_eq!(chain(&root).oldest(), 0);
    // Every row is now sealed under the newest generation.
    let (_, live_keep) = keystore_item_key(&root, &keep).unwrap();
    assert_eq!(kidvault_crypto::chain::generation_of(&live_keep), Some(1));
    assert_eq!(kidvault_crypto::chain::generation_of(&keystore_epochs(&root, &mia)[0].1), Some(1));

    let (said, before_forgetting) = sweep(2);
    assert!(
        said.contains("began seal generation 2") && said.contains("forgot the seal generations before 1"),
        "{said}"
    );
    assert_eq!(chain(&root).oldest(), 1);
    assert_eq!(opens(&root), None, "after the window the copy opens with nothing this deployment holds");
    let after = std::fs::read(root.join("keys/seal-chain.key")).unwrap();
    assert_eq!(after.len(), before_forgetting.len());
    let old_key_line = String::from_utf8(before_forgetting).unwrap().lines().nth(2).unwrap().to_owned();
    assert!(!String::from_utf8_lossy(&after).contains(&old_key_line), "generation 0's key is overwritten");

    // The survivor reads as before, and new data is sealed under the newest generation.
    let mut p = run_binary_with(&root, &[], &ENV);
    let app = TestApp::attach(&p.base, app.detach());
    let (s, t) = app.get(&format!("/items/{keep}"), &g).await;
    assert_eq!((s, t["content"].as_str()), (StatusCode::OK, Some("words that stay")), "{t}");
    let (s, fresh) =
        app.item(&mia, &device, json!({"kind": "memory", "derived_from": [keep], "content": "a new memory"})).await;
    assert_eq!(s, StatusCode::CREATED, "{fresh}");
    let (_, fresh_row) = keystore_item_key(&root, fresh["item_id"].as_str().unwrap()).unwrap();
    assert_eq!(kidvault_crypto::chain::generation_of(&fresh_row), Some(2));
    terminate(&mut p);

    if database_of(&root).is_some() {
        // The second node's copy still holds generation 0 until it runs: at
        // start it follows the keystore and steps its own file past it.
        let b_root = node_b.path();
        std::fs::write(b_root.join("database-url"), database_of(&root).unwrap()).unwrap();
        if let Some(blobs) = blob_store_of(&root) {
            std::fs::write(b_root.join("blob-store"), blobs).unwrap();
        }
        assert_eq!(chain(b_root).oldest(), 0);
        let mut b = run_binary_with(b_root, &[], &ENV);
        terminate(&mut b);
        assert_eq!(chain(b_root).oldest(), 1, "node B stepped its file forward");
    }
}

#[tokio::test]
async fn a_missing_or_foreign_seal_chain_refuses_start_and_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    let (_, mia, device) = household(&app, "ana@example.org").await;
    let (s, v) = app.upload(&mia, &device, wav(0.5, 22).0, Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    terminate(&mut p);
    let file = root.join("keys/seal-chain.key");
    let real = std::fs::read(&file).unwrap();

    // Missing: refused, and the file this start made is taken away again.
    std::fs::remove_file(&file).unwrap();
    let out = serve_refused(&root);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("seal chain") && said.contains("is missing"), "{said}");
    assert!(!file.exists(), "no new chain is left over sealed rows");

    // Another deployment's chain: refused; the file is left as it is.
    let other = tempfile::tempdir().unwrap();
    SealChain::create(&other.path().join("seal-chain.key")).unwrap();
    std::fs::copy(other.path().join("seal-chain.key"), &file).unwrap();
    let out = serve_refused(&root);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("is not the one this keystore's rows are sealed with"), "{said}");

    // The right one back: it serves again.
    std::fs::write(&file, &real).unwrap();
    let mut p = run_binary(&root, &[]);
    terminate(&mut p);
    drop(app);
}
