//! Purpose-bound staff access, end to end through the HTTP API: every role ×
//! purpose × action (metadata, content) × guardian grant, against the shipped
//! policy as the README states it; every allowed read is in the child's log
//! for the guardians, every refusal in the privacy officer's denials; break-glass
//! tells the guardians and waits for review; policy reloads are checked and logged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const ROLES: [&str; 7] = ["support", "trust_and_safety", "ml_engineer", "sre", "privacy_officer", "auditor", "admin"];
const PURPOSES: [Option<&str>; 6] =
    [None, Some("support_ticket"), Some("safety_report"), Some("legal_hold"), Some("debugging"), Some("audit")];

/// The default policy, as the README's table says it (written independently of
/// the Cedar file it checks).
fn expected(role: &str, purpose: Option<&str>, content: bool, grant: bool) -> bool {
    match (content, purpose) {
        (_, None) => false,
        (false, Some(p)) => {
            matches!(role, "support" | "trust_and_safety" | "privacy_officer") || (role == "sre" && p == "debugging")
        }
        (true, Some(p)) => {
            (role == "support" && p == "support_ticket" && grant)
                || (role == "trust_and_safety" && p == "safety_report")
                || (role == "privacy_officer" && p == "legal_hold")
        }
    }
}

/// A staff request with its purpose, ticket and (optional) break-glass justification.
async fn staff_get(
    app: &TestApp,
    path: &str,
    token: &str,
    purpose: Option<&str>,
    ticket: &str,
    glass: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut req = app.http.get(app.url(path)).bearer_auth(token).header("kidvault-ticket", ticket);
    if let Some(p) = purpose {
        req = req.header("kidvault-purpose", p);
    }
    if let Some(j) = glass {
        req = req.header("kidvault-break-glass", j);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

/// A recording and the words heard in it; returns the transcript's id.
async fn words(app: &TestApp, child: &str, device: &str, text: &str) -> String {
    let (s, rec) = app.upload(child, device, wav(0.5, 7).0, Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED, "{rec}");
    let body = json!({"kind": "transcript", "derived_from": [rec["item_id"]], "content": text});
    let (s, t) = app.item(child, device, body).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    t["item_id"].as_str().unwrap().to_owned()
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

/// The child's access records made by staff, as its guardian reads them.
async fn staff_reads(app: &TestApp, guardian: &str, child: &str) -> Vec<Value> {
    let (s, log) = app.get(&format!("/children/{child}/activity"), guardian).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let entries = log["entries"].as_array().or(log.as_array()).unwrap().clone();
    entries
        .into_iter()
        .filter(|e| e["kind"] == "access.read" && e["actor"].as_str().unwrap_or_default().starts_with("staff:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_purpose_action_and_grant_state_is_decided_by_the_policy() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "matrix@example.org").await;
    let item = words(&app, &child, &device, "likes dinosaurs").await;
    let root = app.dir.path().to_owned();
    let mut tokens = Vec::new();
    for role in ROLES {
        tokens.push((role, staff(&app, &root, role).await));
    }
    let (mut allowed, mut denied) = (0usize, 0u64);
    for grant in [false, true] {
        if grant {
            let (s, b) = app.post(&format!("/children/{child}/support-access"), Some(&g), json!({"hours": 2})).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
        for (role, token) in &tokens {
            for purpose in PURPOSES {
                for action in ["metadata", "content", "page of content"] {
                    let content = action != "metadata";
                    let path = match action {
                        "metadata" => format!("/staff/children/{child}"),
                        "content" => format!("/staff/items/{item}/content"),
                        _ => format!("/staff/children/{child}/content?kind=transcript"),
                    };
                    let (status, body) = staff_get(&app, &path, token, purpose, "T-4821", None).await;
                    let want = expected(role, purpose, content, grant);
                    let case = format!("{role} {purpose:?} {action} grant={grant}: {}", json_of(&body));
                    if want {
                        assert_eq!(status, StatusCode::OK, "{case}");
                        if action == "content" {
                            assert_eq!(body, b"likes dinosaurs", "{case}");
                        } else if content {
                            assert_eq!(json_of(&body)["items"][0]["content"], "likes dinosaurs", "{case}");
                        } else {
                            assert_eq!(json_of(&body)["counts"]["transcript"], 1, "{case}");
                        }
                        allowed += 1;
                    } else {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
                        let code = json_of(&body)["error"]["code"].as_str().unwrap().to_owned();
                        if purpose.is_none() {
                            assert_eq!(code, "purpose_required", "{case}");
                        }
                        if *role == "support" && content && purpose == Some("support_ticket") {
                            assert_eq!(code, "guardian_grant_required", "{case}");
                        }
                        denied += 1;
                    }
                    // An id that names nothing gets the refusal a child without a
                    // guardian's grant gets: refusals do not tell what exists.
                    if !grant {
                        let nothing = match action {
                            "metadata" => format!("/staff/children/{}", uuid::Uuid::now_v7()),
                            "content" => format!("/staff/items/{}/content", uuid::Uuid::now_v7()),
                            _ => format!("/staff/children/{}/content?kind=transcript", uuid::Uuid::now_v7()),
                        };
                        let (unknown, b) = staff_get(&app, &nothing, token, purpose, "T-4821", None).await;
                        if want {
                            assert_eq!(unknown, StatusCode::NOT_FOUND, "{case}");
                        } else {
                            assert_eq!(unknown, StatusCode::FORBIDDEN, "{case}");
                            assert_eq!(json_of(&b)["error"]["code"], json_of(&body)["error"]["code"], "{case}");
                            denied += 1;
                        }
                    }
                }
            }
        }
    }

    // Every allowed read is in the child's log, saying who (role, not name), why and which ticket.
    let reads = staff_reads(&app, &g, &child).await;
    assert_eq!(reads.len(), allowed, "one record per allowed read");
    for r in &reads {
        assert_eq!(r["detail"]["ticket"], "T-4821");
        let role = r["detail"]["role"].as_str().unwrap();
        assert!(r["actor"].as_str().unwrap().starts_with(&format!("staff:{role}:")), "{r}");
        assert!(!r.to_string().contains("Sam"), "staff names stay out of the log: {r}");
    }
    let support_content: Vec<&Value> = reads
        .iter()
        .filter(|r| r["detail"]["role"] == "support" && r["detail"]["what"] == "transcript.content")
        .collect();
    assert_eq!(support_content.len(), 2, "the single read and the page");
    assert!(support_content.iter().all(|r| r["detail"]["basis"] == "guardian_grant"));

    // Every refusal is the privacy officer's to see, and only theirs.
    let officer = &tokens.iter().find(|(r, _)| *r == "privacy_officer").unwrap().1;
    let (s, d) = app.get("/privacy/denials", officer).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["total"], denied);
    // Refusals of ids that name nothing name no child.
    assert!(d["denials"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["child_id"] == child.as_str() || x["child_id"].is_null()));
    let support = &tokens[0].1;
    let (s, b) = app.get("/privacy/denials", support).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "policy_denied"), "{b}");
    let (s, _) = app.get("/privacy/denials", &g).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a guardian token is not a staff token");
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("kidvault_staff_access_denied {denied}")), "{metrics}");

    // What is missing is named; none of it reads anything.
    let content = format!("/staff/items/{item}/content");
    let (s, b) = staff_get(&app, &content, support, Some("curiosity"), "T-1", None).await;
    assert_eq!((s, code(&json_of(&b)).to_owned()), (StatusCode::FORBIDDEN, "purpose_unknown".to_owned()));
    let (s, b) = staff_get(&app, &content, support, Some("support_ticket"), "", None).await;
    assert_eq!((s, code(&json_of(&b)).to_owned()), (StatusCode::FORBIDDEN, "ticket_required".to_owned()));
    assert_eq!(staff_reads(&app, &g, &child).await.len(), allowed, "refusals read nothing");

    // Revoked: support's next request is refused at once.
    let (s, _) = app.delete(&format!("/children/{child}/support-access"), &g).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = staff_get(&app, &content, support, Some("support_ticket"), "T-4821", None).await;
    assert_eq!((s, code(&json_of(&b)).to_owned()), (StatusCode::FORBIDDEN, "guardian_grant_required".to_owned()));
    let (s, access) = app.get(&format!("/children/{child}/support-access"), &g).await;
    assert_eq!(s, StatusCode::OK);
    assert!(access["active"].is_null(), "{access}");
    assert!(access["recent"][0]["revoked_at"].is_string(), "{access}");
    let (s, b) = app.post(&format!("/children/{child}/support-access"), Some(&g), json!({"hours": 169})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_duration"), "at most 7 days");

    // Another household's guardian cannot grant access to this child.
    let other = app.guardian("other@example.org").await;
    let (s, _) = app.post(&format!("/children/{child}/support-access"), Some(&other), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_tells_the_guardians_and_waits_for_the_privacy_officer() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "glass@example.org").await;
    let item = words(&app, &child, &device, "a secret").await;
    let root = app.dir.path().to_owned();
    let (support, sre, officer) = (
        staff(&app, &root, "support").await,
        staff(&app, &root, "sre").await,
        staff(&app, &root, "privacy_officer").await,
    );
    let content = format!("/staff/items/{item}/content");

    // Denied without the guardian's grant; the refusal says how to override it.
    let (s, b) = staff_get(&app, &content, &support, Some("support_ticket"), "T-9", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // An SRE cannot break the glass: the policy never lets engineers see content.
    let (s, b2) = staff_get(&app, &content, &sre, Some("debugging"), "INC-1", Some("the server is on fire")).await;
    assert_eq!((s, code(&json_of(&b2)).to_owned()), (StatusCode::FORBIDDEN, "policy_denied".to_owned()), "{b:?}");

    let (s, body) =
        staff_get(&app, &content, &support, Some("support_ticket"), "T-9", Some("parent on the phone, urgent")).await;
    assert_eq!((s, body.as_slice()), (StatusCode::OK, b"a secret".as_slice()));
    let reads = staff_reads(&app, &g, &child).await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["detail"]["basis"], "break_glass");

    // The guardians are told at once.
    let (_, mailbox) = app.get("/notices", &g).await;
    let notices = mailbox["notices"].as_array().unwrap();
    let told = notices.iter().find(|n| n["kind"] == "staff_access").expect("a staff_access notice");
    assert!(
        told["body"].as_str().unwrap().contains("Support opened Mia's data to answer a support request (case T-9)"),
        "{told}"
    );

    // The privacy officer must close the review, once.
    let (s, open) = app.get("/privacy/reviews", &officer).await;
    assert_eq!(s, StatusCode::OK, "{open}");
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["justification"], "parent on the phone, urgent");
    assert_eq!(open[0]["ledger_index"], reads[0]["index"]);
    let review = open[0]["review_id"].as_str().unwrap();
    let (s, b) = app
        .post(&format!("/privacy/reviews/{review}"), Some(&support), json!({"justified": true, "note": "fine"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "support cannot review itself: {b}");
    let decision = json!({"justified": false, "note": "should have asked for a grant"});
    let (s, b) = app.post(&format!("/privacy/reviews/{review}"), Some(&officer), decision.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["decision"], "not_justified");
    let (s, b) = app.post(&format!("/privacy/reviews/{review}"), Some(&officer), decision).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "review_closed"));
    let (_, open) = app.get("/privacy/reviews", &officer).await;
    assert!(open.as_array().unwrap().is_empty());
    // The decision is in the child's log for the guardians.
    let (_, log) = app.get(&format!("/children/{child}/activity"), &g).await;
    let entries = log["entries"].as_array().or(log.as_array()).unwrap();
    let reviewed = entries.iter().find(|e| e["kind"] == "access.reviewed").expect("an access.reviewed entry");
    assert_eq!(reviewed["detail"]["decision"], "not_justified");
    // And on the "Who has seen" page, in words, as the notice promised.
    let seen = portal_page(&app, &g, &format!("/portal/children/{child}/seen")).await;
    assert!(seen.contains("The privacy officer reviewed it and found it was not justified."), "{seen}");

    // What the staff member wrote may describe the child: it is sealed under the
    // child's key, so no file of the deployment holds it in words...
    assert_eq!(files_holding(&root, b"parent on the phone"), Vec::<String>::new());
    // ...and once the child's data is deleted, nobody can read it again.
    let (s, d) = app.delete(&format!("/children/{child}"), &g).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    await_deletion(&app, &g, d["deletion_id"].as_str().unwrap()).await;
    let (_, all) = app.get("/privacy/reviews?open=false", &officer).await;
    let all = all.as_array().unwrap();
    assert_eq!((all.len(), &all[0]["justification"]), (1, &Value::Null), "{all:?}");
    assert_eq!(all[0]["decision"], "not_justified", "the review itself outlives the child's data");
}

/// A support agent reads the words of a ticket's recordings a page at a time:
/// each page is one decision and one record naming every item on it, and the
/// parents see one sentence counting them all. Only text pages; the refusals
/// are the single read's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_words_is_one_record_and_one_sentence_for_the_parents() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "pages@example.org").await;
    let said = ["one: dinosaurs", "two: volcanoes", "three: the moon", "four: sharks", "five: trains"];
    let mut ids = Vec::new();
    for text in said {
        ids.push(words(&app, &child, &device, text).await);
    }
    let root = app.dir.path().to_owned();
    let (support, sre) = (staff(&app, &root, "support").await, staff(&app, &root, "sre").await);
    let page = |q: &str| format!("/staff/children/{child}/content?{q}");

    // Refused as a single content read is, and nothing is read.
    let (s, b) = staff_get(&app, &page("kind=transcript"), &support, Some("support_ticket"), "T-77", None).await;
    assert_eq!((s, code(&json_of(&b)).to_owned()), (StatusCode::FORBIDDEN, "guardian_grant_required".to_owned()));
    let (s, b) = staff_get(&app, &page("kind=transcript"), &sre, Some("debugging"), "INC-2", None).await;
    assert_eq!((s, code(&json_of(&b)).to_owned()), (StatusCode::FORBIDDEN, "policy_denied".to_owned()));
    let (s, b) = staff_get(&app, &page("kind=transcript"), &support, None, "T-77", None).await;
    assert_eq!((s, code(&json_of(&b)).to_owned()), (StatusCode::FORBIDDEN, "purpose_required".to_owned()));
    // What cannot be paged is named, before anything is decided.
    for (q, want) in [
        ("", "kind_required"),
        ("kind=voice_recording", "kind_not_pageable"),
        ("kind=embedding", "kind_not_pageable"),
        ("kind=poems", "unknown_kind"),
        ("kind=transcript&limit=0", "invalid_limit"),
    ] {
        let (s, b) = staff_get(&app, &page(q), &support, Some("support_ticket"), "T-77", None).await;
        assert_eq!((s, code(&json_of(&b)).to_owned()), (StatusCode::UNPROCESSABLE_ENTITY, want.to_owned()), "{q}");
    }
    assert!(staff_reads(&app, &g, &child).await.is_empty(), "refusals read nothing");

    // With the guardian's grant: newest first, three then two.
    let (s, b) = app.post(&format!("/children/{child}/support-access"), Some(&g), json!({"hours": 2})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, first) =
        staff_get(&app, &page("kind=transcript&limit=3"), &support, Some("support_ticket"), "T-77", None).await;
    assert_eq!(s, StatusCode::OK);
    let first = json_of(&first);
    let texts = |p: &Value| -> Vec<String> {
        p["items"].as_array().unwrap().iter().map(|i| i["content"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(texts(&first), ["five: trains", "four: sharks", "three: the moon"], "{first}");
    assert_eq!(first["items"][0]["item_id"], ids[4].as_str());
    assert_eq!(first["items"][0]["kind"], "transcript");
    let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
    let (s, second) = staff_get(
        &app,
        &page(&format!("kind=transcript&limit=3&cursor={cursor}")),
        &support,
        Some("support_ticket"),
        "T-77",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let second = json_of(&second);
    assert_eq!(texts(&second), ["two: volcanoes", "one: dinosaurs"]);
    assert!(second["next_cursor"].is_null(), "{second}");

    // Two records, each naming exactly the items of its page.
    let reads = staff_reads(&app, &g, &child).await;
    let named: Vec<Vec<&str>> =
        reads.iter().map(|r| r["subjects"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()).collect();
    assert_eq!(named, [vec![&ids[4], &ids[3], &ids[2]], vec![&ids[1], &ids[0]]], "{reads:?}");
    for r in &reads {
        assert_eq!((&r["detail"]["what"], &r["detail"]["ticket"]), (&json!("transcript.content"), &json!("T-77")));
        assert_eq!(r["detail"]["basis"], "guardian_grant");
    }
    // The parents read one sentence counting all five.
    let seen = portal_page(&app, &g, &format!("/portal/children/{child}/seen")).await;
    let until = chrono::Utc::now() + chrono::Duration::hours(2);
    let sentence = format!(
        "Support (ticket T-77, to answer a support request, with your permission until {}) read 5 of what Mia said on {}.",
        until.format("%-d %b"),
        chrono::Utc::now().format("%-d %b")
    );
    assert!(seen.contains(&sentence), "{sentence} not in {seen}");
    let activity = portal_page(&app, &g, &format!("/portal/children/{child}/activity")).await;
    assert!(activity.contains("Someone at kidvault looked at 3 transcripts of Mia"), "{activity}");
}

/// The deployment's files (under `root`) whose bytes contain `needle`.
fn files_holding(root: &std::path::Path, needle: &[u8]) -> Vec<String> {
    walk(root)
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .map(|f| f.display().to_string())
        .collect()
}

/// A review written by a version that stored the justification in words is
/// sealed under the child's key when the server next starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_justification_stored_in_words_by_an_earlier_version_is_sealed_at_start() {
    let app = spawn_app().await;
    let (_, child, device) = household(&app, "legacy@example.org").await;
    let item = words(&app, &child, &device, "hello").await;
    let root = app.dir.path().to_owned();
    let support = staff(&app, &root, "support").await;
    let content = format!("/staff/items/{item}/content");
    let (s, _) = staff_get(&app, &content, &support, Some("support_ticket"), "T-1", Some("urgent call")).await;
    assert_eq!(s, StatusCode::OK);
    let dir = app.stop().await;

    // As the earlier version left it: the text in the plaintext column, nothing sealed.
    let run = |sql: &str| match database_of(&root) {
        Some(url) => kidvault_store_postgres::testing::execute(&url, sql),
        None => rusqlite::Connection::open(root.join("data/kidvault.db")).unwrap().execute(sql, []).unwrap() as u64,
    };
    let legacy = "UPDATE access_reviews SET justification = 'the mother called about the words', \
                  justification_epoch = NULL, justification_key = NULL, justification_sealed = NULL";
    assert_eq!(run(legacy), 1);

    let app = start(dir).await;
    app.vault.as_ref().unwrap().prepare(chrono::Utc::now()).await.unwrap();
    let officer = staff(&app, &root, "privacy_officer").await;
    let (s, open) = app.get("/privacy/reviews", &officer).await;
    assert_eq!(s, StatusCode::OK, "{open}");
    assert_eq!(open[0]["justification"], "the mother called about the words", "{open}");
    let sealed =
        "UPDATE access_reviews SET ticket = ticket WHERE justification = '' AND justification_sealed IS NOT NULL";
    assert_eq!(run(sealed), 1, "the words are sealed and the plaintext column emptied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_needs_both_factors_once_and_a_disabled_account_is_out_at_once() {
    let app = spawn_app().await;
    household(&app, "signin@example.org").await;
    let root = app.dir.path().to_owned();
    let e = enrol_staff(&root, "auditor");
    let wrong = json!({"key": e["key"], "code": "000000"});
    let (s, b) = app.post("/staff/sign-in", None, wrong).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let (s, b) = app.post("/staff/sign-in", None, json!({"key": "kvk_nope", "code": staff_code(&e, 0)})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, first) = staff_sign_in(&app, &e, 0).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["role"], "auditor");
    let (s, _) = staff_sign_in(&app, &e, 0).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a code works once");
    let token = first["token"].as_str().unwrap();
    let expires: chrono::DateTime<chrono::Utc> = first["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires <= chrono::Utc::now() + chrono::Duration::minutes(61), "sessions are short-lived");
    let (s, _) = app.get("/ledger/entries/0", token).await;
    assert_eq!(s, StatusCode::OK, "auditors read the ledger");
    // Signing out ends that session only.
    let leaving = enrol_staff(&root, "auditor");
    let (_, one) = staff_sign_in(&app, &leaving, 0).await;
    let (_, two) = staff_sign_in(&app, &leaving, 1).await;
    let (one, two) = (one["token"].as_str().unwrap().to_owned(), two["token"].as_str().unwrap().to_owned());
    assert_eq!(app.delete("/staff/sessions/current", &one).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/ledger/entries/0", &one).await.0, StatusCode::UNAUTHORIZED, "signed out");
    assert_eq!(app.get("/ledger/entries/0", &two).await.0, StatusCode::OK, "the other session stays");

    let id = e["staff_id"].as_str().unwrap();
    let out = kidvault_on(&root, &["admin", "disable", id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (s, _) = app.get("/ledger/entries/0", token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "disabling ends every session");
    let (s, _) = staff_sign_in(&app, &e, 1).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "and no sign-in");
    // A stolen key is no use for guessing codes: failures are limited per key.
    let other = enrol_staff(&root, "support");
    for _ in 0..5 {
        let (s, _) = app.post("/staff/sign-in", None, json!({"key": other["key"], "code": "000000"})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = staff_sign_in(&app, &other, 0).await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "even the right code waits: {b}");
    let out = kidvault_on(&root, &["admin", "create", "--role", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("trust_and_safety"), "names the roles");
}

/// The `policy.changed` entries of the ledger: (actor, policy digest), in order.
async fn policy_changes(app: &TestApp, auditor: &str) -> Vec<(String, String)> {
    let note = app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap().text().await.unwrap();
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    let mut changes = Vec::new();
    for i in 0..size {
        let (_, e) = app.get(&format!("/ledger/entries/{i}"), auditor).await;
        if e["kind"] == "policy.changed" {
            changes.push((e["actor"].as_str().unwrap().to_owned(), e["hashes"]["policy"].as_str().unwrap().to_owned()));
        }
    }
    changes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_takes_effect_without_restart_is_logged_and_a_bad_one_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("staff-access.cedar");
    let shipped = include_str!("../../kidvault-service/policy/staff-access.cedar");
    std::fs::write(&policy, shipped).unwrap();
    let env = [("KIDVAULT_ACCESS_POLICY", policy.to_str().unwrap())];

    // A policy that does not validate refuses the start, naming its line.
    std::fs::write(
        &policy,
        format!("{shipped}\npermit (principal, action, resource)\nwhen {{ principal.rank > 3 }};\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--key-file")
        .arg(dir.path().join("keys/root.key"))
        .envs(env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let bad_line = shipped.lines().count() + 3;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("line {bad_line}")), "{stderr}");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_kidvault"))
        .args(["policy", "check-access", policy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains(&format!("line {bad_line}")));

    std::fs::write(&policy, shipped).unwrap();
    let mut p = run_binary_with(dir.path(), &[], &env);
    let app = TestApp::attach(&p.base, tempfile::tempdir().unwrap());
    let (g, child, _) = household(&app, "reload@example.org").await;
    let (t_and_s, admin, auditor) = (
        staff(&app, dir.path(), "trust_and_safety").await,
        staff(&app, dir.path(), "admin").await,
        staff(&app, dir.path(), "auditor").await,
    );
    let meta = format!("/staff/children/{child}");
    let (s, _) = staff_get(&app, &meta, &t_and_s, Some("safety_report"), "SR-1", None).await;
    assert_eq!(s, StatusCode::OK);

    // Without trust and safety's rules: refused after a reload by an admin.
    let narrower =
        shipped.replace("\"support\", \"trust_and_safety\", \"privacy_officer\"", "\"support\", \"privacy_officer\"");
    assert_ne!(narrower, shipped);
    std::fs::write(&policy, &narrower).unwrap();
    let (s, b) = app.post("/admin/access-policy/reload", Some(&auditor), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "auditors do not change the policy: {b}");
    let (s, b) = app.post("/admin/access-policy/reload", Some(&admin), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let digest = b["digest"].as_str().unwrap().to_owned();
    let (s, _) = staff_get(&app, &meta, &t_and_s, Some("safety_report"), "SR-1", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A broken file changes nothing.
    std::fs::write(&policy, "permit (principal, action, resource) when { context.nope };").unwrap();
    let (s, b) = app.post("/admin/access-policy/reload", Some(&admin), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy"), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("line 1"), "{b}");

    // SIGHUP puts the shipped rules back.
    std::fs::write(&policy, shipped).unwrap();
    let pid = p.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let mut back = false;
    for _ in 0..100 {
        if staff_get(&app, &meta, &t_and_s, Some("safety_report"), "SR-1", None).await.0 == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(back, "SIGHUP reloaded the policy");

    // Each change is an entry anyone can verify, naming the policy's digest.
    let changes = policy_changes(&app, &auditor).await;
    // The policy in force at start, the admin's reload, the operator's SIGHUP.
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(changes[0].0, "operator:start");
    assert!(changes[1].0.starts_with("staff:admin:") && changes[1].1 == digest, "{changes:?}");
    assert_eq!((changes[2].0.as_str(), &changes[2].1), ("operator:sighup", &changes[0].1), "the shipped policy again");

    // A restart with the same policy records nothing; one edited while down is recorded at start.
    terminate(&mut p);
    let mut p = run_binary_with(dir.path(), &[], &env);
    let app = TestApp::attach(&p.base, tempfile::tempdir().unwrap());
    let auditor = staff(&app, dir.path(), "auditor").await;
    assert_eq!(policy_changes(&app, &auditor).await.len(), 3);
    terminate(&mut p);
    std::fs::write(&policy, &narrower).unwrap();
    let mut p = run_binary_with(dir.path(), &[], &env);
    let app = TestApp::attach(&p.base, tempfile::tempdir().unwrap());
    let auditor = staff(&app, dir.path(), "auditor").await;
    assert_eq!(policy_changes(&app, &auditor).await.len(), 4);
    let _ = g;
    terminate(&mut p);
}
