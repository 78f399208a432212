//! End-to-end tests through the real HTTP server on a random port, a fresh data
//! directory per test, and (last section) the real `kidvault` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

#[tokio::test]
async fn device_ingest_with_lineage_and_guardian_review() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let child = app.child(&g, "Mia").await;
    app.consent(&g, &child, &["voice", "precise_location", "training"]).await;
    let (_, device) = app.device(&g, &child, "Mia's watch").await;

    let (audio, _) = wav(5.0, 7);
    let (s, rec) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED, "{rec}");
    assert_eq!(rec["kind"], "voice_recording");
    assert_eq!(rec["category"], "user.biometric.voice");
    let rec_id = rec["item_id"].as_str().unwrap();

    let (s, tr) = app
        .item(
            &child,
            &device,
            json!({"kind": "transcript", "derived_from": [rec_id], "content": "play the dinosaur song"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tr}");
    let tr_id = tr["item_id"].as_str().unwrap();
    let (s, intent) = app
        .item(&child, &device, json!({"kind": "intent", "derived_from": [tr_id], "content": {"intent": "play_music"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{intent}");
    let (s, loc) = app
        .post(
            &format!("/children/{child}/locations"),
            Some(&device),
            json!({"lat": 52.37, "lon": 4.89, "accuracy_m": 9.5}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{loc}");
    assert_eq!(loc["precision"], "precise");
    assert_eq!(loc["category"], "user.location.precise");

    // The guardian sees the child active, with the scopes in force.
    let (_, c) = app.get(&format!("/children/{child}"), &g).await;
    assert_eq!(c["status"], "active");
    assert_eq!(c["display_name"], "Mia");
    assert_eq!(c["scopes"], json!(["voice", "precise_location", "training"]));
    assert!(c["last_active_at"].is_string());

    // Lineage both ways, and the recording plays back byte for byte.
    let (s, r) = app.get(&format!("/items/{rec_id}"), &g).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["derived"], json!([tr_id]));
    assert_eq!(r["media_type"], "audio/wav");
    let resp = app.http.get(app.url(&format!("/items/{rec_id}/content"))).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["accept-ranges"], "bytes");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), audio);
    // Seeking, as an <audio> element does: one byte range at a time.
    let ranged = |range: &'static str| {
        app.http.get(app.url(&format!("/items/{rec_id}/content"))).bearer_auth(&g).header("range", range).send()
    };
    let part = ranged("bytes=44-99").await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], format!("bytes 44-99/{}", audio.len()).as_str());
    assert_eq!(part.bytes().await.unwrap().to_vec(), audio[44..=99].to_vec());
    let tail = ranged("bytes=-10").await.unwrap();
    assert_eq!(tail.bytes().await.unwrap().to_vec(), audio[audio.len() - 10..].to_vec());
    let beyond = ranged("bytes=99999999-").await.unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.headers()["content-range"], format!("bytes */{}", audio.len()).as_str());
    assert_eq!(code(&beyond.json().await.unwrap()), "range_not_satisfiable");
    let (_, t) = app.get(&format!("/items/{tr_id}"), &g).await;
    assert_eq!(t["content"], "play the dinosaur song");
    assert_eq!(t["derived_from"], json!([rec_id]));
    let (_, l) = app.get(&format!("/items/{}", loc["item_id"].as_str().unwrap()), &g).await;
    assert_eq!(l["content"], json!({"lat": 52.37, "lon": 4.89, "accuracy_m": 9.5}));

    // Listing: newest first, filtered by kind, paged.
    let (_, page) = app.get(&format!("/children/{child}/items?kind=transcript"), &g).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["item_id"], tr_id);
    let (_, p1) = app.get(&format!("/children/{child}/items?limit=2"), &g).await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = app.get(&format!("/children/{child}/items?limit=2&cursor={cursor}"), &g).await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 2);
    let (s, e) = app.get(&format!("/children/{child}/items?cursor=garbage"), &g).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_cursor")));

    // Every read left an access record the guardian can see, with its purpose.
    let (_, log) = app.get(&format!("/children/{child}/access-log"), &g).await;
    let entries = log["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["kind"] == "access.read"));
    let content_reads: Vec<&Value> = entries.iter().filter(|e| e["detail"]["what"] == "content.read").collect();
    // One per read above: the full one and the two ranged ones. The refused
    // (416) range read nothing and recorded nothing.
    assert_eq!(content_reads.len(), 3);
    assert!(content_reads.iter().all(|e| e["subjects"] == json!([rec_id])));
    assert_eq!(content_reads[0]["purpose"], "guardian_review");
    assert!(content_reads[0]["actor"].as_str().unwrap().starts_with("guardian:"));
    assert!(entries.iter().any(|e| e["detail"]["what"] == "item.read" && e["subjects"] == json!([tr_id])));
    // Metadata-only reads of audio are reads too.
    assert!(entries.iter().any(|e| e["detail"]["what"] == "item.read" && e["subjects"] == json!([rec_id])));

    // Metrics count what was ingested.
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kidvault_items_ingested_total{kind=\"voice_recording\"} 1"), "{metrics}");
    let health: Value = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");

    // Acknowledged data survives a restart.
    let dir = app.stop().await;
    let app = start(dir).await;
    let resp = app.http.get(app.url(&format!("/items/{rec_id}/content"))).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.bytes().await.unwrap().to_vec(), audio);
}

#[tokio::test]
async fn refusals_have_stable_codes_and_store_nothing() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let child = app.child(&g, "Mia").await;
    let (device_id, device) = app.device(&g, &child, "Mia's watch").await;
    let (audio, _) = wav(1.0, 3);
    let before = app.footprint();

    // No consent yet: nothing may be collected.
    let (s, b) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "consent_required"));
    assert_eq!(app.footprint(), before);

    // Consent checks.
    let consent = |method: &str, notice: &str, scopes: Value| json!({"method": method, "evidence_ref": "ref", "notice_version": notice, "scopes": scopes});
    for (body, want) in [
        (consent("carrier_pigeon", NOTICE, json!(["voice"])), "unknown_consent_method"),
        (consent("signed_form", "2019-01-01", json!(["voice"])), "stale_notice_version"),
        (consent("signed_form", NOTICE, json!(["voice", "telepathy"])), "unknown_scope"),
        (consent("signed_form", NOTICE, json!([])), "no_scopes"),
        (consent("email_plus", NOTICE, json!(["voice", "third_party"])), "method_not_allowed_for_scope"),
    ] {
        let (s, b) = app.post(&format!("/children/{child}/consents"), Some(&g), body).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, want));
    }
    let (_, c) = app.get(&format!("/children/{child}"), &g).await;
    assert_eq!(c["status"], "pending_consent", "refused consents recorded nothing");

    app.consent(&g, &child, &["voice"]).await;
    let (s, rec) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED);
    let rec_id = rec["item_id"].as_str().unwrap().to_owned();
    let before = app.footprint();

    // Location without the precise-location scope.
    let (s, b) = app
        .post(
            &format!("/children/{child}/locations"),
            Some(&device),
            json!({"lat": 1.0, "lon": 2.0, "accuracy_m": 3.0}),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "consent_required"));

    // Malformed, unsupported, oversized and mislabelled audio.
    let mut truncated = audio.clone();
    truncated.truncate(2000);
    let rate_96k = kidvault_domain::audio::encode_wav_mono16(96_000, &[1; 100]);
    // Containers that lie: a block alignment wider than the samples, words
    // hidden after the audio (RIFF size adjusted to cover them).
    let mut widened = audio.clone();
    widened[32..34].copy_from_slice(&4u16.to_le_bytes());
    let mut hidden = audio.clone();
    hidden.extend_from_slice(b"the words a parent deleted");
    let riff = u32::try_from(hidden.len() - 8).unwrap();
    hidden[4..8].copy_from_slice(&riff.to_le_bytes());
    let before_lies = app.footprint();
    for (body, ct, status, want) in [
        (b"definitely not a wav".to_vec(), Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audio"),
        (truncated, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audio"),
        (widened, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audio"),
        (hidden, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audio"),
        (rate_96k, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "unsupported_audio"),
        (wav(61.0, 1).0, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "recording_too_long"),
        (vec![0; 9 * 1024 * 1024], Some("audio/wav"), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (audio.clone(), Some("application/json"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (audio.clone(), None, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    ] {
        let (s, b) = app.upload(&child, &device, body, ct).await;
        assert_eq!((s, code(&b)), (status, want));
    }
    assert_eq!(app.footprint(), before_lies, "a refused recording stores nothing");
    let resp = app
        .http
        .post(app.url(&format!("/children/{child}/recordings?recorded_at=2999-01-01T00:00:00Z")))
        .bearer_auth(&device)
        .header("content-type", "audio/wav")
        .body(audio.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&resp.json().await.unwrap()), "invalid_recorded_at");

    // Derived items: unknown kind, wrong shape, bad lineage.
    let other_child = app.child(&g, "Leo").await;
    app.consent(&g, &other_child, &["voice"]).await;
    let (_, other_device) = app.device(&g, &other_child, "Leo's speaker").await;
    let (_, other_rec) = app.upload(&other_child, &other_device, audio.clone(), Some("audio/wav")).await;
    let before = (before.0 + 1, before.1, app.footprint().2);
    for (body, status, want) in [
        (
            json!({"kind": "horoscope", "derived_from": [rec_id], "content": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_kind",
        ),
        (json!({"kind": "voice_recording", "content": "x"}), StatusCode::UNPROCESSABLE_ENTITY, "unknown_kind"),
        (
            json!({"kind": "transcript", "derived_from": [rec_id], "content": {"not": "text"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_content",
        ),
        (
            json!({"kind": "transcript", "derived_from": [], "content": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_derived_from",
        ),
        (
            json!({"kind": "transcript", "derived_from": ["not-an-id"], "content": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_derived_from",
        ),
        (
            json!({"kind": "transcript", "derived_from": [uuid::Uuid::now_v7()], "content": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_derived_from",
        ),
        (
            json!({"kind": "transcript", "derived_from": [other_rec["item_id"]], "content": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_derived_from",
        ),
        (
            json!({"kind": "transcript", "derived_from": [rec_id], "content": "x".repeat(70_000)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "content_too_large",
        ),
        (json!({"kind": "transcript", "derived_from": [rec_id]}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            json!({"kind": "transcript", "derived_from": [rec_id], "content": "x", "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let (s, b) = app.item(&child, &device, body.clone()).await;
        assert_eq!((s, code(&b)), (status, want), "{body}");
    }
    // Invalid coordinates (with the scope granted, so the check is the coordinates').
    app.consent(&g, &child, &["precise_location"]).await;
    for body in [
        json!({"lat": 91.0, "lon": 0.0, "accuracy_m": 5.0}),
        json!({"lat": 0.0, "lon": -181.0, "accuracy_m": 5.0}),
        json!({"lat": 0.0, "lon": 0.0, "accuracy_m": -1.0}),
    ] {
        let (s, b) = app.post(&format!("/children/{child}/locations"), Some(&device), body).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_location"));
    }
    assert_eq!(app.footprint(), before, "refused requests stored nothing");

    // A device collects only for its own child: another child's path is 404.
    let (s, b) = app.upload(&other_child, &device, audio.clone(), Some("audio/wav")).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // Withdrawing a scope takes effect on the very next request.
    let (s, b) = app.delete(&format!("/children/{child}/consents/voice"), &g).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["scopes"], json!(["precise_location"]));
    let (s, b) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "consent_required"));
    let (s, b) =
        app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec_id], "content": "x"})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "consent_required"));
    let (s, b) = app.delete(&format!("/children/{child}/consents/telepathy"), &g).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_scope"));

    // Another household sees nothing of this one: every id is 404.
    let (g2, child2, device2) = household(&app, "other@example.org").await;
    for path in [
        format!("/children/{child}"),
        format!("/children/{child}/consents"),
        format!("/children/{child}/items"),
        format!("/children/{child}/access-log"),
        format!("/children/{child}/activity"),
        format!("/children/{child}/export"),
        format!("/items/{rec_id}"),
        format!("/items/{rec_id}/content"),
    ] {
        let (s, b) = app.get(&path, &g2).await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    let consent = json!({"method": "signed_form", "evidence_ref": "x", "notice_version": NOTICE, "scopes": ["voice"]});
    for (path, body) in [
        (format!("/children/{child}/consents"), consent),
        (format!("/children/{child}/deletions"), json!({"all": true})),
    ] {
        let (s, _) = app.post(&path, Some(&g2), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    for path in [format!("/children/{child}"), format!("/items/{rec_id}"), format!("/children/{child}/consents/voice")]
    {
        let (s, _) = app.delete(&path, &g2).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _) = app.delete(&format!("/devices/{device_id}"), &g2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.post("/devices", Some(&g2), json!({"child_id": child, "name": "sneaky"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/children", &g2).await;
    assert_eq!(list["children"].as_array().unwrap().len(), 1);
    assert_eq!(list["children"][0]["child_id"], child2);
    // A device of another household cannot reach this child.
    let (s, b) = app.upload(&child, &device2, audio.clone(), Some("audio/wav")).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // Revoked devices stop at once.
    let (s, _) = app.delete(&format!("/devices/{device_id}"), &g).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) =
        app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec_id], "content": "x"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));

    // Authentication.
    let (s, b) = app.post("/children", None, json!({"display_name": "X", "birth_year": 2020})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let (s, b) = app.upload(&child2, &g2, audio.clone(), Some("audio/wav")).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "a guardian token is not a device token");
    let (s, b) = app.get("/children", &device2).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "a device token is not a session");
    let (s, b) = app.post("/sessions", None, json!({"email": "ana@example.org", "password": "wrong password!!"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let (s, b) =
        app.post("/sessions", None, json!({"email": "nobody@example.org", "password": "wrong password!!"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));

    // Accounts and profiles.
    for (body, status, want) in [
        (
            json!({"email": "ana@example.org", "password": "a long enough password", "display_name": "A"}),
            StatusCode::CONFLICT,
            "email_taken",
        ),
        (
            json!({"email": "bad", "password": "a long enough password", "display_name": "A"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
        (
            json!({"email": "b@example.org", "password": "short", "display_name": "A"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (json!({"email": "b@example.org"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ] {
        let (s, b) = app.post("/guardians", None, body).await;
        assert_eq!((s, code(&b)), (status, want));
    }
    let (s, b) = app.post("/children", Some(&g), json!({"display_name": "Teen", "birth_year": 2005})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_child"));
    let resp = app
        .http
        .post(app.url("/guardians"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&resp.json().await.unwrap()), "invalid_json");
    let (s, b) = app.get("/no/such/route", &g).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // Signing out revokes the session.
    let resp = app.http.delete(app.url("/sessions/current")).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (s, _) = app.get("/children", &g).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// Plaintext child content never reaches disk: scan every file of the deployment
/// (data store, WAL, blob segments, keystore, key dir) for the audio's samples and
/// the words of a unique transcript, the child's name, the device's name and the
/// coordinates; while serving and after shutdown.
#[tokio::test]
async fn no_plaintext_child_content_on_disk() {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: scans the embedded deployment's files");
        return;
    }
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let child = app.child(&g, "Zephyrine").await;
    app.consent(&g, &child, &["voice", "precise_location"]).await;
    let (_, device) = app.device(&g, &child, "Quasimodo moonlamp").await;
    let (audio, samples) = wav(3.0, 99);
    let (s, rec) = app.upload(&child, &device, audio, Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED);
    let phrase = "xylophonist zanzibarian marmaladewise quokkaburger";
    let (s, _) = app
        .item(&child, &device, json!({"kind": "transcript", "derived_from": [rec["item_id"]], "content": phrase}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .post(
            &format!("/children/{child}/locations"),
            Some(&device),
            json!({"lat": 51.123457, "lon": -0.654321, "accuracy_m": 4.0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let pcm: Vec<u8> = samples[8000..8032].iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut needles: Vec<(String, Vec<u8>)> = vec![("audio samples".into(), pcm)];
    for word in phrase.split(' ').chain(["Zephyrine", "Quasimodo", "moonlamp", "51.123457", "0.654321"]) {
        needles.push((word.into(), word.as_bytes().to_vec()));
        needles.push((format!("{word} (utf-16)"), word.encode_utf16().flat_map(u16::to_le_bytes).collect()));
    }
    let scan = |root: &Path| {
        let files = walk(root);
        assert!(files.iter().any(|f| f.ends_with("kidvault.db")) && files.iter().any(|f| f.ends_with("keystore.db")));
        assert!(files.iter().any(|f| f.to_string_lossy().contains("seg-")));
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            for (what, needle) in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{what} found in plaintext in {}",
                    f.display()
                );
            }
        }
    };
    scan(app.dir.path());
    // The content is really there (the scan would pass on an empty store otherwise).
    let (_, page) = app.get(&format!("/children/{child}/items?kind=transcript"), &g).await;
    let (_, t) = app.get(&format!("/items/{}", page["items"][0]["item_id"].as_str().unwrap()), &g).await;
    assert_eq!(t["content"], phrase);
    // An export decrypts everything and streams it: nothing of it lands on disk.
    let export = fetch(&app.http, app.url(&format!("/children/{child}/export")), &g).await;
    assert_eq!(export.status(), StatusCode::OK);
    let archive = export.bytes().await.unwrap();
    assert!(archive.windows(phrase.len()).any(|w| w == phrase.as_bytes()), "the export holds the transcript");
    scan(app.dir.path());
    let dir = app.stop().await;
    scan(dir.path());
}

#[tokio::test]
async fn openapi_document_is_served_and_current() {
    let app = spawn_app().await;
    let served: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = served["paths"].as_object().unwrap();
    for p in ["/api/v1/guardians", "/api/v1/children/{id}/recordings", "/api/v1/items/{id}/content", "/healthz"] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "docs/openapi.json is stale: run `cargo run -p kidvault -- openapi > docs/openapi.json`"
    );
}

#[tokio::test]
async fn concurrent_devices_all_acknowledged_writes_land() {
    let app = Arc::new(spawn_app().await);
    let mut devices = Vec::new();
    for i in 0..8 {
        devices.push(household(&app, &format!("p{i}@example.org")).await);
    }
    let mut tasks = Vec::new();
    for (g, child, device) in devices.clone() {
        let app = Arc::clone(&app);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..5u32 {
                let (audio, _) = wav(0.5, n + 1);
                let (s, rec) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
                assert_eq!(s, StatusCode::CREATED);
                ids.push((rec["item_id"].as_str().unwrap().to_owned(), audio));
            }
            (g, ids)
        }));
    }
    for t in tasks {
        let (g, ids) = t.await.unwrap();
        for (id, audio) in ids {
            let resp = app.http.get(app.url(&format!("/items/{id}/content"))).bearer_auth(&g).send().await.unwrap();
            assert_eq!(resp.bytes().await.unwrap().to_vec(), audio);
        }
    }
}

#[tokio::test]
async fn binary_serves_the_demo_household_and_shuts_down_gracefully() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut p = run_binary(dir.path(), &["--demo"]);
    let http = reqwest::Client::new();
    let (_, session) = TestApp::send(
        http.post(format!("{}/api/v1/sessions", p.base))
            .json(&json!({"email": kidvault::demo::DEMO_EMAIL, "password": kidvault::demo::DEMO_PASSWORD})),
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let kids: Value =
        http.get(format!("{}/api/v1/children", p.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        kids["children"].as_array().unwrap().iter().map(|c| c["display_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Mia", "Leo"]);
    let mia = kids["children"][0]["child_id"].as_str().unwrap();
    let recs: Value =
        fetch(&http, format!("{}/api/v1/children/{mia}/items?kind=voice_recording&limit=200", p.base), &token)
            .await
            .json()
            .await
            .unwrap();
    let recs = recs["items"].as_array().unwrap();
    assert!(recs.len() >= 40, "three weeks of activity, got {}", recs.len());
    let first = recs[0]["item_id"].as_str().unwrap();
    let audio = fetch(&http, format!("{}/api/v1/items/{first}/content", p.base), &token).await.bytes().await.unwrap();
    kidvault_domain::audio::parse_wav(&audio, Default::default()).expect("demo audio is real WAV");
    let item: Value = fetch(&http, format!("{}/api/v1/items/{first}", p.base), &token).await.json().await.unwrap();
    assert_eq!(item["derived"].as_array().unwrap().len().min(1), 1, "each recording has a transcript");

    let status = terminate(&mut p);
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let mut rest = String::new();
    p.stdout.read_to_string(&mut rest).unwrap();

    // A second start does not seed again.
    let mut p = run_binary(dir.path(), &["--demo"]);
    let kids: Value =
        http.get(format!("{}/api/v1/children", p.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(kids["children"].as_array().unwrap().len(), 2);
    assert!(terminate(&mut p).success());
}

/// `kill -9` while devices are uploading recordings and the words heard in them
/// (on PostgreSQL, in the middle of the writer's batches): everything
/// acknowledged is there after restart, and nothing is half-stored: every item
/// the child's list shows opens, and every transcript's recording is listed.
#[tokio::test]
async fn acknowledged_ingest_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = run_binary(dir.path(), &[]);
    let base = p.base.clone();
    let http = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut r = http.post(format!("{base}/api/v1{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    post(
        "/guardians",
        None,
        json!({"email": "k@example.org", "password": "a long enough password", "display_name": "K"}),
    )
    .await
    .unwrap();
    let s: Value = post("/sessions", None, json!({"email": "k@example.org", "password": "a long enough password"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let g = s["token"].as_str().unwrap().to_owned();
    let c: Value = post("/children", Some(&g), json!({"display_name": "K", "birth_year": 2020}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let child = c["child_id"].as_str().unwrap().to_owned();
    post(
        &format!("/children/{child}/consents"),
        Some(&g),
        json!({"method": "video_call", "evidence_ref": "call-9", "notice_version": NOTICE, "scopes": ["voice"]}),
    )
    .await
    .unwrap();
    let d: Value =
        post("/devices", Some(&g), json!({"child_id": child, "name": "d"})).await.unwrap().json().await.unwrap();
    let device = d["token"].as_str().unwrap().to_owned();

    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let (http, base, child, device, acked) =
            (http.clone(), base.clone(), child.clone(), device.clone(), Arc::clone(&acked));
        tasks.push(tokio::spawn(async move {
            for n in 0..1000u32 {
                let (audio, _) = wav(0.5, t * 1000 + n + 1);
                let r = http
                    .post(format!("{base}/api/v1/children/{child}/recordings"))
                    .bearer_auth(&device)
                    .header("content-type", "audio/wav")
                    .body(audio.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let Ok(v) = r.json::<Value>().await else {
                            return;
                        };
                        let rec = v["item_id"].as_str().unwrap().to_owned();
                        acked.lock().unwrap().push((rec.clone(), audio));
                        let words = format!("words {t} {n}");
                        let r = http
                            .post(format!("{base}/api/v1/children/{child}/items"))
                            .bearer_auth(&device)
                            .json(&json!({"kind": "transcript", "derived_from": [rec], "content": words}))
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status() == StatusCode::CREATED => {
                                let Ok(v) = r.json::<Value>().await else { return };
                                let id = v["item_id"].as_str().unwrap().to_owned();
                                acked.lock().unwrap().push((id, words.into_bytes()));
                            }
                            _ => return,
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    p.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    p.child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let mut p = run_binary(dir.path(), &[]);
    for (id, bytes) in &acked {
        let got = http.get(format!("{}/api/v1/items/{id}/content", p.base)).bearer_auth(&g).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "acknowledged item {id} lost");
        assert_eq!(&got.bytes().await.unwrap().to_vec(), bytes);
    }
    // Nothing half-stored: whatever the list shows (acknowledged or not) opens,
    // and each transcript's recording is there.
    let mut listed = std::collections::HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "200".to_owned())];
        query.extend(cursor.take().map(|c| ("cursor", c)));
        let (_, page) =
            TestApp::send(http.get(format!("{}/api/v1/children/{child}/items", p.base)).query(&query).bearer_auth(&g))
                .await;
        for it in page["items"].as_array().unwrap() {
            listed.insert(it["item_id"].as_str().unwrap().to_owned(), it["derived_from"].clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(listed.len() >= acked.len(), "{} listed, {} acknowledged", listed.len(), acked.len());
    for (id, sources) in &listed {
        let got = http.get(format!("{}/api/v1/items/{id}/content", p.base)).bearer_auth(&g).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "listed item {id} does not open");
        for s in sources.as_array().unwrap() {
            assert!(listed.contains_key(s.as_str().unwrap()), "{id}'s source {s} is missing");
        }
    }
    assert!(terminate(&mut p).success());
}

// ---- the ledger ----

/// A consent granted through the API yields a ledger entry whose proof verifies
/// against the checkpoint the API serves, using only the public key; the same
/// proof verifies offline with `kidvault verify-receipt`, and fails once edited.
#[tokio::test]
async fn consent_entry_proves_against_the_served_checkpoint_with_the_public_key() {
    let app = spawn_app().await;
    let (g, child, _) = household(&app, "ana@example.org").await;
    let (g2, _, _) = household(&app, "bob@example.org").await;

    let (s, activity) = app.get(&format!("/children/{child}/activity"), &g).await;
    assert_eq!(s, StatusCode::OK);
    let granted = activity["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "consent.granted")
        .expect("a consent.granted entry")
        .clone();
    assert_eq!(granted["detail"]["scopes"], "voice,precise_location");
    assert_eq!(granted["detail"]["method"], "signed_form");
    let index = granted["index"].as_u64().unwrap();

    let public_key = app.public_key().await;
    let verifier = verifier_from(&public_key);
    let checkpoint = app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap().text().await.unwrap();
    let cp = verifier.verify(&checkpoint).expect("served checkpoint verifies with the public key");
    assert!(cp.size > index);

    let (s, proof) = app.get(&format!("/ledger/entries/{index}/proof"), &g).await;
    assert_eq!(s, StatusCode::OK, "{proof}");
    let proof: kidvault_ledger::receipt::EntryProof = serde_json::from_value(proof).unwrap();
    let entry = proof.verify(&verifier).expect("inclusion proof verifies");
    assert_eq!(entry.kind.as_str(), "consent.granted");
    assert_eq!(entry.child.as_deref(), Some(child.as_str()));

    // The entry itself, for its household only.
    let (s, raw) = app.get(&format!("/ledger/entries/{index}"), &g).await;
    assert_eq!((s, raw["kind"].as_str()), (StatusCode::OK, Some("consent.granted")));
    let (s, _) = app.get(&format!("/ledger/entries/{index}"), &g2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get(&format!("/ledger/entries/{index}/proof"), &g2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = app.get("/ledger/entries/999999", &g).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

    // The log grows; the new checkpoint is consistent with the old one.
    app.get(&format!("/children/{child}"), &g).await;
    let later = app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap().text().await.unwrap();
    let cp2 = verifier.verify(&later).unwrap();
    assert!(cp2.size > cp.size);
    let (s, c) = app.get(&format!("/ledger/consistency?from={}&to={}", cp.size, cp2.size), &g).await;
    assert_eq!(s, StatusCode::OK);
    let hashes: Vec<kidvault_ledger::Hash> = c["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()
        })
        .collect();
    kidvault_ledger::verify::verify_consistency(cp.size, cp2.size, &hashes, &cp.root, &cp2.root).unwrap();
    let (s, b) = app.get(&format!("/ledger/consistency?from=0&to={}", cp2.size), &g).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_range"));

    // Offline, with the binary and nothing but the public key file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ledger.pub"), &public_key).unwrap();
    std::fs::write(dir.path().join("receipt.json"), serde_json::to_string_pretty(&proof).unwrap()).unwrap();
    let run = |file: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
            .arg("verify-receipt")
            .arg(dir.path().join(file))
            .arg("--public-key")
            .arg(dir.path().join("ledger.pub"))
            .output()
            .unwrap()
    };
    let ok = run("receipt.json");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("receipt OK"));
    let tampered = serde_json::to_string(&proof).unwrap().replace("signed_form", "signed_farm");
    std::fs::write(dir.path().join("tampered.json"), tampered).unwrap();
    assert!(!run("tampered.json").status.success());

    // A checkpoint from another log's key is rejected.
    let (other, _) =
        kidvault_ledger::checkpoint::Signer::load_or_create(&dir.path().join("other.key"), "kidvault").unwrap();
    let forged = other.sign(cp2.size, cp2.root, 0);
    assert!(verifier.verify(&forged).is_err());
}

fn ledger_verify(root: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
        .args(["ledger", "verify", "--data-dir"])
        .arg(root.join("data"))
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .output()
        .unwrap()
}

/// Edit the real SQLite file: change an entry's bytes, delete a row, swap two
/// rows. `kidvault ledger verify` fails each time and names the entry.
/// Many requests sign checkpoints at once while the log grows: every one is
/// served, and the checkpoint anchored beside the keys is the largest signed
/// (two writers once shared one temporary file and one failed with a 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoints_signed_at_once_are_all_served_and_the_largest_is_anchored() {
    let app = spawn_app().await;
    let (g, child, _) = household(&app, "ana@example.org").await;
    let path = format!("/children/{child}");
    let mut largest = 0;
    for _ in 0..25 {
        let reads = (0..2).map(|_| app.get(&path, &g));
        let signs = (0..6).map(|_| app.http.get(app.url("/ledger/checkpoint")).send());
        let (reads, signs) = tokio::join!(futures::future::join_all(reads), futures::future::join_all(signs));
        assert!(reads.iter().all(|(s, _)| *s == StatusCode::OK));
        for r in signs {
            let r = r.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let size: u64 = r.text().await.unwrap().lines().nth(1).unwrap().parse().unwrap();
            largest = largest.max(size);
        }
    }
    let anchored = std::fs::read_to_string(app.dir.path().join("keys/ledger.checkpoint")).unwrap();
    assert_eq!(anchored.lines().nth(1).unwrap().parse::<u64>().unwrap(), largest);
}

#[tokio::test]
async fn ledger_verify_names_the_tampered_entry() {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: tampers with the SQLite file");
        return;
    }
    let app = spawn_app().await;
    let (g, child, _) = household(&app, "ana@example.org").await;
    for _ in 0..12 {
        app.get(&format!("/children/{child}"), &g).await;
    }
    app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap();
    let dir = app.stop().await;
    let clean = ledger_verify(dir.path());
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("ledger OK"));

    let db = dir.path().join("data/kidvault.db");
    let copy = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::create_dir_all(d.join("keys")).unwrap();
        for f in ["root.key", "ledger.key", "ledger.pub"] {
            std::fs::copy(dir.path().join("keys").join(f), d.join("keys").join(f)).unwrap();
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        drop(conn);
        std::fs::copy(&db, d.join("data/kidvault.db")).unwrap();
        (d.clone(), rusqlite::Connection::open(d.join("data/kidvault.db")).unwrap())
    };
    let failure = |root: &Path| {
        let out = ledger_verify(root);
        assert!(!out.status.success(), "tampering went unnoticed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // One entry's bytes changed (within the same length).
    let (root, conn) = copy("altered");
    conn.execute(
        "UPDATE ledger_entries SET body = CAST(replace(CAST(body AS TEXT), 'guardian_review', 'guardian_revuew') AS BLOB) WHERE idx = 5",
        [],
    )
    .unwrap();
    drop(conn);
    let err = failure(&root);
    assert!(err.contains("ledger entry 5") && err.contains("altered"), "{err}");

    // A row deleted.
    let (root, conn) = copy("deleted");
    conn.execute("DELETE FROM ledger_entries WHERE idx = 7", []).unwrap();
    drop(conn);
    let err = failure(&root);
    assert!(err.contains("ledger entry 7") && err.contains("missing"), "{err}");

    // The last rows deleted: the signed checkpoint still remembers them.
    let (root, conn) = copy("truncated");
    let n: i64 = conn.query_row("SELECT MAX(idx) FROM ledger_entries", [], |r| r.get(0)).unwrap();
    conn.execute("DELETE FROM ledger_entries WHERE idx >= ?1", [n - 1]).unwrap();
    drop(conn);
    let err = failure(&root);
    assert!(err.contains(&format!("ledger entry {}", n - 1)) && err.contains("missing"), "{err}");

    // Two rows swapped (with their hashes).
    let (root, conn) = copy("swapped");
    conn.execute_batch(
        "UPDATE ledger_entries SET idx = -1 WHERE idx = 3;
         UPDATE ledger_entries SET idx = 3 WHERE idx = 9;
         UPDATE ledger_entries SET idx = 9 WHERE idx = -1;",
    )
    .unwrap();
    drop(conn);
    let err = failure(&root);
    assert!(err.contains("ledger entry 3") && err.contains("moved"), "{err}");
}
