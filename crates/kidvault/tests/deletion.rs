//! End-to-end tests of deletion: lineage cascade, crypto-shredding, receipts,
//! crash recovery and downstream processors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

/// Deleting a recording removes its transcript and intent too, leaves the rest,
/// and ends in a receipt that verifies with the public key alone; a copy of the
/// data store's rows taken before the deletion cannot decrypt the deleted items
/// with the live keystore and root key, and still opens the survivors.
#[tokio::test]
async fn deleting_a_recording_reaches_everything_derived_and_even_backups() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (g2, _, _) = household(&app, "bob@example.org").await;
    let (audio, _) = wav(1.0, 5);
    let (_, rec) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let (_, tr) =
        app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "hello"})).await;
    let tr = tr["item_id"].as_str().unwrap().to_owned();
    let (_, intent) =
        app.item(&child, &device, json!({"kind": "intent", "derived_from": [tr], "content": {"i": 1}})).await;
    let intent = intent["item_id"].as_str().unwrap().to_owned();
    let (other_audio, _) = wav(1.0, 6);
    let (_, keep) = app.upload(&child, &device, other_audio.clone(), Some("audio/wav")).await;
    let keep = keep["item_id"].as_str().unwrap().to_owned();
    let (_, keep_tr) =
        app.item(&child, &device, json!({"kind": "transcript", "derived_from": [keep], "content": "stay"})).await;
    let keep_tr = keep_tr["item_id"].as_str().unwrap().to_owned();

    // The "backup": the data store's rows, as a copy taken before the deletion holds them.
    let backup: std::collections::HashMap<String, (Vec<u8>, Option<Vec<u8>>)> = [&rec, &tr, &intent, &keep_tr]
        .into_iter()
        .map(|id| (id.clone(), item_row(app.dir.path(), id).expect("stored")))
        .collect();

    // Another household cannot delete it, and learns nothing.
    let (s, _) = app.delete(&format!("/items/{rec}"), &g2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, accepted) = app.delete(&format!("/items/{rec}"), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["deletion_id"].as_str().unwrap().to_owned();
    let (s, _) = app.get(&format!("/deletions/{id}"), &g2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let done = await_deletion(&app, &g, &id).await;
    assert!(done["steps"].as_array().unwrap().iter().all(|s| s["done"] == true));

    for gone in [&rec, &tr, &intent] {
        let (s, _) = app.get(&format!("/items/{gone}"), &g).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{gone} survived");
    }
    let (s, t) = app.get(&format!("/items/{keep_tr}"), &g).await;
    assert_eq!((s, t["content"].as_str()), (StatusCode::OK, Some("stay")));
    let resp = app.http.get(app.url(&format!("/items/{keep}/content"))).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.bytes().await.unwrap().to_vec(), other_audio, "survivors still open");
    let (items, edges, _) = app.footprint();
    assert_eq!((items, edges), (2, 1));
    // Deleting again: the item no longer exists.
    let (s, _) = app.delete(&format!("/items/{rec}"), &g).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The receipt verifies with only the public key, online and offline; any edit fails.
    let (parsed, entry) = app.verified_receipt(&g, &id).await;
    let receipt = serde_json::to_value(&parsed).unwrap();
    let public_key = app.public_key().await;
    assert_eq!(entry.kind.as_str(), "deletion.completed");
    assert_eq!(entry.counts.get("items"), Some(&3));
    let document: Value = serde_json::from_str(&parsed.document).unwrap();
    assert_eq!(document["items"], 3);
    assert_eq!(document["kinds"], json!({"intent": 1, "transcript": 1, "voice_recording": 1}));
    assert!(!parsed.document.contains("hello"), "the receipt holds no deleted content");
    // What it promises for backups: they stop opening one backup window after completion.
    let completed = chrono::DateTime::parse_from_rfc3339(document["completed_at"].as_str().unwrap()).unwrap();
    let until =
        chrono::DateTime::parse_from_rfc3339(document["backups_unrecoverable_after"].as_str().unwrap()).unwrap();
    assert_eq!(until - completed, chrono::Duration::days(30));
    // What it promises for live copies is what the backend can keep: no byte of a
    // destroyed key in SQLite's files; PostgreSQL keeps locked remnants until VACUUM,
    // which open with nothing once the seal chain forgets their generation (reseal.rs).
    let copies =
        if on_postgres() { kidvault_service::deletion::COPIES_POSTGRES } else { kidvault_service::deletion::COPIES };
    assert_eq!(document["copies"].as_str().unwrap(), copies);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ledger.pub"), &public_key).unwrap();
    let verify = |body: String| {
        std::fs::write(dir.path().join("r.json"), body).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
            .arg("verify-receipt")
            .arg(dir.path().join("r.json"))
            .arg("--public-key")
            .arg(dir.path().join("ledger.pub"))
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(verify(receipt.to_string()));
    assert!(!verify(receipt.to_string().replace("\\\"items\\\": 3", "\\\"items\\\": 2")));
    let mut edited = parsed.clone();
    edited.document = edited.document.replace("\"items\": 3", "\"items\": 2");
    assert_ne!(edited, parsed);
    assert!(!verify(serde_json::to_string(&edited).unwrap()));
    let (_, activity) = app.get(&format!("/children/{child}/activity"), &g).await;
    let kinds: Vec<&str> =
        activity["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"key.destroyed") && kinds.contains(&"deletion.completed"));

    // The backup holds the deleted transcript's ciphertext and no key for it;
    // the live keystore holds none either. The survivor's ciphertext in the same
    // backup still opens with the live keystore and root key.
    let row = |id: &str| backup[id].clone();
    let live = keystore_epochs(app.dir.path(), &child);
    assert_eq!(live.len(), 1, "the child key is not rotated by an item deletion");
    let child_key = open_child_row(app.dir.path(), &child, live[0].0, &live[0].1);
    for gone in [&rec, &tr, &intent] {
        assert!(row(gone).0.is_empty(), "no data key in the data store");
        assert_eq!(keystore_item_key(app.dir.path(), gone), None, "{gone}'s data key is destroyed");
    }
    let (beside, ciphertext) = row(&keep_tr);
    assert!(beside.is_empty());
    let (epoch, wrapped) = keystore_item_key(app.dir.path(), &keep_tr).expect("a survivor keeps its key");
    assert_eq!(epoch, live[0].0);
    let keep_tr_id: uuid::Uuid = keep_tr.parse().unwrap();
    let wrapped = unseal_row(app.dir.path(), kidvault_store::KeyRowId::Item(keep_tr_id.into()), &wrapped);
    let opened = child_key.open_with(keep_tr_id.as_bytes(), &wrapped, &ciphertext.unwrap()).unwrap();
    assert_eq!(opened, b"stay".to_vec(), "the backup's survivor opens with the live keys");
}

#[tokio::test]
async fn deleting_a_child_destroys_its_keys_and_every_trace() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (audio, _) = wav(1.0, 8);
    let (_, rec) = app.upload(&child, &device, audio, Some("audio/wav")).await;
    app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec["item_id"]], "content": "bye"})).await;
    app.post(
        &format!("/children/{child}/locations"),
        Some(&device),
        json!({"lat": 1.0, "lon": 2.0, "accuracy_m": 3.0}),
    )
    .await;
    let verify_erasure = |root: &Path| verify_erasure(root, &["--child", &child]);
    // Before: the scan finds the child everywhere (it is not a scan that cannot fail).
    let before = verify_erasure(app.dir.path());
    assert!(!before.status.success());
    let listing = String::from_utf8_lossy(&before.stdout).into_owned();
    // SQLite names `<file> table <name>`, PostgreSQL `table <schema>.<name>`.
    let keystore = if on_postgres() { "table kidvault_keys.child_keys" } else { "keystore.db" };
    for table in ["children", "items", "devices", "consents"] {
        let named = listing.contains(&format!("table {table},")) || listing.contains(&format!(".{table},"));
        assert!(named, "table {table} not reported in:\n{listing}");
    }
    assert!(listing.contains(keystore), "{keystore} not reported in:\n{listing}");
    // Before: its keys are there, so what is kept is readable, and said to be.
    assert!(listing.contains("key material, READABLE"), "{listing}");
    assert!(listing.contains("READABLE (its key is still in the keystore)"), "{listing}");
    let (s, accepted) = app.delete(&format!("/children/{child}"), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id = accepted["deletion_id"].as_str().unwrap().to_owned();
    await_deletion(&app, &g, &id).await;
    let after = verify_erasure(app.dir.path());
    assert!(
        after.status.success(),
        "{}{}",
        String::from_utf8_lossy(&after.stdout),
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(String::from_utf8_lossy(&after.stdout).contains("no residue"));

    let (s, _) = app.get(&format!("/children/{child}"), &g).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/children", &g).await;
    assert!(list["children"].as_array().unwrap().is_empty());
    let (s, b) = app.upload(&child, &device, wav(1.0, 9).0, Some("audio/wav")).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "its devices are gone too");
    let (items, _, _) = app.footprint();
    assert_eq!(items, 0);
    for table in ["children", "consents", "devices"] {
        let col = if table == "children" { "id" } else { "child_id" };
        assert_eq!(rows_naming(app.dir.path(), table, col, &child), 0, "{table} still holds the child");
    }
    assert!(keystore_epochs(app.dir.path(), &child).is_empty(), "every epoch of the child key is destroyed");
    assert_eq!(keystore_item_key(app.dir.path(), rec["item_id"].as_str().unwrap()), None);
    let (parsed, _) = app.verified_receipt(&g, &id).await;
    assert!(parsed.document.contains("every key of the child"));
}

#[tokio::test]
async fn deleting_by_kind_takes_only_that_kind_and_bad_scopes_are_refused() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (_, rec) = app.upload(&child, &device, wav(1.0, 3).0, Some("audio/wav")).await;
    for lat in [1.0, 2.0] {
        app.post(
            &format!("/children/{child}/locations"),
            Some(&device),
            json!({"lat": lat, "lon": 2.0, "accuracy_m": 3.0}),
        )
        .await;
    }
    for (body, want) in [
        (json!({}), "invalid_scope"),
        (json!({"all": true, "kinds": ["location"]}), "invalid_scope"),
        (json!({"kinds": ["horoscope"]}), "unknown_kind"),
        (json!({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}), "invalid_scope"),
    ] {
        let (s, b) = app.post(&format!("/children/{child}/deletions"), Some(&g), body).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, want));
    }
    let (s, accepted) =
        app.post(&format!("/children/{child}/deletions"), Some(&g), json!({"kinds": ["location"]})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    await_deletion(&app, &g, accepted["deletion_id"].as_str().unwrap()).await;
    let (_, page) = app.get(&format!("/children/{child}/items"), &g).await;
    let left: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(left, ["voice_recording"]);
    let (s, _) = app.get(&format!("/items/{}", rec["item_id"].as_str().unwrap()), &g).await;
    assert_eq!(s, StatusCode::OK);
}

/// A deletion interrupted after any step — the process gone, only what each
/// step committed left on disk — completes when the next process starts, with
/// the same result as an uninterrupted one.
#[tokio::test]
async fn a_deletion_interrupted_after_any_step_completes_after_restart() {
    for steps_before_crash in 0..7 {
        let app = spawn_app().await;
        let (g, child, device) = household(&app, "ana@example.org").await;
        let (_, rec) = app.upload(&child, &device, wav(0.5, 11).0, Some("audio/wav")).await;
        let rec = rec["item_id"].as_str().unwrap().to_owned();
        app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "x"})).await;
        let keep_audio = wav(0.5, 12).0;
        let (_, keep) = app.upload(&child, &device, keep_audio.clone(), Some("audio/wav")).await;
        let keep = keep["item_id"].as_str().unwrap().to_owned();
        let dir = app.stop().await;

        // A process that records the deletion and gets `steps_before_crash` steps in.
        let config = config_for(dir.path());
        let now = chrono::Utc::now();
        let id = {
            let (vault, session) = offline_vault(dir.path(), &g).await;
            let id = vault.delete_item(&session, rec.parse().unwrap(), now).await.unwrap();
            for _ in 0..steps_before_crash {
                vault.step_deletion(id, now).await.unwrap();
            }
            id
        }; // the process is gone: nothing but committed state survives

        // The next process resumes it.
        let vault = kidvault::app::open(&config).unwrap();
        assert_eq!(vault.run_deletions(chrono::Utc::now()).await.unwrap(), 1, "after {steps_before_crash} steps");
        drop(vault);
        let app = start(dir).await;
        let done = await_deletion(&app, &g, &id.to_string()).await;
        assert_eq!(done["step"], "completed");
        let (s, _) = app.get(&format!("/items/{rec}"), &g).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let resp = app.http.get(app.url(&format!("/items/{keep}/content"))).bearer_auth(&g).send().await.unwrap();
        assert_eq!(resp.bytes().await.unwrap().to_vec(), keep_audio, "after {steps_before_crash} steps");
        let (items, _, _) = app.footprint();
        assert_eq!(items, 1);
        let (_, entry) = app.verified_receipt(&g, &id.to_string()).await;
        assert_eq!(entry.counts.get("items"), Some(&2), "nothing done twice, nothing lost");
        // Exactly one completion entry: no step was done twice.
        let (_, activity) = app.get(&format!("/children/{child}/activity"), &g).await;
        let completions =
            activity["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "deletion.completed").count();
        assert_eq!(completions, 1);
    }
}

/// An item deletion still pending when its child is deleted: both complete (the
/// child's keys are gone, so the item deletion has nothing left to rotate).
#[tokio::test]
async fn an_item_deletion_overtaken_by_its_childs_deletion_still_completes() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (_, rec) = app.upload(&child, &device, wav(0.5, 21).0, Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "x"})).await;
    let dir = app.stop().await;
    let now = chrono::Utc::now();
    let (vault, session) = offline_vault(dir.path(), &g).await;
    let item_deletion = vault.delete_item(&session, rec.parse().unwrap(), now).await.unwrap();
    vault.step_deletion(item_deletion, now).await.unwrap(); // resolved, then overtaken
    let child_deletion = vault.delete_child(&session, child.parse().unwrap(), now).await.unwrap();
    assert_eq!(vault.run_deletions(now).await.unwrap(), 2);
    for id in [item_deletion, child_deletion] {
        assert_eq!(
            vault.deletion(&session, id).await.unwrap().step,
            kidvault_domain::deletion::DeletionStep::Completed
        );
    }
}

/// Several item deletions of one child run together: each destroys only its
/// items' data keys; the child key is untouched and survivors still open.
#[tokio::test]
async fn item_deletions_destroy_only_their_items_keys() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let mut recs = Vec::new();
    for n in 0..4u32 {
        let (_, r) = app.upload(&child, &device, wav(0.3, 30 + n).0, Some("audio/wav")).await;
        recs.push(r["item_id"].as_str().unwrap().to_owned());
    }
    let keep_audio = wav(0.3, 99).0;
    let (_, keep) = app.upload(&child, &device, keep_audio.clone(), Some("audio/wav")).await;
    let keep = keep["item_id"].as_str().unwrap().to_owned();
    let dir = app.stop().await;
    let now = chrono::Utc::now();
    {
        let (vault, session) = offline_vault(dir.path(), &g).await;
        for r in &recs {
            vault.delete_item(&session, r.parse().unwrap(), now).await.unwrap();
        }
        assert_eq!(vault.run_deletions(now).await.unwrap(), 4);
    }
    let epochs: Vec<u32> = keystore_epochs(dir.path(), &child).into_iter().map(|(e, _)| e).collect();
    assert_eq!(epochs, vec![1], "no rotation");
    assert!(recs.iter().all(|r| keystore_item_key(dir.path(), r).is_none()));
    assert!(keystore_item_key(dir.path(), &keep).is_some());
    let app = start(dir).await;
    for r in &recs {
        let (s, _) = app.get(&format!("/items/{r}"), &g).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let resp = app.http.get(app.url(&format!("/items/{keep}/content"))).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.bytes().await.unwrap().to_vec(), keep_audio);
}

// ---- downstream processors (the real binary) ----

/// Checks a `Kidvault-Signature` header: HMAC-SHA256 under `secret` over "t.body".
/// A deletion reaches processors as signed webhooks: one holding none of the
/// deleted categories hears nothing; a failing one is retried with backoff until
/// it acknowledges in its response; one that acknowledges later through the ack
/// endpoint becomes overdue first, and the deletion waits for it. Forged or
/// stale acknowledgements are refused. The receipt names every processor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_processors_are_told_retried_and_must_acknowledge() {
    let (hooks, calls) = receiver(&[
        ("alpha", Behaviour::FailThenAck(2)),
        ("beta", Behaviour::AckLater),
        ("gamma", Behaviour::FailThenAck(0)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kv.toml");
    std::fs::write(&config, "downstream_retry_base_ms = 200\ndownstream_deadline_secs = 3\n").unwrap();
    let mut p = run_binary(dir.path(), &["--config", config.to_str().unwrap()]);
    let app = TestApp::attach(&p.base, dir);
    let (admin, auditor) = (staff(&app, app.dir.path(), "admin").await, staff(&app, app.dir.path(), "auditor").await);
    let (g, child, device) = household(&app, "ana@example.org").await;

    // Only an admin registers processors, and only well-formed ones.
    let (s, b) = register(&app, &g, "x", format!("{hooks}/x"), &["user.content"]).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let (s, b) = register(&app, &auditor, "x", format!("{hooks}/x"), &["user.content"]).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "policy_denied"));
    for (url, cats, want) in [
        ("ftp://example.org/x".to_owned(), vec!["user.content"], "invalid_url"),
        ("not a url".to_owned(), vec!["user.content"], "invalid_url"),
        (format!("{hooks}/x"), vec!["user.shoe_size"], "unknown_category"),
        (format!("{hooks}/x"), vec![], "invalid_categories"),
    ] {
        let (s, b) = register(&app, &admin, "x", url, &cats).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, want));
    }
    let mut secrets = std::collections::HashMap::new();
    for (name, cats) in [
        ("alpha", vec!["user.biometric.voice", "user.content"]),
        ("beta", vec!["user.content"]),
        ("gamma", vec!["user.location.precise"]),
    ] {
        let (s, b) = register(&app, &admin, name, format!("{hooks}/{name}"), &cats).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert!(b["secret"].as_str().unwrap().starts_with("kvwh_"));
        secrets.insert(name, b["secret"].as_str().unwrap().to_owned());
    }
    let (s, b) = register(&app, &admin, "alpha", format!("{hooks}/alpha"), &["user.content"]).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "name_taken"));
    let (_, listed) = app.get("/admin/processors", &admin).await;
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(!listed.to_string().contains("kvwh_"), "secrets are shown once only");

    let (_, rec) = app.upload(&child, &device, wav(0.5, 21).0, Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let (_, tr) =
        app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "hi"})).await;
    let tr = tr["item_id"].as_str().unwrap().to_owned();
    let (s, accepted) = app.delete(&format!("/items/{rec}"), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id = accepted["deletion_id"].as_str().unwrap().to_owned();

    // alpha: two failures, then acknowledged in its response. Every call signed.
    poll("alpha's third call", async || {
        (calls.lock().unwrap().iter().filter(|c| c.processor == "alpha").count() >= 3).then_some(())
    })
    .await;
    let status = poll("alpha acknowledged", async || {
        let (_, d) = app.get(&format!("/deletions/{id}"), &g).await;
        (d["waiting_for"] == json!(["beta"])).then_some(d)
    })
    .await;
    assert_eq!(status["step"], "dispatched", "the deletion waits for beta");
    let alpha = &status["processors"][0];
    assert_eq!(
        (alpha["processor"].as_str(), alpha["state"].as_str(), alpha["attempts"].as_u64()),
        (Some("alpha"), Some("acknowledged"), Some(3))
    );
    assert_eq!(status["processors"].as_array().unwrap().len(), 2, "gamma holds nothing that was deleted");
    let seen = calls.lock().unwrap().clone();
    for c in &seen {
        assert!(signed_by(&secrets[c.processor.as_str()], &c.signature, &c.body), "{c:?}");
        assert!(!signed_by(&secrets["gamma"], &c.signature, &c.body));
        let body: Value = serde_json::from_str(&c.body).unwrap();
        assert_eq!(
            (body["task_id"].as_str(), body["deletion_id"].as_str()),
            (Some(c.task.as_str()), Some(id.as_str()))
        );
        assert!(!c.body.contains("\"hi\""), "no content in a notice");
        let items: Vec<&str> = body["item_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        match c.processor.as_str() {
            "alpha" => assert_eq!(items.len(), 2),
            "beta" => assert_eq!(items, [tr.as_str()], "beta holds transcripts only"),
            other => panic!("{other} was told of a deletion of nothing it holds"),
        }
    }
    let beta_task = seen.iter().find(|c| c.processor == "beta").unwrap().task.clone();

    // beta is overdue once the deadline passes: the guardian and the admin see it.
    poll("beta overdue", async || {
        let (_, d) = app.get(&format!("/deletions/{id}"), &g).await;
        (d["processors"][1]["overdue"] == true).then_some(())
    })
    .await;
    let (_, open) = app.get("/admin/processor-tasks", &admin).await;
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0]["processor"].as_str(), open[0]["overdue"].as_bool()), (Some("beta"), Some(true)));

    // Acknowledgements must be signed by beta, recently.
    let ack_url = app.url(&format!("/processor-tasks/{beta_task}/ack"));
    let body = r#"{"note":"deleted from the warehouse"}"#;
    let now = chrono::Utc::now().timestamp();
    for header in [None, Some(sign(&secrets["alpha"], now, body)), Some(sign(&secrets["beta"], now - 600, body))] {
        let req = app.http.post(&ack_url).body(body);
        let (s, b) = TestApp::send(match header {
            Some(h) => req.header("Kidvault-Signature", h),
            None => req,
        })
        .await;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{b}");
    }
    let (_, d) = app.get(&format!("/deletions/{id}"), &g).await;
    assert_eq!(d["waiting_for"], json!(["beta"]), "a refused acknowledgement changes nothing");
    let (s, b) = TestApp::send(
        app.http.post(&ack_url).header("Kidvault-Signature", sign(&secrets["beta"], now, body)).body(body),
    )
    .await;
    assert_eq!((s, b["state"].as_str()), (StatusCode::OK, Some("acknowledged")), "{b}");

    let done = await_deletion(&app, &g, &id).await;
    assert_eq!(done["waiting_for"], json!([]));
    let (receipt, _) = app.verified_receipt(&g, &id).await;
    let document: Value = serde_json::from_str(&receipt.document).unwrap();
    let told: Vec<(&str, &str, u64)> = document["processors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (p["name"].as_str().unwrap(), p["acknowledged_via"].as_str().unwrap(), p["attempts"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(told, [("alpha", "response", 3), ("beta", "endpoint", 1)]);
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.iter().filter(|c| c.processor == "beta").count(), 1, "a delivered task is not resent");
    assert_eq!(calls.iter().filter(|c| c.processor == "alpha").count(), 3);

    // An auditor reads any ledger entry; an admin does not; another household sees nothing.
    let index = receipt.ledger.index;
    let (s, entry) = app.get(&format!("/ledger/entries/{index}"), &auditor).await;
    assert_eq!((s, entry["kind"].as_str()), (StatusCode::OK, Some("deletion.completed")));
    let (s, b) = app.get(&format!("/ledger/entries/{index}"), &admin).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "policy_denied"));
    let other = app.guardian("other@example.org").await;
    let (s, _) = app.get(&format!("/ledger/entries/{index}/proof"), &other).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, proof) = app.get(&format!("/ledger/entries/{index}/proof"), &auditor).await;
    assert_eq!(s, StatusCode::OK);
    let proof: kidvault_ledger::receipt::EntryProof = serde_json::from_value(proof).unwrap();
    proof.verify(&verifier_from(&app.public_key().await)).unwrap();
    assert!(terminate(&mut p).success());
}

/// The server process is killed (abort, by a fault hook compiled into test
/// builds only) right after a deletion durably reaches each step; the next
/// process finishes it: every deletion completes once, its receipt counts every
/// item once, the processor is told exactly once per task, and `verify-erasure`
/// finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_at_every_deletion_step_finishes_after_restart() {
    let (hooks, calls) = receiver(&[("sink", Behaviour::FailThenAck(0))]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = run_binary(dir.path(), &[]);
    let app = TestApp::attach(&p.base, dir);
    let admin = staff(&app, app.dir.path(), "admin").await;
    let (s, _) = register(&app, &admin, "sink", format!("{hooks}/sink"), &["user.content"]).await;
    assert_eq!(s, StatusCode::CREATED);
    let (g, child, device) = household(&app, "ana@example.org").await;
    let mut dir = app.detach();
    let mut deletions = Vec::new();
    // "completed": killed after the completion wrote its notice, before the outbox delivered it.
    let steps = ["resolved", "shredded", "rotated", "purged", "dispatched", "acknowledged", "completed"];
    for (round, step) in steps.iter().chain(["purged"].iter()).enumerate() {
        let whole_child = round == steps.len();
        let app = TestApp::attach(&p.base, dir);
        let (_, rec) = app.upload(&child, &device, wav(0.3, 30 + round as u32).0, Some("audio/wav")).await;
        let rec = rec["item_id"].as_str().unwrap().to_owned();
        let (_, tr) =
            app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "x"})).await;
        let tr = tr["item_id"].as_str().unwrap().to_owned();
        // The same deployment, now in a process that dies after `step`.
        assert!(terminate(&mut p).success());
        dir = app.detach();
        p = run_binary_with(dir.path(), &[], &[("KIDVAULT_FAULT_AFTER_STEP", step)]);
        let app = TestApp::attach(&p.base, dir);
        let path = if whole_child { format!("/children/{child}") } else { format!("/items/{rec}") };
        let (s, accepted) = app.delete(&path, &g).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let id = accepted["deletion_id"].as_str().unwrap().to_owned();
        let exit = poll("the injected crash", async || p.child.try_wait().unwrap()).await;
        assert!(!exit.success(), "killed after {step}");
        deletions.push(id.clone());

        dir = app.detach();
        p = run_binary(dir.path(), &[]);
        let app = TestApp::attach(&p.base, dir);
        let done = await_deletion(&app, &g, &id).await;
        assert_eq!(done["waiting_for"], json!([]), "after {step}");
        let (_, entry) = app.verified_receipt(&g, &id).await;
        // Every earlier round's items are gone: a child deletion finds the last two.
        let want = 2;
        assert_eq!(entry.counts.get("items"), Some(&want), "after {step}: nothing lost, nothing twice");
        let (s, _) = app.get(&format!("/items/{tr}"), &g).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        if whole_child {
            assert!(erasure_clean(app.dir.path(), &["--child", &child]), "after {step}");
        } else {
            assert!(erasure_clean(app.dir.path(), &["--item", &rec, "--item", &tr]), "after {step}");
        }
        dir = app.detach();
    }
    // One delivery per task: a crash never made kidvault tell a processor twice.
    let calls = calls.lock().unwrap().clone();
    let tasks: std::collections::BTreeSet<&str> = calls.iter().map(|c| c.task.as_str()).collect();
    assert_eq!((calls.len(), tasks.len()), (deletions.len(), deletions.len()));
    // One "deletion completed" notice per deletion, each delivered to the mailbox,
    // the one whose delivery a crash interrupted included.
    let app = TestApp::attach(&p.base, dir);
    let notices = poll("every notice delivered", async || {
        let (_, mailbox) = app.get("/notices", &g).await;
        let notices = mailbox["notices"].as_array().unwrap().clone();
        notices.iter().all(|n| n["delivered_via"] == "mailbox").then_some(notices)
    })
    .await;
    assert_eq!(notices.len(), deletions.len());
    for id in &deletions {
        let about: Vec<_> = notices.iter().filter(|n| n["body"].as_str().unwrap().contains(id.as_str())).collect();
        assert_eq!(about.len(), 1, "one notice for {id}");
        assert_eq!(about[0]["kind"], "deletion_completed");
    }
    assert!(terminate(&mut p).success());
}

/// Closing the account (password again) deletes every child of the household;
/// no child can be added meanwhile; the guardian follows the deletions to their
/// receipts; then the guardians, their sessions and the household are purged,
/// and nothing of the children is left. Another household is untouched.
#[tokio::test]
async fn closing_the_account_deletes_the_household() {
    let app = spawn_app().await;
    let (g, mia, device) = household(&app, "ana@example.org").await;
    let leo = app.child(&g, "Leo").await;
    app.upload(&mia, &device, wav(0.3, 41).0, Some("audio/wav")).await;
    let (other, other_child, other_device) = household(&app, "bo@example.org").await;
    let (_, kept) = app.upload(&other_child, &other_device, wav(0.3, 42).0, Some("audio/wav")).await;

    let (s, b) = app.post("/household/close", Some(&g), json!({"password": "not my password"})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "wrong_password"));
    let (_, list) = app.get("/children", &g).await;
    assert_eq!(list["children"].as_array().unwrap().len(), 2, "a refused closure changes nothing");

    let (s, b) = app.post("/household/close", Some(&g), json!({"password": "a long enough password"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let ids: Vec<String> = b["deletion_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    assert_eq!(ids.len(), 2);
    let (s, b) = app.post("/children", Some(&g), json!({"display_name": "Ivy", "birth_year": 2020})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "household_closing"));
    for id in &ids {
        await_deletion(&app, &g, id).await;
    }
    // For the grace period the guardian can still sign in and take the receipts.
    let vault = app.vault.clone().unwrap();
    vault.run_deletions(chrono::Utc::now() + chrono::Duration::days(6)).await.unwrap();
    for id in &ids {
        app.verified_receipt(&g, id).await;
    }
    // Then the account goes.
    vault.run_deletions(chrono::Utc::now() + chrono::Duration::days(8)).await.unwrap();
    let (s, _) = app.get("/children", &g).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) =
        app.post("/sessions", None, json!({"email": "ana@example.org", "password": "a long enough password"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    for table in ["households", "guardians", "sessions", "children", "devices", "consents"] {
        assert_eq!(count(app.dir.path(), table), 1, "{table}: only the other household's row is left");
    }
    assert_eq!(count(app.dir.path(), "ledger_entries WHERE kind = 'household.closed'"), 1);
    for child in [&mia, &leo] {
        assert!(erasure_clean(app.dir.path(), &["--child", child]));
    }
    // The other household carries on.
    let resp =
        app.http.get(app.url(&format!("/items/{}/content", kept["item_id"].as_str().unwrap()))).bearer_auth(&other);
    assert_eq!(resp.send().await.unwrap().status(), StatusCode::OK);
}
