//! Retention as code: the policy file drives what is published (CLI, API,
//! portal) and the notice version parents consent to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kidvault_domain::retention::DEFAULT_POLICY;
use std::path::Path;

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kidvault")).args(args).output().unwrap()
}

#[tokio::test]
async fn the_published_policy_is_generated_from_the_policy_in_force() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/policy/retention")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "public: no sign-in needed");
    let published: Value = resp.json().await.unwrap();
    assert_eq!(published["notice_version"], NOTICE);
    assert_eq!(published["version"], "2026-11-01");
    let md = published["markdown"].as_str().unwrap().to_owned();
    assert!(md.contains("| Voice recordings |"));
    assert_eq!(published["policy"]["dormancy"]["inactive_after_days"], 548);

    // The CLI renders the same text from the same file.
    let out = cli(&["policy", "render", "--format", "md"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), md);
    let html = String::from_utf8(cli(&["policy", "render", "--format", "html"]).stdout).unwrap();
    assert!(html.contains("<td>Voice recordings</td>"));
    // And the portal's public page.
    let page = app.http.get(format!("{}/privacy/retention", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<td>Voice recordings</td>") && page.contains(NOTICE));

    // A changed policy: new text, new notice version, consent to renew.
    let (g, child, device) = household(&app, "ana@example.org").await;
    let dir = app.stop().await;
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        DEFAULT_POLICY.replace("version = \"2026-11-01\"", "version = \"2027-02\"").replacen(
            "keep_days = 7",
            "keep_days = 3",
            1,
        ),
    )
    .unwrap();
    let config = Config { retention_policy: Some(policy.clone()), ..config_for(dir.path()) };
    let app = start_with(dir, &config).await;
    let published: Value = app.http.get(app.url("/policy/retention")).send().await.unwrap().json().await.unwrap();
    assert_eq!(published["notice_version"], "2026-11-01+retention-2027-02");
    assert!(published["markdown"].as_str().unwrap().contains("| 3 days |"));
    let out = cli(&["policy", "render", "--policy", policy.to_str().unwrap()]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("| 3 days |"));
    let (s, body) = app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await;
    assert_eq!((s, code(&body)), (StatusCode::FORBIDDEN, "consent_required"), "a new policy needs renewed consent");
    let (_, c) = app.get(&format!("/children/{child}"), &g).await;
    assert_eq!(c["consent_renewal_required"], true);
}

#[test]
fn a_bad_policy_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, DEFAULT_POLICY.replace("grace_days = 60", "grace_days = 200")).unwrap();
    let out = cli(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let line = DEFAULT_POLICY[..DEFAULT_POLICY.find("grace_days = 60").unwrap()].matches('\n').count() + 1;
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("line {line}: grace_days is 200")), "{err}");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, DEFAULT_POLICY).unwrap();
    assert!(cli(&["policy", "check", good.to_str().unwrap()]).status.success());
    // A server will not start on a bad policy.
    let config = dir.path().join("kidvault.toml");
    std::fs::write(&config, format!("retention_policy = {:?}\n", bad.to_str().unwrap())).unwrap();
    let out = cli(&["policy", "render", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8(out.stderr).unwrap().contains("grace period may be at most 90"));
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

async fn notices(app: &TestApp, g: &str) -> Vec<Value> {
    let (_, m) = app.get("/notices", g).await;
    m["notices"].as_array().unwrap().clone()
}

/// Runs what the scheduler would at `at`: the sweeps, the deletions they
/// started, and the outbox.
async fn sweep_at(app: &TestApp, at: chrono::DateTime<chrono::Utc>) -> kidvault_service::sweeps::SweepReport {
    let vault = app.vault.as_ref().unwrap();
    let report = vault.sweep(at, false).await.unwrap();
    while vault.run_deletions(at).await.unwrap() > 0 {}
    vault.deliver_notices(at).await.unwrap();
    report
}

#[tokio::test]
async fn dormancy_notices_reminds_keeps_reactivates_and_deletes_by_the_calendar() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let mut kids = Vec::new();
    for name in ["Idle", "Kept", "Back", "Gone"] {
        let child = app.child(&g, name).await;
        app.consent(&g, &child, &["voice"]).await;
        let (_, device) = app.device(&g, &child, "speaker").await;
        assert_eq!(app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await.0, StatusCode::CREATED);
        kids.push((child, device));
    }
    let [(idle, _), (kept, _), (back, back_device), (gone, _)] = kids.as_slice() else { unreachable!() };
    let (s, r) = app.put(&format!("/children/{kept}/retention"), &g, json!({"keep_when_dormant": true})).await;
    assert_eq!((s, r["state"].as_str()), (StatusCode::OK, Some("kept")));
    let now = chrono::Utc::now();

    // 17 months on: no profile is dormant yet (the old recordings have expired).
    let r = sweep_at(&app, now + days(520)).await;
    assert!(r.dormant.is_empty() && r.dormancy_deleted.is_empty());
    assert_eq!(r.expired.len(), 4);

    // 18 months: dormant, guardians told what goes, when, and how to keep it.
    let t1 = now + days(549);
    let r = sweep_at(&app, t1).await;
    let mut dormant: Vec<String> = r.dormant.iter().map(ToString::to_string).collect();
    dormant.sort();
    let mut want = vec![idle.clone(), back.clone(), gone.clone()];
    want.sort();
    assert_eq!(dormant, want, "the kept profile is not dormant");
    let (_, state) = app.get(&format!("/children/{idle}/retention"), &g).await;
    assert_eq!(state["state"], "dormant");
    let deletion_at = (t1 + days(60)).format("%-d %B %Y").to_string();
    let told = notices(&app, &g).await;
    assert_eq!(told.iter().filter(|n| n["kind"] == "dormancy_notice").count(), 3);
    assert!(told[0]["body"].as_str().unwrap().contains(&deletion_at));
    // Each notice names its child in the mailbox (the stored text holds only a marker).
    let bodies: Vec<&str> =
        told.iter().filter(|n| n["kind"] == "dormancy_notice").map(|n| n["body"].as_str().unwrap()).collect();
    for name in ["Idle", "Back", "Gone"] {
        assert!(
            bodies.iter().any(|b| b.starts_with(&format!("The profile of {name} has not been used"))),
            "{bodies:?}"
        );
    }
    assert!(sweep_at(&app, t1 + days(1)).await.dormant.is_empty(), "told once");

    // The child uses a device again: dormancy ends.
    let vault = app.vault.as_ref().unwrap();
    let session = vault.authenticate_device(back_device).await.unwrap();
    vault.ingest_location(&session, back.parse().unwrap(), (52.0, 4.0, 10.0), None, t1 + days(10)).await.unwrap_err(); // no location permission: refused, and not activity
    vault.ingest_recording(&session, back.parse().unwrap(), wav(0.2, 2).0.into(), None, t1 + days(10)).await.unwrap();
    let (_, state) = app.get(&format!("/children/{back}/retention"), &g).await;
    assert_eq!(state["state"], "active");

    // A guardian keeps "Idle" during the grace period (recorded, and undoable).
    let (s, r) = app.put(&format!("/children/{idle}/retention"), &g, json!({"keep_when_dormant": true})).await;
    assert_eq!((s, r["state"].as_str(), r["deletion_at"].is_null()), (StatusCode::OK, Some("kept"), true));
    let (_, r) = app.put(&format!("/children/{kept}/retention"), &g, json!({"keep_when_dormant": false})).await;
    assert_eq!((r["state"].as_str(), r["keep_when_dormant"].as_bool()), (Some("active"), Some(false)), "undone");
    let (_, r) = app.put(&format!("/children/{kept}/retention"), &g, json!({"keep_when_dormant": true})).await;
    assert_eq!(r["state"], "kept");
    let (_, activity) = app.get(&format!("/children/{idle}/activity"), &g).await;
    assert!(activity["entries"].as_array().unwrap().iter().any(|e| e["kind"] == "retention.choice"), "in the ledger");

    // Two weeks before the end: a reminder for what is still dormant.
    let r = sweep_at(&app, t1 + days(47)).await;
    assert_eq!(r.reminded.iter().map(ToString::to_string).collect::<Vec<_>>(), vec![gone.clone()]);
    assert_eq!(notices(&app, &g).await.iter().filter(|n| n["kind"] == "dormancy_reminder").count(), 1);

    // The end of the grace period: "Gone" is deleted, with a receipt and a notice.
    let r = sweep_at(&app, t1 + days(61)).await;
    assert_eq!(r.dormancy_deleted.iter().map(ToString::to_string).collect::<Vec<_>>(), vec![gone.clone()]);
    assert_eq!(r.deletions.len(), 1);
    let id = r.deletions[0].to_string();
    let (_, receipt_entry) = app.verified_receipt(&g, &id).await;
    assert_eq!(receipt_entry.detail.get("reason").map(String::as_str), Some("dormancy"));
    assert!(notices(&app, &g).await.iter().any(|n| n["kind"] == "deletion_completed"
        && n["body"].as_str().unwrap().contains("Why: the profile was not used for a long time")));
    assert_eq!(app.get(&format!("/children/{gone}"), &g).await.0, StatusCode::NOT_FOUND);
    for survivor in [idle, kept, back] {
        assert_eq!(app.get(&format!("/children/{survivor}"), &g).await.0, StatusCode::OK, "{survivor}");
    }
    assert!(erasure_clean(app.dir.path(), &["--child", gone]));
}

#[tokio::test]
async fn items_past_their_period_go_with_everything_derived_and_a_catch_up_run_does_it_all() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let (_, rec) = app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let (_, tr) =
        app.item(&child, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "hi"})).await;
    let tr = tr["item_id"].as_str().unwrap().to_owned();
    let (_, emb) =
        app.item(&child, &device, json!({"kind": "embedding", "derived_from": [tr], "content": [0.1, 0.2]})).await;
    let emb = emb["item_id"].as_str().unwrap().to_owned();
    let (_, loc) = app
        .post(&format!("/children/{child}/locations"), Some(&device), json!({"lat": 52.0, "lon": 4.0, "accuracy_m": 5}))
        .await;
    let loc = loc["item_id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now();

    // A dry run reports and changes nothing.
    let dry = app.vault.as_ref().unwrap().sweep(now + days(40), true).await.unwrap();
    assert_eq!(dry.expired.len(), 4, "recording, transcript, embedding and location are each due for this child");
    assert!(dry.deletions.is_empty());
    assert_eq!(app.get(&format!("/items/{rec}"), &g).await.0, StatusCode::OK);

    // After a week, only the embedding (7 days) is due.
    let r = sweep_at(&app, now + days(8)).await;
    assert_eq!(r.expired.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), vec!["embedding"]);
    assert_eq!(app.get(&format!("/items/{emb}"), &g).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/items/{tr}"), &g).await.0, StatusCode::OK);

    // Long after (the server was down): one run deletes everything due, lineage included.
    let r = sweep_at(&app, now + days(400)).await;
    assert!(!r.deletions.is_empty());
    for gone in [&rec, &tr, &loc] {
        assert_eq!(app.get(&format!("/items/{gone}"), &g).await.0, StatusCode::NOT_FOUND, "{gone}");
    }
    for id in &r.deletions {
        let (_, entry) = app.verified_receipt(&g, &id.to_string()).await;
        assert_eq!(entry.detail.get("reason").map(String::as_str), Some("retention"));
    }
    // Routine expiry is on the deletions page, not in the mailbox; the child stays.
    assert!(notices(&app, &g).await.is_empty());
    assert_eq!(app.get(&format!("/children/{child}"), &g).await.0, StatusCode::OK);
    assert!(sweep_at(&app, now + days(401)).await.deletions.is_empty(), "nothing twice");
}

#[tokio::test]
async fn a_sign_up_never_consented_for_is_deleted_after_14_days() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let pending = app.child(&g, "Never").await;
    let consented = app.child(&g, "Yes").await;
    app.consent(&g, &consented, &["voice"]).await;
    let now = chrono::Utc::now();
    assert!(sweep_at(&app, now + days(13)).await.abandoned.is_empty());
    let r = sweep_at(&app, now + days(15)).await;
    assert_eq!(r.abandoned.iter().map(ToString::to_string).collect::<Vec<_>>(), vec![pending.clone()]);
    assert_eq!(app.get(&format!("/children/{pending}"), &g).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/children/{consented}"), &g).await.0, StatusCode::OK);
    assert_eq!(notices(&app, &g).await.len(), 1, "the guardian is told the profile was deleted");
}

/// A real SMTP server (Python's aiosmtpd, writing a Maildir) on a free port.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(port: u16) -> SmtpServer {
        let maildir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd; .ci/run installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return SmtpServer { child, port, maildir };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start");
    }

    /// Every message received, as raw text.
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail/new");
        let mut out: Vec<String> = std::fs::read_dir(&new)
            .map(|d| d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect())
            .unwrap_or_default();
        out.sort();
        out
    }
}

/// A message's body as text, whatever transfer encoding the mailer chose for
/// it (non-ASCII text is sent as quoted-printable or base64).
fn readable(message: &str) -> String {
    use base64::Engine as _;
    let (head, body) = message.split_once("\r\n\r\n").or_else(|| message.split_once("\n\n")).unwrap_or((message, ""));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(joined).unwrap();
        String::from_utf8(bytes).unwrap()
    } else if head.contains("content-transfer-encoding: quoted-printable") {
        let text = body.replace("=\r\n", "").replace("=\n", "");
        let mut bytes = Vec::new();
        let mut it = text.bytes();
        while let Some(b) = it.next() {
            if b == b'=' {
                let hex: Vec<u8> = it.by_ref().take(2).collect();
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            } else {
                bytes.push(b);
            }
        }
        String::from_utf8(bytes).unwrap()
    } else {
        body.to_owned()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A deployment whose mail relay is a free local port (no server on it yet).
async fn with_relay() -> (TestApp, u16) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
        mail_from: "kidvault <no-reply@kidvault.test>".into(),
        public_url: Some("https://portal.kidvault.test".into()),
        ..config_for(dir.path())
    };
    (start_with(dir, &config).await, port)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_sends_its_notices_over_smtp_and_retries_when_the_relay_is_down() {
    let (app, port) = with_relay().await;
    let (g, child, _) = household(&app, "ana@example.org").await;
    let now = chrono::Utc::now();
    let vault = app.vault.as_ref().unwrap();

    // The relay is down when the profile becomes dormant: the notice waits.
    let r = vault.sweep(now + days(549), false).await.unwrap();
    assert_eq!(r.dormant.len(), 1);
    assert_eq!(vault.deliver_notices(now + days(549)).await.unwrap(), 0);
    let pending = notices(&app, &g).await;
    assert_eq!(pending.len(), 1);
    assert!(pending[0]["delivered_at"].is_null(), "not delivered, kept for a retry");

    // Up again: the retry delivers it, by e-mail.
    let smtp = SmtpServer::start(port);
    assert_eq!(smtp.port, port);
    assert_eq!(vault.deliver_notices(now + days(550)).await.unwrap(), 1);
    let r = vault.sweep(now + days(549 + 47), false).await.unwrap();
    assert_eq!(r.reminded.len(), 1);
    // Ana now reads kidvault in Spanish: the next notice reaches her in Spanish.
    let session = vault.authenticate_guardian(&g, now).await.unwrap();
    vault.set_language(&session, "es-MX").await.unwrap();
    let r = vault.sweep(now + days(549 + 61), false).await.unwrap();
    assert_eq!(r.dormancy_deleted.len(), 1);
    while vault.run_deletions(now + days(549 + 61)).await.unwrap() > 0 {}
    assert_eq!(vault.deliver_notices(now + days(549 + 61)).await.unwrap(), 2, "the reminder and the deletion");

    let mail = smtp.messages();
    assert_eq!(mail.len(), 3, "dormancy notice, reminder, deletion completed: each once");
    for m in &mail {
        assert!(m.contains("To: ana@example.org") && m.contains("From: kidvault <no-reply@kidvault.test>"), "{m}");
        assert!(m.contains("Message-ID: <") && m.contains("@kidvault>"));
        assert!(!m.contains("Mia"), "no child content in e-mail");
    }
    assert!(mail.iter().any(|m| m.contains("Subject: A child profile will be deleted because it is not used")
        && m.contains("https://portal.kidvault.test/portal")
        && m.contains("The profile of your child has not been used")));
    // The reminder was written when the sweep found it due, and is delivered
    // after the switch: it is written in Spanish, for the reader it reaches.
    let reminder = mail.iter().map(|m| readable(m)).find(|m| m.contains("que no se ha usado")).expect("the reminder");
    assert!(reminder.contains("El perfil de su hijo o hija, que no se ha usado, se eliminará"), "{reminder}");
    let deleted = mail.iter().map(|m| readable(m)).find(|m| m.contains("Por qué:")).expect("the deletion notice");
    assert!(deleted.contains("La eliminación que pidió está completa"), "{deleted}");
    assert!(deleted.contains("Por qué: el perfil no se usó durante mucho tiempo"), "{deleted}");
    assert!(deleted.contains("https://portal.kidvault.test/portal/deletions/"), "{deleted}");
    assert!(!deleted.contains("{{") && !deleted.contains("Why:"), "{deleted}");
    let delivered = notices(&app, &g).await;
    assert!(delivered.iter().all(|n| n["delivered_via"] == "smtp"));
    assert_eq!(app.get(&format!("/children/{child}"), &g).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn locations_are_approximate_unless_precise_is_allowed_and_then_only_for_a_day() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let approx = app.child(&g, "Approx").await;
    app.consent(&g, &approx, &["voice", "approximate_location"]).await;
    let (_, approx_device) = app.device(&g, &approx, "watch").await;
    let precise = app.child(&g, "Precise").await;
    app.consent(&g, &precise, &["voice", "precise_location"]).await;
    let (_, precise_device) = app.device(&g, &precise, "watch").await;
    let none = app.child(&g, "None").await;
    app.consent(&g, &none, &["voice"]).await;
    let (_, none_device) = app.device(&g, &none, "watch").await;
    let fix = json!({"lat": 52.370216, "lon": 4.895168, "accuracy_m": 4});
    let post = async |child: &str, device: &str| {
        app.post(&format!("/children/{child}/locations"), Some(device), fix.clone()).await
    };

    // No location permission: refused, nothing stored.
    let (s, body) = post(&none, &none_device).await;
    assert_eq!((s, code(&body)), (StatusCode::FORBIDDEN, "consent_required"));

    // Approximate only: made approximate before it is stored, and the response says so.
    let (s, stored) = post(&approx, &approx_device).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        (stored["precision"].as_str(), stored["category"].as_str()),
        (Some("geohash5"), Some("user.location.imprecise"))
    );
    let id = stored["item_id"].as_str().unwrap();
    let (_, item) = app.get(&format!("/items/{id}"), &g).await;
    assert_eq!(item["content"]["cell"], "u173z");
    let shown = item.to_string();
    assert!(!shown.contains("52.370216") && !shown.contains("4.895168"), "never precise in the API: {shown}");
    let export = fetch(&app.http, app.url(&format!("/children/{approx}/export")), &g).await.bytes().await.unwrap();
    assert!(!export.windows(9).any(|w| w == b"52.370216"), "nor in the export (everything decrypted)");

    // Precise allowed: precise for a day, then approximate in place.
    let (_, stored) = post(&precise, &precise_device).await;
    assert_eq!(stored["precision"], "precise");
    let id = stored["item_id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now();
    let vault = app.vault.as_ref().unwrap();
    assert_eq!(vault.sweep(now + chrono::Duration::hours(23), false).await.unwrap().coarsened, 0);
    let (_, item) = app.get(&format!("/items/{id}"), &g).await;
    assert_eq!(item["content"]["lat"], 52.370216);
    assert_eq!(vault.sweep(now + chrono::Duration::hours(25), false).await.unwrap().coarsened, 1);
    let (_, item) = app.get(&format!("/items/{id}"), &g).await;
    assert_eq!(
        (item["category"].as_str(), item["content"]["cell"].as_str()),
        (Some("user.location.imprecise"), Some("u173z"))
    );
    assert!(!item.to_string().contains("52.370216"));
    // The minimisation was a read of the child's data: it is in the access log.
    let (_, log) = app.get(&format!("/children/{precise}/access-log"), &g).await;
    assert!(log["entries"].as_array().unwrap().iter().any(|e| e["actor"] == "system:retention"
        && e["purpose"] == "retention_minimisation"
        && e["detail"]["what"] == "location.coarsen"));
    assert_eq!(vault.sweep(now + chrono::Duration::hours(26), false).await.unwrap().coarsened, 0, "once");
}

/// A responder for ephemeral audio: answers with how much audio it heard.
async fn responder() -> (String, Arc<std::sync::Mutex<Vec<usize>>>) {
    let heard: Arc<std::sync::Mutex<Vec<usize>>> = Arc::default();
    let state = Arc::clone(&heard);
    let app = axum::Router::new().route(
        "/answer",
        axum::routing::post(move |body: bytes::Bytes| {
            let heard = Arc::clone(&state);
            async move {
                heard.lock().unwrap().push(body.len());
                axum::Json(json!({"answer": "It is sunny today", "heard_bytes": body.len()}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/answer", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, heard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_audio_is_answered_without_consent_and_never_kept() {
    let (url, heard) = responder().await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config { ephemeral_responder_url: Some(url), ..config_for(dir.path()) };
    let app = start_with(dir, &config).await;
    let g = app.guardian("ana@example.org").await;
    let child = app.child(&g, "Mia").await; // no consent at all
    let (_, device) = app.device(&g, &child, "speaker").await;
    let (audio, samples) = wav(0.6, 77);
    let needle: Vec<u8> = samples[4000..4032].iter().flat_map(|s| s.to_le_bytes()).collect();

    // Kept collection is refused without consent...
    let (s, body) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
    assert_eq!((s, code(&body)), (StatusCode::FORBIDDEN, "consent_required"));
    // ...an ephemeral request is answered by the responder, whose answer comes back as is.
    let resp = app
        .http
        .post(app.url(&format!("/children/{child}/ephemeral")))
        .bearer_auth(&device)
        .header("content-type", "audio/wav")
        .body(audio.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["answer"], "It is sunny today");
    assert_eq!(*heard.lock().unwrap(), vec![audio.len()], "handed to the responder, once, whole");

    // Nothing of it is kept: no item, no derivation possible, not a byte on disk; only a count.
    let (_, items) = app.get(&format!("/children/{child}/items"), &g).await;
    assert!(items["items"].as_array().unwrap().is_empty());
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kidvault_ephemeral_audio_answered_total 1"), "{metrics}");
    let dir = app.stop().await;
    for f in walk(dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()), "audio found in {}", f.display());
    }

    // Without a responder, ephemeral audio is not offered; bad audio is refused.
    let app = spawn_app().await;
    let g = app.guardian("bo@example.org").await;
    let child = app.child(&g, "Pip").await;
    let (_, device) = app.device(&g, &child, "speaker").await;
    let send = |body: Vec<u8>| {
        app.http
            .post(app.url(&format!("/children/{child}/ephemeral")))
            .bearer_auth(&device)
            .header("content-type", "audio/wav")
            .body(body)
            .send()
    };
    let resp = send(audio).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "ephemeral_unavailable");
}

#[tokio::test]
async fn the_sweep_command_reports_what_it_would_do_then_does_it() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let abandoned = app.child(&g, "Never").await;
    let dir = app.stop().await;
    let as_of = (chrono::Utc::now() + days(20)).format("%Y-%m-%d").to_string();
    let run = |dry: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"));
        cmd.args(["sweep", "--as-of", &as_of, "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--key-file")
            .arg(dir.path().join("keys/root.key"))
            .args(database_of(dir.path()).map(|url| format!("--database={url}")))
            .args(blob_store_of(dir.path()).map(|url| format!("--blob-store={url}")));
        if dry {
            cmd.arg("--dry-run");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let dry = run(true);
    assert_eq!((dry["dry_run"].as_bool(), dry["abandoned"].clone()), (Some(true), json!([abandoned])));
    assert_eq!(dry["deletions"], json!([]));
    let done = run(false);
    assert_eq!(done["abandoned"], json!([abandoned]));
    assert_eq!(done["deletions"].as_array().unwrap().len(), 1);
    assert_eq!(run(true)["abandoned"], json!([]), "done: nothing due any more");
    assert!(erasure_clean(dir.path(), &["--child", &abandoned]));
    let app = start(dir).await;
    assert_eq!(app.get(&format!("/children/{abandoned}"), &g).await.0, StatusCode::NOT_FOUND);
    let (_, mailbox) = app.get("/notices", &g).await;
    assert_eq!(mailbox["notices"][0]["kind"], "deletion_completed");
}

/// A recording at `at` and the words heard in it: (recording, transcript).
async fn recording_at(app: &TestApp, child: &str, device: &str, at: chrono::DateTime<chrono::Utc>) -> (String, String) {
    let url = app.url(&format!("/children/{child}/recordings?recorded_at={}", at.format("%Y-%m-%dT%H:%M:%SZ")));
    let req = app.http.post(url).bearer_auth(device).header("content-type", "audio/wav").body(wav(0.2, 5).0);
    let (s, rec) = TestApp::send(req).await;
    assert_eq!(s, StatusCode::CREATED, "{rec}");
    let body = json!({"kind": "transcript", "derived_from": [rec["item_id"]], "content": "hello", "recorded_at": at});
    let (s, tr) = app.item(child, device, body).await;
    assert_eq!(s, StatusCode::CREATED, "{tr}");
    (rec["item_id"].as_str().unwrap().to_owned(), tr["item_id"].as_str().unwrap().to_owned())
}

/// A parent chooses how long recordings are kept: never longer than the
/// policy; a shorter choice applies at once to older recordings (with what was
/// derived from them), then by the sweep to each as its time comes; "don't
/// save" refuses kept recordings; each choice is in the child's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parents_auto_delete_choice_keeps_recordings_shorter_never_longer() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let now = chrono::Utc::now();
    let (old, old_words) = recording_at(&app, &child, &device, now - days(10)).await;
    let (recent, _) = recording_at(&app, &child, &device, now - days(2)).await;
    let (fresh, _) = recording_at(&app, &child, &device, now - chrono::Duration::minutes(1)).await;
    let path = format!("/children/{child}/auto-delete");
    let (s, a) = app.get(&path, &g).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!((a["keep_recordings_days"].clone(), a["recordings_kept_days"].clone()), (Value::Null, json!(30)));

    // Longer than the policy is refused and changes nothing.
    let (s, b) = app.put(&path, &g, json!({"keep_recordings_days": 90})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "longer_than_policy"));
    assert_eq!(app.get(&path, &g).await.1["keep_recordings_days"], Value::Null);
    let other = app.guardian("bo@example.org").await;
    assert_eq!(app.put(&path, &other, json!({"keep_recordings_days": 7})).await.0, StatusCode::NOT_FOUND);

    // A week: the 10-day-old recording goes at once, with its words; the rest stay.
    let (s, a) = app.put(&path, &g, json!({"keep_recordings_days": 7})).await;
    assert_eq!((s, a["recordings_kept_days"].clone()), (StatusCode::OK, json!(7)), "{a}");
    let deletion = a["deletion_id"].as_str().expect("a deletion for what is already older").to_owned();
    await_deletion(&app, &g, &deletion).await;
    let (_, entry) = app.verified_receipt(&g, &deletion).await;
    assert_eq!(entry.detail.get("reason").map(String::as_str), Some("auto_delete"));
    for gone in [&old, &old_words] {
        assert_eq!(app.get(&format!("/items/{gone}"), &g).await.0, StatusCode::NOT_FOUND, "{gone}");
    }
    for kept in [&recent, &fresh] {
        assert_eq!(app.get(&format!("/items/{kept}"), &g).await.0, StatusCode::OK, "{kept}");
    }
    let (_, log) = app.get(&format!("/children/{child}/activity"), &g).await;
    let chosen = log["entries"]
        .as_array()
        .or(log.as_array())
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "retention.choice" && e["detail"]["keep_recordings_days"] == "7");
    assert!(chosen, "the choice is in the child's log: {log}");

    // The household page offers what the policy allows and shows the choice; the
    // timeline says when each recording goes.
    let page = portal_page(&app, &g, "/portal").await;
    assert!(
        page.contains(r#"<option value="7" selected>"#) && page.contains(r#"<option value="90" disabled>"#),
        "{page}"
    );
    assert!(page.contains("Each recording is kept 7 days, then deleted automatically."), "{page}");
    // The consent page says what is kept, why and for how long, the choice included.
    let consent = portal_page(&app, &g, &format!("/portal/children/{child}/consent")).await;
    for kept in [
        "<strong>Voice recordings</strong>: Answer the child's request, and let the parent listen to it. Kept 7 days",
        "<strong>Transcripts</strong>: Show the parent what the child asked. Kept 7 days",
    ] {
        assert!(consent.contains(kept), "{kept}: {consent}");
    }
    let timeline = portal_page(&app, &g, &format!("/portal/children/{child}")).await;
    let recent_at = now - days(2);
    let goes = kidvault_domain::localtime::Zone::UTC.on(recent_at + days(7));
    assert!(timeline.contains(&format!("Deleted automatically on {goes}")), "{timeline}");

    // The sweep takes each recording when its week is up, and not before.
    let r = sweep_at(&app, now + days(6)).await;
    assert_eq!(r.auto_deleted.len(), 1, "{r:?}");
    assert_eq!(app.get(&format!("/items/{recent}"), &g).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/items/{fresh}"), &g).await.0, StatusCode::OK);
    assert!(sweep_at(&app, now + days(6)).await.auto_deleted.is_empty(), "nothing twice");

    // "Don't save": what is kept goes now, and the device may not keep more.
    let (s, a) = app.put(&path, &g, json!({"keep_recordings_days": 0})).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    await_deletion(&app, &g, a["deletion_id"].as_str().unwrap()).await;
    assert_eq!(app.get(&format!("/items/{fresh}"), &g).await.0, StatusCode::NOT_FOUND);
    let (s, b) = app.upload(&child, &device, wav(0.2, 9).0, Some("audio/wav")).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "recordings_not_kept"));
    // Back to the policy's period: recordings are kept again.
    let (s, a) = app.put(&path, &g, json!({"keep_recordings_days": null})).await;
    assert_eq!((s, a["recordings_kept_days"].clone()), (StatusCode::OK, json!(30)));
    assert_eq!(app.upload(&child, &device, wav(0.2, 9).0, Some("audio/wav")).await.0, StatusCode::CREATED);
}

/// `kidvault sweep --as-of` on a stopped deployment, optionally killed (abort)
/// once its work on `fault_after` children has committed.
fn sweep_command(dir: &Path, at: chrono::DateTime<chrono::Utc>, fault_after: Option<u32>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"));
    cmd.args(["sweep", "--as-of", &at.to_rfc3339(), "--data-dir"])
        .arg(dir.join("data"))
        .arg("--key-file")
        .arg(dir.join("keys/root.key"))
        .args(database_of(dir).map(|url| format!("--database={url}")))
        .args(blob_store_of(dir).map(|url| format!("--blob-store={url}")))
        .env("KIDVAULT_LOG", "error");
    if let Some(n) = fault_after {
        cmd.env("KIDVAULT_FAULT_AFTER_SWEEP_WRITES", n.to_string());
    }
    cmd.output().unwrap()
}

/// A sweep killed partway (the fault falls once the work on 15 children has
/// committed: a batch's notices, or its deletions before their keys are
/// destroyed) is finished by the next run, which does nothing twice: every
/// dormant profile's guardian is told once, with one ledger entry, and every
/// profile past its grace period is deleted once.
#[tokio::test]
async fn a_sweep_killed_between_children_is_finished_by_the_next_and_does_nothing_twice() {
    const KIDS: usize = 40;
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let mut kids = Vec::new();
    for i in 0..KIDS {
        let child = app.child(&g, &format!("Kid {i}")).await;
        app.consent(&g, &child, &["voice"]).await;
        kids.push(child);
    }
    let dir = app.stop().await;
    let now = chrono::Utc::now();
    let finish = |dir: &Path, at, crashed_after: u32| {
        let killed = sweep_command(dir, at, Some(crashed_after));
        assert!(!killed.status.success(), "the fault should have killed the sweep");
        let out = sweep_command(dir, at, None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };

    // 18 months on: every profile becomes dormant; the first run dies after 15.
    let report = finish(dir.path(), now + days(549), 15);
    assert!(report["dormant"].as_array().unwrap().len() <= KIDS - 15, "{report}");
    let app = start(dir).await;
    for child in &kids {
        let (_, state) = app.get(&format!("/children/{child}/retention"), &g).await;
        assert_eq!(state["state"], "dormant", "{child}");
        let (_, activity) = app.get(&format!("/children/{child}/activity"), &g).await;
        let entries = activity["entries"].as_array().unwrap();
        assert_eq!(entries.iter().filter(|e| e["kind"] == "dormancy.notice").count(), 1, "{child}: one entry");
    }
    let at = now + days(549);
    app.vault.as_ref().unwrap().deliver_notices(at).await.unwrap();
    let told = notices(&app, &g).await;
    assert_eq!(told.iter().filter(|n| n["kind"] == "dormancy_notice").count(), KIDS, "told once per profile");

    // The grace period over: every profile is deleted; the first run dies after 15.
    let dir = app.stop().await;
    let gone_at = now + days(549 + 61);
    let report = finish(dir.path(), gone_at, 15);
    assert!(report["dormancy_deleted"].as_array().unwrap().len() <= KIDS - 15, "{report}");
    let app = start(dir).await;
    let vault = app.vault.as_ref().unwrap();
    while vault.run_deletions(gone_at).await.unwrap() > 0 {}
    vault.deliver_notices(gone_at).await.unwrap();
    for child in &kids {
        assert_eq!(app.get(&format!("/children/{child}"), &g).await.0, StatusCode::NOT_FOUND);
    }
    let done: std::collections::BTreeSet<String> = notices(&app, &g)
        .await
        .iter()
        .filter(|n| n["kind"] == "deletion_completed")
        .map(|n| n["body"].as_str().unwrap().to_owned())
        .collect();
    let all = notices(&app, &g).await.iter().filter(|n| n["kind"] == "deletion_completed").count();
    assert_eq!((all, done.len()), (KIDS, KIDS), "one deletion per profile, none twice");
}

/// Sign-up by e-mail over a real relay: a new address gets an absolute link,
/// a taken one a note that it has an account; with the relay down the sign-up
/// fails as unavailable (the page asks to try again later) and keeps nothing.
#[tokio::test]
async fn sign_up_e_mails_go_through_the_relay() {
    let (app, port) = with_relay().await;
    app.guardian("ana@example.org").await;
    let vault = app.vault.as_ref().unwrap();
    assert!(vault.signs_up_by_mail());
    let now = chrono::Utc::now();
    let down = vault
        .begin_sign_up("rosa@example.org", "a long enough passphrase", "Rosa", None, Default::default(), None, now)
        .await;
    assert!(matches!(down, Err(kidvault_service::ServiceError::Unavailable { .. })), "{down:?}");
    if !on_postgres() {
        let waiting: i64 = app.db().query_row("SELECT count(*) FROM pending_sign_ups", [], |r| r.get(0)).unwrap();
        assert_eq!(waiting, 0, "no link was sent, so none waits");
    }

    let smtp = SmtpServer::start(port);
    for email in ["rosa@example.org", "ana@example.org"] {
        vault
            .begin_sign_up(email, "a long enough passphrase", "Rosa", None, Default::default(), None, now)
            .await
            .unwrap();
    }
    let mail: Vec<String> = smtp.messages().iter().map(|m| readable(m)).collect();
    assert_eq!(mail.len(), 2, "one message per attempt that the relay took");
    let links: Vec<&str> =
        mail.iter().flat_map(|m| m.lines()).filter(|l| l.contains("/portal/sign-up/confirm/")).collect();
    assert_eq!(links.len(), 1, "only the new address gets a link: {mail:?}");
    assert!(links[0].starts_with("https://portal.kidvault.test/portal/sign-up/confirm/kvu_"), "{}", links[0]);
    assert!(mail.iter().any(|m| m.contains("It already has one, and nothing was changed")));
    let token = links[0].rsplit('/').next().unwrap().trim();
    let session = vault.finish_sign_up(token, now).await.unwrap();
    assert!(vault.authenticate_guardian(&session, now).await.is_ok(), "signed in by following the link");
}
