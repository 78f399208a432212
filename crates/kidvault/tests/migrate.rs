//! `kidvault migrate-store`: an embedded deployment moved to PostgreSQL. Runs
//! when `KIDVAULT_TEST_DATABASE` names a PostgreSQL server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

async fn sign_in(app: &TestApp) -> String {
    let (s, session) = app
        .post(
            "/sessions",
            None,
            json!({"email": kidvault::demo::DEMO_EMAIL, "password": kidvault::demo::DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

/// The first child's recordings (ids) and the first one's audio.
async fn recordings(app: &TestApp, token: &str) -> (Vec<String>, Vec<u8>) {
    let (_, kids) = app.get("/children", token).await;
    let mia = kids["children"][0]["child_id"].as_str().unwrap().to_owned();
    let (_, recs) = app.get(&format!("/children/{mia}/items?kind=voice_recording&limit=200"), token).await;
    let ids: Vec<String> =
        recs["items"].as_array().unwrap().iter().map(|r| r["item_id"].as_str().unwrap().to_owned()).collect();
    let audio = fetch(&app.http, app.url(&format!("/items/{}/content", ids[0])), token).await.bytes().await.unwrap();
    (ids, audio.to_vec())
}

fn migrate(root: &Path, to: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
        .args(["migrate-store", "--to", to, "--data-dir"])
        .arg(root.join("data"))
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .output()
        .unwrap()
}

/// The demo deployment, with a completed deletion, copied from SQLite into an
/// empty PostgreSQL database: the command verifies rows and ledger root; served
/// from PostgreSQL, it has the same items and audio, and the deletion's receipt
/// still verifies with the same public key; `ledger verify` passes on PostgreSQL
/// and names an entry altered there. A second copy into it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_deployment_moved_to_postgres_serves_the_same_items_and_receipts() {
    let Some(server) = kidvault_store_postgres::testing::server() else {
        eprintln!("skipped: needs KIDVAULT_TEST_DATABASE=postgres://...");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    // Embedded first.
    std::fs::write(root.join("database-url"), format!("sqlite://{}", root.join("data/kidvault.db").display())).unwrap();
    let mut p = run_binary(&root, &["--demo"]);
    let app = TestApp::attach(&p.base, dir);
    let token = sign_in(&app).await;
    let (ids, audio) = recordings(&app, &token).await;
    let (s, accepted) = app.delete(&format!("/items/{}", ids[1]), &token).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let deletion = accepted["deletion_id"].as_str().unwrap().to_owned();
    await_deletion(&app, &token, &deletion).await;
    let public_key = app.public_key().await;
    assert!(terminate(&mut p).success());
    let dir = app.detach();

    let url = kidvault_store_postgres::testing::create_database_now(&server);
    let out = migrate(&root, &url);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("verified: every table's rows, ledger of"), "{stdout}");

    // Served from PostgreSQL: the same deployment.
    std::fs::write(root.join("database-url"), &url).unwrap();
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    let token = sign_in(&app).await;
    let (moved_ids, moved_audio) = recordings(&app, &token).await;
    let mut expected = ids.clone();
    expected.remove(1);
    assert_eq!(moved_ids, expected, "the same items, the deleted one still gone");
    assert_eq!(moved_audio, audio, "the same audio, decrypted with the same keys");
    assert_eq!(app.public_key().await, public_key);
    let (_, entry) = app.verified_receipt(&token, &deletion).await;
    assert!(entry.counts.get("items").is_some_and(|n| *n >= 1), "{:?}", entry.counts);
    assert!(terminate(&mut p).success());

    // `ledger verify` checks the moved log on PostgreSQL, and names a tampered entry.
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
            .args(["ledger", "verify", "--database", &url, "--key-file"])
            .arg(root.join("keys/root.key"))
            .output()
            .unwrap()
    };
    let clean = verify();
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("ledger OK"));
    let changed = kidvault_store_postgres::testing::execute(
        &url,
        "UPDATE ledger_entries SET body = convert_to(replace(convert_from(body, 'UTF8'), '\"v\":1', '\"v\":2'), 'UTF8') WHERE idx = 5",
    );
    assert_eq!(changed, 1);
    let tampered = verify();
    let err = String::from_utf8_lossy(&tampered.stderr);
    assert!(!tampered.status.success() && err.contains("ledger entry 5") && err.contains("altered"), "{err}");

    // Copying again into a database that holds a deployment is refused.
    let again = migrate(&root, &url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a deployment"));
}
