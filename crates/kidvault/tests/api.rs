//! End-to-end tests through the real HTTP server on a random port, a fresh data
//! directory per test, and (last section) the real `kidvault` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kidvault::config::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct TestApp {
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

fn config_for(root: &Path) -> Config {
    Config { data_dir: root.join("data"), key_file: Some(root.join("keys/root.key")), ..Config::default() }
}

async fn start(dir: tempfile::TempDir) -> TestApp {
    let vault = kidvault::app::open(&config_for(dir.path())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kidvault::app::serve(listener, vault, async move {
        let _ = stopped.await;
    }));
    TestApp { base, http: reqwest::Client::new(), dir, stop: Some(stop), server: Some(server) }
}

async fn spawn_app() -> TestApp {
    start(tempfile::tempdir().unwrap()).await
}

impl TestApp {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Stops the server gracefully and waits until its stores are closed.
    async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
        self.dir
    }

    async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let req = self.http.post(self.url(path)).json(&body);
        Self::send(match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        })
        .await
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        Self::send(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        Self::send(self.http.delete(self.url(path)).bearer_auth(token)).await
    }

    async fn upload(&self, child: &str, token: &str, wav: Vec<u8>, content_type: Option<&str>) -> (StatusCode, Value) {
        let req = self.http.post(self.url(&format!("/children/{child}/recordings"))).bearer_auth(token).body(wav);
        Self::send(match content_type {
            Some(ct) => req.header("content-type", ct),
            None => req,
        })
        .await
    }

    /// The ledger's verifier key, as the API serves it.
    async fn public_key(&self) -> String {
        self.http.get(self.url("/ledger/public-key")).send().await.unwrap().text().await.unwrap()
    }

    /// A deletion's receipt, verified with nothing but the served public key.
    async fn verified_receipt(
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
    async fn guardian(&self, email: &str) -> String {
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

    async fn child(&self, token: &str, name: &str) -> String {
        let (s, body) = self.post("/children", Some(token), json!({"display_name": name, "birth_year": 2019})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "pending_consent");
        body["child_id"].as_str().unwrap().to_owned()
    }

    async fn consent(&self, token: &str, child: &str, scopes: &[&str]) {
        let (s, body) = self
            .post(
                &format!("/children/{child}/consents"),
                Some(token),
                json!({"method": "signed_form", "evidence_ref": "form-1", "notice_version": NOTICE, "scopes": scopes}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }

    async fn device(&self, token: &str, child: &str, name: &str) -> (String, String) {
        let (s, body) = self.post("/devices", Some(token), json!({"child_id": child, "name": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        (body["device_id"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
    }

    async fn item(&self, child: &str, device: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/children/{child}/items"), Some(device), body).await
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.dir.path().join("data/kidvault.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Rows in the data store, and bytes in the blob directory: what a refusal must not change.
    fn footprint(&self) -> (i64, i64, u64) {
        let db = self.db();
        let items: i64 = db.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
        let edges: i64 = db.query_row("SELECT count(*) FROM item_edges", [], |r| r.get(0)).unwrap();
        let blobs = walk(&self.dir.path().join("data/blobs")).iter().map(|p| p.metadata().unwrap().len()).sum();
        (items, edges, blobs)
    }
}

const NOTICE: &str = "2026-11-01";

/// The epochs of a child's key still in the keystore (read beside the server).
fn keystore_epochs(root: &Path, child: &str) -> Vec<(u32, Vec<u8>)> {
    let keystore = rusqlite::Connection::open_with_flags(
        root.join("keys/keystore.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let child: uuid::Uuid = child.parse().unwrap();
    let mut stmt =
        keystore.prepare("SELECT epoch, wrapped FROM child_keys WHERE child_id = ?1 ORDER BY epoch").unwrap();
    stmt.query_map([child.as_bytes().to_vec()], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// A second process on a stopped deployment: its vault and the guardian's session.
async fn offline_vault(
    root: &Path,
    token: &str,
) -> (Arc<kidvault_service::Vault>, kidvault_service::access::GuardianSession) {
    let vault = kidvault::app::open(&config_for(root)).unwrap();
    let session = vault.authenticate_guardian(token, chrono::Utc::now()).await.unwrap();
    (vault, session)
}

/// GET with a bearer token, through any client.
async fn fetch(http: &reqwest::Client, url: String, token: &str) -> reqwest::Response {
    http.get(url).bearer_auth(token).send().await.unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
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
fn wav(seconds: f64, seed: u32) -> (Vec<u8>, Vec<i16>) {
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
async fn household(app: &TestApp, email: &str) -> (String, String, String) {
    let g = app.guardian(email).await;
    let child = app.child(&g, "Mia").await;
    app.consent(&g, &child, &["voice", "precise_location"]).await;
    let (_, device) = app.device(&g, &child, "Mia's watch").await;
    (g, child, device)
}

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

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
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
    for (body, ct, status, want) in [
        (b"definitely not a wav".to_vec(), Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audio"),
        (truncated, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_audio"),
        (rate_96k, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "unsupported_audio"),
        (wav(61.0, 1).0, Some("audio/wav"), StatusCode::UNPROCESSABLE_ENTITY, "recording_too_long"),
        (vec![0; 9 * 1024 * 1024], Some("audio/wav"), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (audio.clone(), Some("application/json"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (audio.clone(), None, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    ] {
        let (s, b) = app.upload(&child, &device, body, ct).await;
        assert_eq!((s, code(&b)), (status, want));
    }
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
        format!("/items/{rec_id}"),
        format!("/items/{rec_id}/content"),
    ] {
        let (s, b) = app.get(&path, &g2).await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{path}");
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

// ---- the real binary ----

struct Proc {
    child: std::process::Child,
    base: String,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

fn run_binary(root: &Path, extra: &[&str]) -> Proc {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.join("data"))
        .arg("--key-file")
        .arg(root.join("keys/root.key"))
        .args(extra)
        .env("KIDVAULT_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
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

fn terminate(p: &mut Proc) -> std::process::ExitStatus {
    std::process::Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().unwrap();
    p.child.wait().unwrap()
}

#[tokio::test]
async fn binary_serves_the_demo_household_and_shuts_down_gracefully() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut p = run_binary(dir.path(), &["--demo"]);
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{}/api/v1/sessions", p.base))
        .json(&json!({"email": kidvault::demo::DEMO_EMAIL, "password": kidvault::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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

/// `kill -9` while devices are uploading: everything acknowledged is there after restart.
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
                        acked.lock().unwrap().push((v["item_id"].as_str().unwrap().to_owned(), audio));
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
    for (id, audio) in &acked {
        let got = http.get(format!("{}/api/v1/items/{id}/content", p.base)).bearer_auth(&g).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "acknowledged item {id} lost");
        assert_eq!(&got.bytes().await.unwrap().to_vec(), audio);
    }
    assert!(terminate(&mut p).success());
}

// ---- the ledger ----

fn verifier_from(text: &str) -> kidvault_ledger::checkpoint::Verifier {
    kidvault_ledger::checkpoint::Verifier::parse(text).unwrap()
}

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
#[tokio::test]
async fn ledger_verify_names_the_tampered_entry() {
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

// ---- deletion ----

async fn await_deletion(app: &TestApp, token: &str, id: &str) -> Value {
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

fn copy_dir(from: &Path, to: &Path) {
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

/// Deleting a recording removes its transcript and intent too, leaves the rest,
/// and ends in a receipt that verifies with the public key alone; a backup of the
/// data store and blobs taken before the deletion cannot decrypt the deleted
/// recording with the live keystore and root key.
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

    // The "backup": the data store and the blob directory, copied before the deletion.
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&app.dir.path().join("data"), backup.path());

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
    assert_eq!(
        resp.bytes().await.unwrap().to_vec(),
        other_audio,
        "survivors re-wrapped under the new epoch still open"
    );
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

    // The backup still holds the recording's ciphertext and its wrapped data key;
    // with the live keystore and root key, nothing opens it.
    let b = rusqlite::Connection::open(backup.path().join("kidvault.db")).unwrap();
    let rec_id: uuid::Uuid = rec.parse().unwrap();
    let child_id: kidvault_domain::ids::ChildId = child.parse().unwrap();
    let (epoch, wrapped): (u32, Vec<u8>) = b
        .query_row("SELECT key_epoch, wrapped_key FROM items WHERE id = ?1", [rec_id.as_bytes().to_vec()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(!wrapped.is_empty(), "the backup predates the deletion");
    let live = keystore_epochs(app.dir.path(), &child);
    assert!(!live.is_empty() && live.iter().all(|(e, _)| *e > epoch), "the epoch the backup needs is destroyed");
    let (root, _) = kidvault_crypto::FileKeyProvider::load_or_create(&app.dir.path().join("keys/root.key")).unwrap();
    use kidvault_crypto::KeyProvider;
    for (e, w) in &live {
        let key = root.unwrap(&kidvault_service::keyring::root_context(child_id, *e), w).unwrap();
        for try_epoch in [epoch, *e] {
            let ck = kidvault_crypto::ChildKey::new(key.clone(), *child_id.as_bytes(), try_epoch);
            assert!(ck.unwrap(rec_id.as_bytes(), &wrapped).is_err(), "a live key opened the backup's item key");
        }
    }
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
    let verify_erasure = |root: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
            .args(["verify-erasure", "--child", &child, "--data-dir"])
            .arg(root.join("data"))
            .arg("--key-file")
            .arg(root.join("keys/root.key"))
            .output()
            .unwrap()
    };
    // Before: the scan finds the child everywhere (it is not a scan that cannot fail).
    let before = verify_erasure(app.dir.path());
    assert!(!before.status.success());
    let listing = String::from_utf8_lossy(&before.stdout).into_owned();
    for place in ["table children", "table items", "table devices", "table consents", "keystore.db"] {
        assert!(listing.contains(place), "{place} not reported in:\n{listing}");
    }
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
    let db = app.db();
    let child_id: uuid::Uuid = child.parse().unwrap();
    for table in ["children", "consents", "devices"] {
        let col = if table == "children" { "id" } else { "child_id" };
        let n: i64 = db
            .query_row(&format!("SELECT count(*) FROM {table} WHERE {col} = ?1"), [child_id.as_bytes().to_vec()], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 0, "{table} still holds the child");
    }
    assert!(keystore_epochs(app.dir.path(), &child).is_empty(), "every epoch of the child key is destroyed");
    let (parsed, _) = app.verified_receipt(&g, &id).await;
    assert!(parsed.document.contains("every epoch of the child key"));
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
    for steps_before_crash in 0..5 {
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

/// Several item deletions of one child waiting together share one key rotation:
/// all complete, the keystore holds a single new epoch, survivors still open.
#[tokio::test]
async fn item_deletions_of_one_child_share_one_key_rotation() {
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
    assert_eq!(epochs, vec![2], "one rotation for the four deletions");
    let app = start(dir).await;
    for r in &recs {
        let (s, _) = app.get(&format!("/items/{r}"), &g).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let resp = app.http.get(app.url(&format!("/items/{keep}/content"))).bearer_auth(&g).send().await.unwrap();
    assert_eq!(resp.bytes().await.unwrap().to_vec(), keep_audio);
}
