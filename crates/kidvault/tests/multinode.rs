//! Several `kidvault serve` nodes on one PostgreSQL database: background work is
//! shared without being done twice, and a node killed mid-work is taken over.
//! Runs when `KIDVAULT_TEST_DATABASE` names a PostgreSQL server (scripts/test
//! starts one); the embedded SQLite store is single-node by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

/// Polls `f` every 100 ms for up to a minute (a takeover waits for a lease to expire).
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn sql_count(url: &str, table_and_filter: &str) -> i64 {
    kidvault_store_postgres::testing::count_rows(url, table_and_filter)
}

/// Data written through two nodes, then a burst of deletions, with a processor to tell:
/// node A holds the deletion runner's lease and is killed after its first purge;
/// node B takes the lease over once it expires and finishes every deletion. Each
/// deletion completes once (one `deletion.completed` entry, one receipt that
/// verifies, one notice), each processor task is delivered once though both
/// nodes deliver, and the ledger has no gap or fork.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_finishes_the_deletions_of_one_killed_mid_work() {
    if !on_postgres() {
        eprintln!("skipped: needs KIDVAULT_TEST_DATABASE=postgres://... (several nodes share one PostgreSQL)");
        return;
    }
    let (hooks, calls) = receiver(&[("sink", Behaviour::FailThenAck(0))]).await;
    let config = |root: &Path| {
        let file = root.join("kv.toml");
        std::fs::write(&file, "lease_secs = 8\ndownstream_retry_base_ms = 200\n").unwrap();
        file
    };
    // Node A first: it takes the deletion runner's lease at its first tick.
    let a_dir = tempfile::tempdir().unwrap();
    let url = database_of(a_dir.path()).unwrap();
    let a_cfg = config(a_dir.path());
    let mut a = run_binary_with(
        a_dir.path(),
        &["--config", a_cfg.to_str().unwrap()],
        &[("KIDVAULT_FAULT_AFTER_STEP", "purged")],
    );
    // Node B: its own directory, the same database and keys.
    let b_dir = tempfile::tempdir().unwrap();
    std::fs::write(b_dir.path().join("database-url"), &url).unwrap();
    if let Some(blobs) = blob_store_of(a_dir.path()) {
        std::fs::write(b_dir.path().join("blob-store"), blobs).unwrap(); // shared
    }
    copy_dir(&a_dir.path().join("keys"), &b_dir.path().join("keys"));
    let b_cfg = config(b_dir.path());
    let mut b = run_binary_with(b_dir.path(), &["--config", b_cfg.to_str().unwrap()], &[]);
    let node_a = TestApp::attach(&a.base, a_dir);
    let node_b = TestApp::attach(&b.base, b_dir);

    let admin = staff(&node_b, node_b.dir.path(), "admin").await;
    let (s, _) = register(&node_b, &admin, "sink", format!("{hooks}/sink"), &["user.content"]).await;
    assert_eq!(s, StatusCode::CREATED);
    let g = node_a.guardian("ana@example.org").await;
    // Six children, each with a location and a memory derived from it (inline
    // content: blobs are per node until the S3 store); requests alternate nodes.
    let (mut paths, mut deletions, mut gone_children) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..6 {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        let child = node.child(&g, &format!("Kid {i}")).await;
        node.consent(&g, &child, &["voice", "approximate_location"]).await;
        let (_, device) = node.device(&g, &child, "watch").await;
        let fix = json!({"lat": 52.0, "lon": 4.0, "accuracy_m": 5});
        let (s, loc) = node.post(&format!("/children/{child}/locations"), Some(&device), fix).await;
        assert_eq!(s, StatusCode::CREATED, "{loc}");
        let tr = loc["item_id"].as_str().unwrap().to_owned();
        let memory = json!({"kind": "memory", "derived_from": [tr.clone()], "content": "went to the park"});
        let (s, m) = node.item(&child, &device, memory).await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        // Half by item (with what was derived from it), half the whole child.
        paths.push(if i < 3 { format!("/items/{tr}") } else { format!("/children/{child}") });
        if i >= 3 {
            gone_children.push(child.clone());
        }
    }
    // The burst, through B: A, holding the runner's lease, takes it up at its next tick.
    for path in &paths {
        let (s, accepted) = node_b.delete(path, &g).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
        deletions.push(accepted["deletion_id"].as_str().unwrap().to_owned());
    }

    // A dies after its first purge, mid-way through the burst.
    let exit = eventually("node A's injected crash", async || a.child.try_wait().unwrap()).await;
    assert!(!exit.success(), "node A was killed mid-work");
    assert!(
        sql_count(&url, "deletions WHERE step <> 'completed'") > 0,
        "node A left work unfinished for B to take over"
    );

    // B takes over once A's lease expires, and finishes everything.
    for id in &deletions {
        let d = eventually("node B to finish the deletions", async || {
            let (s, d) = node_b.get(&format!("/deletions/{id}"), &g).await;
            assert_eq!(s, StatusCode::OK, "{d}");
            (d["step"] == "completed").then_some(d)
        })
        .await;
        assert_eq!(d["waiting_for"], json!([]));
        let (_, entry) = node_b.verified_receipt(&g, id).await;
        assert_eq!(entry.counts.get("items"), Some(&2), "{id}: both items, once");
        let completed = sql_count(
            &url,
            &format!("ledger_entries WHERE kind = 'deletion.completed' AND convert_from(body, 'UTF8') LIKE '%{id}%'"),
        );
        assert_eq!(completed, 1, "{id} completed exactly once");
    }
    for child in &gone_children {
        assert!(erasure_clean(node_b.dir.path(), &["--child", child]), "no residue of {child}");
    }

    // Each task was delivered once, though both nodes deliver.
    let calls = eventually("every task delivered", async || {
        let calls = calls.lock().unwrap().clone();
        (calls.len() >= deletions.len()).then_some(calls)
    })
    .await;
    let tasks: std::collections::BTreeSet<&str> = calls.iter().map(|c| c.task.as_str()).collect();
    assert_eq!((calls.len(), tasks.len()), (deletions.len(), deletions.len()), "one delivery per task");

    // One notice per deletion, delivered once.
    let notices = eventually("every notice delivered", async || {
        let (_, mailbox) = node_b.get("/notices", &g).await;
        let notices = mailbox["notices"].as_array().unwrap().clone();
        (notices.len() == deletions.len() && notices.iter().all(|n| n["delivered_via"] == "mailbox")).then_some(notices)
    })
    .await;
    for id in &deletions {
        assert_eq!(notices.iter().filter(|n| n["body"].as_str().unwrap().contains(id.as_str())).count(), 1);
    }

    // One log: entries 0..n-1, no gap, no fork, matching the head.
    let entries = sql_count(&url, "ledger_entries");
    assert_eq!(sql_count(&url, &format!("ledger_entries WHERE idx >= {entries}")), 0, "no gap");
    assert_eq!(sql_count(&url, &format!("ledger_head WHERE size = {entries}")), 1);
    assert!(terminate(&mut b).success());
}

/// Sign-in throttling is counted in the shared store: failures on one node
/// count on the other, so more nodes do not buy an attacker more guesses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_on_one_node_count_on_the_other() {
    if !on_postgres() {
        eprintln!("skipped: needs KIDVAULT_TEST_DATABASE=postgres://... (several nodes share one PostgreSQL)");
        return;
    }
    let a_dir = tempfile::tempdir().unwrap();
    let url = database_of(a_dir.path()).unwrap();
    let a = run_binary_with(a_dir.path(), &[], &[]);
    let b_dir = tempfile::tempdir().unwrap();
    std::fs::write(b_dir.path().join("database-url"), &url).unwrap();
    copy_dir(&a_dir.path().join("keys"), &b_dir.path().join("keys"));
    let b = run_binary_with(b_dir.path(), &[], &[]);
    let (node_a, node_b) = (TestApp::attach(&a.base, a_dir), TestApp::attach(&b.base, b_dir));
    node_a.guardian("ana@example.org").await;
    let attempt = async |node: &TestApp, password: &str| {
        let body = json!({"email": "ana@example.org", "password": password});
        node.http.post(node.url("/sessions")).json(&body).send().await.unwrap().status()
    };
    // Five wrong passwords, alternating nodes: the limit is five per account
    // from one address.
    for i in 0..5 {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        assert_eq!(attempt(node, "wrong password!!").await, StatusCode::UNAUTHORIZED);
    }
    // Now both nodes refuse even the right password.
    assert_eq!(attempt(&node_a, "a long enough password").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt(&node_b, "a long enough password").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        sql_count(&url, "sign_in_failures"),
        1 + 5 + 5 + 1,
        "the sign-up; per failure a row for the account and one for (address, account); one for the address's first"
    );
    drop((a, b));
}

/// What a PostgreSQL restart does to a running server: every connection it
/// holds is cut. No later request may fail for it (a dead pooled connection is
/// never handed out); while the database refuses connections, requests get
/// `503 store_unavailable` with `Retry-After`, never a 500; and it recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_is_answered_with_503_and_no_request_fails_after_it() {
    if !on_postgres() {
        eprintln!("skipped: needs KIDVAULT_TEST_DATABASE=postgres://...");
        return;
    }
    let app = spawn_app().await;
    let (g, child, _) = household(&app, "ana@example.org").await;
    let url = database_of(app.dir.path()).unwrap();
    let name = url.split('?').next().unwrap().rsplit('/').next().unwrap().to_owned();
    let admin = kidvault_store_postgres::admin::with_dbname(&url, "postgres");
    let cut = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    );
    let path = format!("/children/{child}");
    let read = || app.get(&path, &g);
    for _ in 0..8 {
        assert_eq!(read().await.0, StatusCode::OK);
    }
    let (admin2, cut2) = (admin.clone(), cut.clone());
    tokio::task::spawn_blocking(move || kidvault_store_postgres::testing::execute(&admin2, &cut2)).await.unwrap();
    for i in 0..20 {
        let (s, body) = read().await;
        assert_eq!(s, StatusCode::OK, "request {i} after the restart: {body}");
    }

    // The database refuses connections (still starting up, or closed by an operator).
    let (admin2, cut2) = (admin.clone(), cut.clone());
    let refuse = format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false");
    tokio::task::spawn_blocking(move || {
        kidvault_store_postgres::testing::execute(&admin2, &refuse);
        kidvault_store_postgres::testing::execute(&admin2, &cut2);
    })
    .await
    .unwrap();
    let resp = app.http.get(app.url(&format!("/children/{child}"))).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    let allow = format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true");
    tokio::task::spawn_blocking(move || kidvault_store_postgres::testing::execute(&admin, &allow)).await.unwrap();
    assert_eq!(read().await.0, StatusCode::OK, "served again once the database is back");
}
