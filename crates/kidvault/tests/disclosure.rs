//! Use controls, end to end through the real binary: a child's data reaches a
//! processor only when the consent its purpose needs is in force; every item sent
//! is in the child's disclosure register (API, portal, export) and the ledger;
//! withdrawing the consent recalls exactly what that processor received, through
//! a signed task it must acknowledge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use common::*;

/// A signed feed request from processor `id` (secret `secret`).
async fn fetch(app: &TestApp, id: &str, secret: &str, limit: u32) -> (StatusCode, Value) {
    let body = json!({"processor_id": id, "limit": limit}).to_string();
    let header = sign(secret, chrono::Utc::now().timestamp(), &body);
    let req = app.http.post(app.url("/processor-feed")).header("kidvault-signature", header).body(body);
    TestApp::send(req).await
}

fn ids(batch: &Value) -> Vec<String> {
    batch["items"].as_array().unwrap().iter().map(|i| i["item_id"].as_str().unwrap().to_owned()).collect()
}

/// One file of a ZIP archive, read by Python's zipfile.
fn zip_entry(zip: &[u8], name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.zip");
    std::fs::write(&path, zip).unwrap();
    let script = "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).arg(name).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_leaves_only_under_consent_is_registered_and_is_recalled_on_withdrawal() {
    let (hooks, calls) = receiver(&[("tutor", Behaviour::FailThenAck(0)), ("speech", Behaviour::FailThenAck(0))]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kv.toml");
    std::fs::write(&config, "downstream_retry_base_ms = 200\n").unwrap();
    let mut p = run_binary(dir.path(), &["--config", config.to_str().unwrap()]);
    let app = TestApp::attach(&p.base, dir);
    let admin = staff(&app, app.dir.path(), "admin").await;
    // Mia: voice and location allowed, nothing else.
    let (g, mia, device) = household(&app, "ana@example.org").await;

    // Every processor names its purpose; an unknown one is refused.
    let (s, b) = register_for(&app, &admin, "x", format!("{hooks}/x"), "marketing", &["user.content"]).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_purpose"));
    let mut procs = std::collections::HashMap::new();
    for (name, purpose, cats) in [
        ("speech", "integral", vec!["user.biometric.voice", "user.content"]),
        ("tutor", "training", vec!["user.content"]),
        ("adco", "third_party", vec!["user.content", "user.location.precise"]),
    ] {
        let (s, b) = register_for(&app, &admin, name, format!("{hooks}/{name}"), purpose, &cats).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["purpose"], purpose);
        procs.insert(name, (b["id"].as_str().unwrap().to_owned(), b["secret"].as_str().unwrap().to_owned()));
    }
    let feed = async |name: &str, limit| {
        let (id, secret) = &procs[name];
        let (s, b) = fetch(&app, id, secret, limit).await;
        assert_eq!(s, StatusCode::OK, "{name}: {b}");
        b
    };

    let audio = wav(0.3, 11).0;
    let (_, rec) = app.upload(&mia, &device, audio.clone(), Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let (_, tr) = app
        .item(&mia, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "why is the sky"}))
        .await;
    let tr = tr["item_id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .post(&format!("/children/{mia}/locations"), Some(&device), json!({"lat": 52.1, "lon": 4.3, "accuracy_m": 8.0}))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // The integral processor receives what is collected, content intact, once.
    let first = feed("speech", 1).await;
    assert_eq!((ids(&first), first["more"].as_bool()), (vec![rec.clone()], Some(true)));
    assert_eq!(b64(first["items"][0]["content_base64"].as_str().unwrap()), audio);
    assert_eq!(first["items"][0]["child_id"], mia.as_str());
    let rest = feed("speech", 100).await;
    assert_eq!(
        (ids(&rest), rest["more"].as_bool()),
        (vec![tr.clone()], Some(false)),
        "not the location it does not hold"
    );
    assert_eq!(b64(rest["items"][0]["content_base64"].as_str().unwrap()), b"why is the sky");
    assert!(ids(&feed("speech", 100).await).is_empty(), "each item is sent once");

    // Training and third parties: nothing without their own consent.
    assert!(ids(&feed("tutor", 100).await).is_empty());
    assert!(ids(&feed("adco", 100).await).is_empty());
    app.consent(&g, &mia, &["voice", "training"]).await;
    assert_eq!(ids(&feed("tutor", 100).await), vec![tr.clone()], "transcripts only: what tutor holds");
    assert!(ids(&feed("adco", 100).await).is_empty(), "training consent is not sharing consent");

    // A processor added after the parent agreed gets nothing until they agree again.
    let (s, late) = register_for(&app, &admin, "late", format!("{hooks}/late"), "training", &["user.content"]).await;
    assert_eq!(s, StatusCode::CREATED);
    let (late_id, late_secret) = (late["id"].as_str().unwrap(), late["secret"].as_str().unwrap());
    let (_, b) = fetch(&app, late_id, late_secret, 10).await;
    assert!(ids(&b).is_empty(), "{b}");
    // The consent page says so, for each company, before anything is sent.
    let consent = portal_page(&app, &g, &format!("/portal/children/{mia}/consent")).await;
    for sentence in [
        "<strong>speech</strong> (helps run the service) receives voice recordings, pieces of what was said or understood now, because you allowed it.",
        "<strong>tutor</strong> (trains or improves models, only if you allow it) receives pieces of what was said or understood now",
        "<strong>late</strong> (trains or improves models, only if you allow it) is new since you agreed: it receives nothing until you give consent again.",
        "<strong>adco</strong> (a separate company, only if you allow sharing) receives nothing unless you allow \u{201c}Third parties\u{201d}.",
    ] {
        assert!(consent.contains(sentence), "{sentence:?} not in {consent}");
    }

    // The register says who received what; the ledger holds each disclosure.
    let (s, reg) = app.get(&format!("/children/{mia}/disclosures"), &g).await;
    assert_eq!(s, StatusCode::OK, "{reg}");
    let received: Vec<(&str, &str, u64)> = reg["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["purpose"].as_str().unwrap(),
                r["received"].as_array().unwrap().iter().map(|c| c["items"].as_u64().unwrap()).sum(),
            )
        })
        .collect();
    assert_eq!(received, vec![("speech", "integral", 2), ("tutor", "training", 1)]);
    let nothing: Vec<&str> =
        reg["received_nothing"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(nothing, vec!["adco", "late"]);
    let (_, activity) = app.get(&format!("/children/{mia}/activity"), &g).await;
    let disclosed: Vec<&Value> =
        activity["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "data.disclosed").collect();
    assert_eq!(disclosed.len(), 3, "{activity}");
    assert!(disclosed.iter().all(|e| !e.to_string().contains("why is the sky")), "ids and counts, never content");

    // Someone else's guardian sees nothing.
    let (other, _, _) = household(&app, "bob@example.org").await;
    let (s, _) = app.get(&format!("/children/{mia}/disclosures"), &other).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Withdrawing training stops the next disclosure and recalls what tutor received.
    let (s, _) = app.delete(&format!("/children/{mia}/consents/training"), &g).await;
    assert_eq!(s, StatusCode::OK);
    let (_, tr2) =
        app.item(&mia, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "and the sea"})).await;
    let tr2 = tr2["item_id"].as_str().unwrap().to_owned();
    assert!(ids(&feed("tutor", 100).await).is_empty());
    assert_eq!(ids(&feed("speech", 100).await), vec![tr2], "integral use goes on");
    let call =
        poll("tutor's recall", async || calls.lock().unwrap().iter().find(|c| c.processor == "tutor").cloned()).await;
    assert!(signed_by(&procs["tutor"].1, &call.signature, &call.body));
    let recall: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(
        (recall["type"].as_str(), recall["reason"].as_str()),
        (Some("kidvault.recall.v1"), Some("consent_withdrawn"))
    );
    assert_eq!(recall["item_ids"], json!([tr]), "exactly what it received");
    assert_eq!(recall["child_id"], mia.as_str());
    assert!(!calls.lock().unwrap().iter().any(|c| c.processor == "speech"), "integral processors are not recalled");
    let reg = poll("the recall acknowledged", async || {
        let (_, reg) = app.get(&format!("/children/{mia}/disclosures"), &g).await;
        let tutor = reg["received"].as_array().unwrap().iter().find(|r| r["name"] == "tutor").unwrap().clone();
        (tutor["requests"][0]["state"] == "acknowledged").then_some(tutor)
    })
    .await;
    assert_eq!(
        (reg["requests"][0]["kind"].as_str(), reg["received"][0]["recalled"].as_u64()),
        (Some("recall"), Some(1))
    );

    // The portal tells it in sentences; the export carries it.
    let page = portal_page(&app, &g, &format!("/portal/children/{mia}/shared")).await;
    for sentence in [
        "<strong>speech</strong> (helps run the service) received 1 voice recording, 2 pieces of what was said or understood",
        "<strong>tutor</strong> (trains or improves models, only if you allow it) received 1 piece of what was said or understood",
        "Asked to delete everything it received, because you withdrew your permission",
        "it confirmed the deletion on",
        "<strong>adco</strong> (a separate company, only if you allow sharing)",
    ] {
        assert!(page.contains(sentence), "{sentence:?} not in {page}");
    }
    let export = app.http.get(app.url(&format!("/children/{mia}/export"))).bearer_auth(&g).send().await.unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let register: Value =
        serde_json::from_slice(&zip_entry(&export.bytes().await.unwrap(), "disclosures.json")).unwrap();
    let tutor = register["received"].as_array().unwrap().iter().find(|r| r["processor"] == "tutor").unwrap();
    assert_eq!(tutor["deletion_requests"][0]["kind"], "recall");
    assert_eq!(tutor["deletion_requests"][0]["state"], "acknowledged");
    assert!(terminate(&mut p).success());
}

/// Feed requests that are not a processor's, or ask for nothing sensible, are
/// refused and disclose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_requests_must_be_signed_fresh_and_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = run_binary(dir.path(), &[]);
    let app = TestApp::attach(&p.base, dir);
    let admin = staff(&app, app.dir.path(), "admin").await;
    let (g, mia, device) = household(&app, "ana@example.org").await;
    app.upload(&mia, &device, wav(0.2, 3).0, Some("audio/wav")).await;
    let (_, a) =
        register_for(&app, &admin, "a", "http://127.0.0.1:9/a".into(), "integral", &["user.biometric.voice"]).await;
    let (_, b) =
        register_for(&app, &admin, "b", "http://127.0.0.1:9/b".into(), "integral", &["user.biometric.voice"]).await;
    let (a_id, a_secret) = (a["id"].as_str().unwrap(), a["secret"].as_str().unwrap());
    let b_secret = b["secret"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let body = json!({"processor_id": a_id, "limit": 5}).to_string();
    let post = |header: Option<String>, body: String| {
        let req = app.http.post(app.url("/processor-feed")).body(body);
        TestApp::send(match header {
            Some(h) => req.header("kidvault-signature", h),
            None => req,
        })
    };
    for (header, want) in [
        (None, "unauthenticated"),
        (Some("t=1,v1=zz".to_owned()), "unauthenticated"),
        (Some(sign(b_secret, now, &body)), "unauthenticated"),
        (Some(sign(a_secret, now - 600, &body)), "unauthenticated"),
    ] {
        let (s, e) = post(header, body.clone()).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, want));
    }
    for (body, status, want) in [
        (json!({"processor_id": a_id, "limit": 0}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit"),
        (json!({"processor_id": a_id, "limit": 101}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit"),
        (json!({"processor_id": "nope"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_feed_request"),
        (json!({"processor_id": a_id, "extra": 1}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_feed_request"),
    ] {
        let body = body.to_string();
        let (s, e) = post(Some(sign(a_secret, now, &body)), body).await;
        assert_eq!((s, code(&e)), (status, want), "{e}");
    }
    // A disabled processor receives nothing, even with a good signature.
    let (s, _) = app.delete(&format!("/admin/processors/{a_id}"), &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = post(Some(sign(a_secret, now, &body)), body.clone()).await;
    assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "processor_disabled"));
    // Nothing was disclosed by any of it.
    let (s, reg) = app.get(&format!("/children/{mia}/disclosures"), &g).await;
    assert_eq!((s, reg["received"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{reg}");
    assert!(terminate(&mut p).success());
}

/// A company the parent never let in does not even learn that the child exists:
/// a processor that needs consent (training, a third party) hears of a deletion
/// only when it received some of what goes, and then only of that; a processor
/// that helps run the service hears of every deletion in its categories.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_is_told_only_to_the_consent_gated_processors_that_received_some_of_it() {
    let (hooks, calls) = receiver(&[("tutor", Behaviour::FailThenAck(0)), ("speech", Behaviour::FailThenAck(0))]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = run_binary(dir.path(), &[]);
    let app = TestApp::attach(&p.base, dir);
    let admin = staff(&app, app.dir.path(), "admin").await;
    let mut procs = std::collections::HashMap::new();
    for (name, purpose, cats) in [
        ("speech", "integral", vec!["user.biometric.voice", "user.content"]),
        ("tutor", "training", vec!["user.content"]),
    ] {
        let (s, b) = register_for(&app, &admin, name, format!("{hooks}/{name}"), purpose, &cats).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        procs.insert(name, (b["id"].as_str().unwrap().to_owned(), b["secret"].as_str().unwrap().to_owned()));
    }
    let said = async |child: &str, device: &str, text: &str| {
        let (_, rec) = app.upload(child, device, wav(0.3, 5).0, Some("audio/wav")).await;
        let body = json!({"kind": "transcript", "derived_from": [rec["item_id"]], "content": text});
        let (s, tr) = app.item(child, device, body).await;
        assert_eq!(s, StatusCode::CREATED, "{tr}");
        tr["item_id"].as_str().unwrap().to_owned()
    };
    // Mia's parent allows training; Leo's does not.
    let (ga, mia, da) = household(&app, "ana@example.org").await;
    app.consent(&ga, &mia, &["voice", "training"]).await;
    let (gb, leo, db) = household(&app, "bo@example.org").await;
    let sent = said(&mia, &da, "why is the sky blue").await;
    said(&leo, &db, "where do whales sleep").await;
    let (id, secret) = &procs["tutor"];
    let (s, b) = fetch(&app, id, secret, 100).await;
    assert_eq!((s, ids(&b)), (StatusCode::OK, vec![sent.clone()]), "tutor receives Mia's words only");
    let kept = said(&mia, &da, "and the sea").await; // never sent to tutor: training is now fed by request only

    let deletion_calls = |child: &str| -> Vec<(String, Value)> {
        calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| (c.processor.clone(), serde_json::from_str::<Value>(&c.body).unwrap()))
            .filter(|(_, b)| b["type"] == "kidvault.deletion.v1" && b["child_id"] == child)
            .collect()
    };
    let delete = async |g: &str, path: String| {
        let (s, d) = app.delete(&path, g).await;
        assert!(s.is_success(), "{d}");
        await_deletion(&app, g, d["deletion_id"].as_str().unwrap()).await
    };

    // Leo: tutor never received anything of his, so it is not told he existed.
    delete(&gb, format!("/children/{leo}")).await;
    let told: Vec<String> = deletion_calls(&leo).into_iter().map(|(p, _)| p).collect();
    assert_eq!(told, ["speech"], "only the processor that helps run the service");

    // Mia's words that tutor never received: tutor is not told either.
    delete(&ga, format!("/items/{kept}")).await;
    let told: Vec<String> = deletion_calls(&mia).into_iter().map(|(p, _)| p).collect();
    assert_eq!(told, ["speech"]);

    // All of Mia: tutor is told, of exactly what it received.
    delete(&ga, format!("/children/{mia}")).await;
    let told = deletion_calls(&mia);
    let tutor: Vec<&Value> = told.iter().filter(|(p, _)| p == "tutor").map(|(_, b)| b).collect();
    assert_eq!(tutor.len(), 1, "{told:?}");
    assert_eq!(tutor[0]["item_ids"], json!([sent]), "exactly what it received");
    assert_eq!(told.iter().filter(|(p, _)| p == "speech").count(), 2);
    assert!(terminate(&mut p).success());
}
