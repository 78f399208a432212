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

/// The demo deployment in `dir`, started (with `env`), after the deletion of the
/// first child's second recording was requested.
struct Demo {
    p: Proc,
    app: TestApp,
    token: String,
    /// The first child's recordings, and the first one's audio.
    ids: Vec<String>,
    audio: Vec<u8>,
    deletion: String,
}

async fn demo_deleting_a_recording(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Demo {
    let p = run_binary_with(dir.path(), &["--demo"], env);
    let app = TestApp::attach(&p.base, dir);
    let token = sign_in(&app).await;
    let (ids, audio) = recordings(&app, &token).await;
    let (s, accepted) = app.delete(&format!("/items/{}", ids[1]), &token).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    let deletion = accepted["deletion_id"].as_str().unwrap().to_owned();
    Demo { p, app, token, ids, audio, deletion }
}

/// Starts the deployment at `root` again: it serves the recordings `ids` but
/// the second (deleted before the move), and the first one's `audio`.
async fn serves_the_same(root: &Path, dir: tempfile::TempDir, ids: &[String], audio: &[u8]) -> (Proc, TestApp, String) {
    let p = run_binary(root, &[]);
    let app = TestApp::attach(&p.base, dir);
    let token = sign_in(&app).await;
    let (moved_ids, moved_audio) = recordings(&app, &token).await;
    let mut expected = ids.to_vec();
    expected.remove(1);
    assert_eq!(moved_ids, expected, "the same items, the deleted one still gone");
    assert_eq!(moved_audio, audio, "the same audio, decrypted with the same keys");
    (p, app, token)
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
    let Demo { mut p, app, token, ids, audio, deletion } = demo_deleting_a_recording(dir, &[]).await;
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
    let (mut p, app, token) = serves_the_same(&root, dir, &ids, &audio).await;
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

/// `kidvault migrate-blobs` on the deployment at `root` (its database, local blobs).
fn migrate_blobs(root: &Path, to: &str) -> (bool, String) {
    let out = kidvault_on(root, &["migrate-blobs", "--delete-source", "--blob-store", "local", "--to", to]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The demo deployment's audio, on its local blob store, moved to S3 with
/// `migrate-blobs --delete-source`: refused while a deletion is unfinished (its
/// purge erases blobs where they were recorded); once it is done, every copy
/// lands (one S3 object per moved blob), the local originals are erased (their
/// files hold only zeros), and, with the local directory removed, the deployment
/// serves the same recordings and audio from S3. A second run finds nothing left
/// to move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_moved_to_s3_are_served_from_there_and_erased_where_they_were() {
    if kidvault_store::test_server("KIDVAULT_TEST_S3", "s3").is_none() {
        eprintln!("skipped: needs KIDVAULT_TEST_S3 (an S3 server)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    std::fs::write(root.join("blob-store"), "local").unwrap();
    // A node that dies right after making a deletion's content unreadable.
    let fault = [("KIDVAULT_FAULT_AFTER_STEP", "shredded")];
    let Demo { mut p, app, token, ids, audio, deletion } = demo_deleting_a_recording(dir, &fault).await;
    for _ in 0..100 {
        if p.child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(p.child.try_wait().unwrap().is_some_and(|e| !e.success()), "the node crashed mid-deletion");
    let dir = app.detach();

    // Refused while that deletion is unfinished, with nothing moved.
    let s3 = blob_store_of(tempfile::tempdir().unwrap().path()).unwrap(); // a fresh bucket
    let (ok, refused) = migrate_blobs(&root, &s3);
    assert!(!ok && refused.contains("1 deletions are unfinished"), "{refused}");
    assert_eq!(s3_versions(&s3), 0);
    // Restarted, the node finishes it.
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    await_deletion(&app, &token, &deletion).await;
    assert!(terminate(&mut p).success());
    let dir = app.detach();

    let (ok, out) = migrate_blobs(&root, &s3);
    assert!(ok, "{out}");
    let moved: u64 = out.split("moved ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!(moved >= ids.len() as u64 - 1, "{out}");
    assert_eq!(s3_versions(&s3), moved, "one object per moved blob");
    // The originals were erased in place.
    for f in std::fs::read_dir(root.join("data/blobs")).unwrap() {
        let path = f.unwrap().path();
        if path.is_file() {
            assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0), "{} holds data", path.display());
        }
    }
    std::fs::remove_dir_all(root.join("data/blobs")).unwrap();

    std::fs::write(root.join("blob-store"), &s3).unwrap();
    let (mut p, app, _) = serves_the_same(&root, dir, &ids, &audio).await;
    assert!(terminate(&mut p).success());

    let (ok, again) = migrate_blobs(&root, &s3);
    assert!(ok && again.contains("moved 0 blobs"), "{again}");
    drop(app); // holds the deployment's directory until here
}
