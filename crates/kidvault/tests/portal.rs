//! The guardian portal through the real HTTP server: sessions as strict
//! cookies, anti-forgery tokens on every form, one household's view, and
//! deleting from the portal. (The browser tests in tests/browser drive the same
//! pages in Chromium.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kidvault_service::accounts::csrf_token;
use reqwest::header::{HeaderMap, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};

/// A browser-like client for the portal: no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: app.base.clone(), cookies: Vec::new() }
    }

    /// Signed in with the session of an API token (the same kind of session).
    fn signed_in(app: &TestApp, token: &str) -> Self {
        let mut b = Self::new(app);
        b.cookies.push(format!("kv_session={token}"));
        b
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for c in headers.get_all(SET_COOKIE) {
            let pair = c.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
    }

    /// Sends with the cookies held, and keeps the ones the response sets.
    async fn send(&mut self, mut req: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, String) {
        if !self.cookies.is_empty() {
            req = req.header(COOKIE, self.cookies.join("; "));
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        self.keep(&headers);
        (status, headers, resp.text().await.unwrap())
    }

    async fn get(&mut self, path: &str) -> (StatusCode, HeaderMap, String) {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }
}

fn set_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).find(|v| v.starts_with(&format!("{name}=")))
}

fn location(headers: &HeaderMap) -> &str {
    headers.get(LOCATION).unwrap().to_str().unwrap()
}

/// The hidden form token on a page.
fn form_token(html: &str) -> String {
    let at = html.find(r#"name="_csrf" value=""#).expect("a form token on the page") + r#"name="_csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn portal_sessions_are_strict_cookies_and_every_form_needs_its_token() {
    let app = spawn_app().await;
    let api = app.guardian("ana@example.org").await;
    let mut b = Browser::new(&app);

    // No session: sent to sign in, keeping where it was going.
    let (s, h, _) = b.get("/portal/deletions").await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal/sign-in?next=/portal/deletions"));
    let (s, h, page) = b.get("/portal/sign-in?next=/portal/deletions").await;
    assert_eq!(s, StatusCode::OK);
    let csp = h.get(CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"));
    assert!(!page.contains("http://") && !page.contains("https://"), "no external assets");
    let form = set_cookie(&h, "kv_form").unwrap();
    assert!(form.contains("HttpOnly") && form.contains("SameSite=Strict") && !form.contains("Secure"));
    let nonce = form_token(&page);

    // A sign-in posted from elsewhere (no form cookie) is refused.
    let mut stranger = Browser::new(&app);
    let creds = [("_csrf", nonce.as_str()), ("email", "ana@example.org"), ("password", "a long enough password")];
    let (s, _, page) = stranger.post("/portal/sign-in", &creds).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("csrf_failed"));
    assert!(stranger.cookie("kv_session").is_none());

    // A wrong password: the form again, with the error, and no session.
    let wrong = [("_csrf", nonce.as_str()), ("email", "ana@example.org"), ("password", "not the password!")];
    let (s, _, page) = b.post("/portal/sign-in", &wrong).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(page.contains("e-mail or password is wrong"));
    assert!(b.cookie("kv_session").is_none());

    // Right: a strict session cookie, and back to where it was going.
    let nonce = b.cookie("kv_form").unwrap();
    let creds = [
        ("_csrf", nonce.as_str()),
        ("email", "ana@example.org"),
        ("password", "a long enough password"),
        ("next", "/portal/deletions"),
    ];
    let (s, h, _) = b.post("/portal/sign-in", &creds).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal/deletions"));
    let session = set_cookie(&h, "kv_session").unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/"));
    let (s, _, page) = b.get("/portal").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Signed in as <strong>Ana</strong>") && page.contains("ana@example.org"));

    // Behind a TLS proxy the cookie is Secure; an off-site `next` is ignored.
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/portal/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(set_cookie(resp.headers(), "kv_form").unwrap().contains("; Secure"));
    let mut again = Browser::new(&app);
    let (_, _, page) = again.get("/portal/sign-in").await;
    let nonce = form_token(&page);
    let creds = [
        ("_csrf", nonce.as_str()),
        ("email", "ana@example.org"),
        ("password", "a long enough password"),
        ("next", "//evil.example/portal"),
    ];
    let (_, h, _) = again.post("/portal/sign-in", &creds).await;
    assert_eq!(location(&h), "/portal");
    // A `next` carrying a CR/LF (a header split) is ignored too: a redirect, not an error.
    let mut crlf = Browser::new(&app);
    let (_, _, page) = crlf.get("/portal/sign-in").await;
    let nonce = form_token(&page);
    let creds = [
        ("_csrf", nonce.as_str()),
        ("email", "ana@example.org"),
        ("password", "a long enough password"),
        ("next", "/portal\r\nSet-Cookie: kv_session=forged"),
    ];
    let (s, h, _) = crlf.post("/portal/sign-in", &creds).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal"));

    // A form without its token, or with another session's, changes nothing.
    let other = app.guardian("eve@example.org").await;
    for token in ["", "00", csrf_token(&other).as_str()] {
        let (s, _, page) =
            b.post("/portal/children", &[("_csrf", token), ("display_name", "Mia"), ("birth_year", "2019")]).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(page.contains("csrf_failed"));
    }
    let (_, children) = app.get("/children", &api).await;
    assert_eq!(children["children"].as_array().unwrap().len(), 0);
    let (_, _, page) = b.get("/portal").await;
    let token = form_token(&page);
    let (s, h, _) =
        b.post("/portal/children", &[("_csrf", &token), ("display_name", "Mia"), ("birth_year", "2019")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location(&h).ends_with("/consent"));
    let (_, children) = app.get("/children", &api).await;
    assert_eq!(children["children"].as_array().unwrap().len(), 1);

    // The cookie reads through the API (media, receipts, proofs) but never writes.
    let cookie = format!("kv_session={}", b.cookie("kv_session").unwrap());
    let read = app.http.get(app.url("/children")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let write = app
        .http
        .post(app.url("/children"))
        .header(COOKIE, &cookie)
        .json(&json!({"display_name": "Zed", "birth_year": 2020}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);

    // Signing out ends the session on the server, not just in the browser.
    let (s, h, _) = b.post("/portal/sign-out", &[("_csrf", &token)]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal/sign-in"));
    let replay = app.http.get(app.url("/children")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_guardian_sees_nothing_of_another_household_in_the_portal() {
    let app = spawn_app().await;
    let (a, a_child, _) = household(&app, "a@example.org").await;
    let (b, b_child, b_device) = household(&app, "b@example.org").await;
    let (_, rec) = app.upload(&b_child, &b_device, wav(0.3, 1).0, Some("audio/wav")).await;
    let b_item = rec["item_id"].as_str().unwrap().to_owned();
    let (s, d) = app.delete(&format!("/items/{b_item}"), &b).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let b_deletion = d["deletion_id"].as_str().unwrap().to_owned();
    let (_, rec2) = app.upload(&b_child, &b_device, wav(0.3, 2).0, Some("audio/wav")).await;
    let b_item2 = rec2["item_id"].as_str().unwrap().to_owned();

    let mut portal = Browser::signed_in(&app, &a);
    let token = csrf_token(&a);
    for path in [
        format!("/portal/children/{b_child}"),
        format!("/portal/children/{b_child}/activity"),
        format!("/portal/children/{b_child}/consent"),
        format!("/portal/children/{b_child}/delete?what=child"),
        format!("/portal/children/{a_child}/delete?item={b_item2}"),
        format!("/portal/deletions/{b_deletion}"),
    ] {
        let (s, _, page) = portal.get(&path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("Mia's watch") && !page.contains(&b_item2));
    }
    for (path, form) in [
        (format!("/portal/children/{b_child}/delete"), vec![("what", "child")]),
        (format!("/portal/children/{a_child}/delete"), vec![("item", b_item2.as_str())]),
        (format!("/portal/children/{b_child}/consent/withdraw"), vec![("scope", "voice")]),
    ] {
        let mut fields = vec![("_csrf", token.as_str())];
        fields.extend(form);
        let (s, _, _) = portal.post(&path, &fields).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _, page) = portal.get("/portal/deletions").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!page.contains(&b_deletion));
    // B's child and data are untouched.
    let (s, child) = app.get(&format!("/children/{b_child}"), &b).await;
    assert_eq!((s, child["scopes"].as_array().unwrap().len()), (StatusCode::OK, 2));
    let (s, _) = app.get(&format!("/items/{b_item2}"), &b).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn the_portal_confirms_what_a_deletion_takes_then_follows_it_to_its_receipt() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let mut recordings = Vec::new();
    for seed in 0..2 {
        let (_, rec) = app.upload(&child, &device, wav(0.3, seed).0, Some("audio/wav")).await;
        let rec = rec["item_id"].as_str().unwrap().to_owned();
        let (s, _) = app
            .item(
                &child,
                &device,
                json!({"kind": "transcript", "derived_from": [rec], "content": format!("hello {seed}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        recordings.push(rec);
    }
    let mut portal = Browser::signed_in(&app, &g);

    // The timeline shows each recording with its transcript nested under it.
    let (s, _, page) = portal.get(&format!("/portal/children/{child}")).await;
    assert_eq!(s, StatusCode::OK);
    for rec in &recordings {
        assert!(page.contains(&format!(r#"src="/api/v1/items/{rec}/content""#)));
    }
    assert!(page.contains("hello 0") && page.contains("hello 1"));

    // Bad targets are refused with a code, and nothing is deleted.
    for (query, code) in [("", "invalid_scope"), ("day=2026-13-45", "invalid_date"), ("kind=dreams", "invalid_scope")] {
        let (s, _, page) = portal.get(&format!("/portal/children/{child}/delete?{query}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(page.contains(code), "{query}");
    }

    // Deleting the transcripts: the confirmation counts them, and only them.
    let (s, _, page) = portal.get(&format!("/portal/children/{child}/delete?kind=transcript")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("<li>2 transcripts</li>") && !page.contains("voice recording</li>"), "{page}");
    // What it means for backups, honestly: they stop opening one backup window (30 days) from now.
    let backups = (chrono::Utc::now() + chrono::Duration::days(30)).format("%-d %B %Y").to_string();
    assert!(page.contains(&format!("stop opening by <strong>{backups}</strong>")), "{page}");
    // "Erased from disk" only where it is true: not on PostgreSQL, whose files keep
    // remnants, which open with nothing once the seal chain has moved on (reseal.rs).
    let erased = page.contains("destroyed first and erased from disk");
    assert_eq!(erased, !on_postgres(), "{page}");
    let sealed = page.contains("locked remnants of them for a while; within 30 days nothing that could unlock them");
    assert_eq!(sealed, on_postgres(), "{page}");
    // A day: everything recorded that day, lineage included.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (_, _, page) = portal.get(&format!("/portal/children/{child}/delete?day={today}")).await;
    assert!(page.contains("<li>2 voice recordings</li>") && page.contains("<li>2 transcripts</li>"));
    // The whole child: the profile and keys too.
    let (_, _, page) = portal.get(&format!("/portal/children/{child}/delete?what=child")).await;
    assert!(page.contains("profile, consents and paired devices") && page.contains("encryption keys"));

    let token = csrf_token(&g);
    let (s, h, _) =
        portal.post(&format!("/portal/children/{child}/delete"), &[("_csrf", &token), ("kind", "transcript")]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let deletion = location(&h).strip_prefix("/portal/deletions/").unwrap().to_owned();
    await_deletion(&app, &g, &deletion).await;
    let (_, _, page) = portal.get(&format!("/portal/deletions/{deletion}")).await;
    assert!(page.contains(r#"data-step="completed""#) && page.contains("Download the signed receipt"));
    let (_, _, list) = portal.get("/portal/deletions").await;
    assert!(list.contains(&format!(r#"href="/api/v1/deletions/{deletion}/receipt""#)));
    // The transcripts are gone, the recordings stay.
    let (_, _, page) = portal.get(&format!("/portal/children/{child}")).await;
    assert!(!page.contains("hello 0") && page.contains(&recordings[0]) && page.contains(&recordings[1]));
}

/// A client on loopback address 127.0.0.`last` (a household, a school, an attacker).
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, last])).build().unwrap()
}

#[tokio::test]
async fn sign_in_limits_stop_guessing_without_locking_out_a_shared_network() {
    let app = spawn_app().await;
    app.guardian("ana@example.org").await;
    app.guardian("bo@example.org").await;
    let attempt = |client: &reqwest::Client, email: &str, password: &str| {
        let req = client.post(app.url("/sessions")).json(&json!({"email": email, "password": password}));
        async move { req.send().await.unwrap() }
    };
    let (school, home) = (client_from(2), client_from(3));
    for _ in 0..5 {
        assert_eq!(attempt(&school, "ana@example.org", "wrong password!!").await.status(), StatusCode::UNAUTHORIZED);
    }
    // The sixth from that address is refused before the password is looked
    // at, even the right one, for the window.
    let held = attempt(&school, "ana@example.org", "a long enough password").await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = held.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let body: Value = held.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["retry_after"], retry);
    assert!((800..=900).contains(&retry), "{retry}");
    // Another parent behind the same school address signs in.
    assert_eq!(attempt(&school, "bo@example.org", "a long enough password").await.status(), StatusCode::CREATED);
    // Ana herself, from home, waits at most the account's short delay.
    let mut tries = 0;
    loop {
        let resp = attempt(&home, "ana@example.org", "a long enough password").await;
        if resp.status() == StatusCode::CREATED {
            break;
        }
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait <= 2, "a second or two after five failures, not {wait} s");
        tries += 1;
        assert!(tries < 4);
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    }

    // The portal's form says so, with the wait in words.
    for _ in 0..5 {
        assert_eq!(attempt(&app.http, "bo@example.org", "wrong password!!").await.status(), StatusCode::UNAUTHORIZED);
    }
    let mut b = Browser::new(&app);
    let (_, _, page) = b.get("/portal/sign-in").await;
    let nonce = form_token(&page);
    let creds = [("_csrf", nonce.as_str()), ("email", "bo@example.org"), ("password", "a long enough password")];
    let (s, _, page) = b.post("/portal/sign-in", &creds).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("too many failed attempts: try again in 15 minutes"), "{page}");
    assert!(b.cookie("kv_session").is_none());

    // One address guessing across many accounts is held back as a whole once
    // it has failed on 20 of them; everyone else goes on.
    let sprayer = client_from(4);
    for i in 0..20 {
        let email = format!("nobody{i}@example.org");
        assert_eq!(attempt(&sprayer, &email, "wrong password!!").await.status(), StatusCode::UNAUTHORIZED);
    }
    let held = attempt(&sprayer, "ana@example.org", "a long enough password").await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = attempt(&client_from(5), "ana@example.org", "a long enough password").await;
    assert_eq!(elsewhere.status(), StatusCode::CREATED);

    // Sign-ups: 10 per address per window.
    let farm = client_from(6);
    let sign_up = |client: &reqwest::Client, i: usize| {
        let body =
            json!({"email": format!("new{i}@example.org"), "password": "a long enough password", "display_name": "N"});
        let req = client.post(app.url("/guardians")).json(&body);
        async move { req.send().await.unwrap() }
    };
    for i in 0..10 {
        assert_eq!(sign_up(&farm, i).await.status(), StatusCode::CREATED);
    }
    let held = sign_up(&farm, 10).await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = held.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["message"].as_str().unwrap().contains("too many new accounts"), "{body}");
    assert_eq!(sign_up(&client_from(7), 10).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_guardian_sees_every_session_and_revokes_any_of_them() {
    let app = spawn_app().await;
    let first = app.guardian("ana@example.org").await;
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                  Version/18.1 Mobile/15E148 Safari/604.1";
    let creds = json!({"email": "ana@example.org", "password": "a long enough password"});
    let (_, second) =
        TestApp::send(app.http.post(app.url("/sessions")).header("user-agent", iphone).json(&creds)).await;
    let second = second["token"].as_str().unwrap().to_owned();
    let eve = app.guardian("eve@example.org").await;
    // Each session is named by its browser, as the parent would name it.
    let account = portal_page(&app, &first, "/portal/account").await;
    assert!(account.contains("<td>Safari on an iPhone</td>"), "{account}");
    assert!(!account.contains("Mobile/15E148"), "the User-Agent itself is never kept");

    let (s, list) = app.get("/sessions", &first).await;
    assert_eq!(s, StatusCode::OK);
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    assert!(!other_id.contains(&second) && !list.to_string().contains(&second), "never the token itself");

    // Someone else's session, or a made-up id, is not found; nothing changes.
    assert_eq!(app.delete(&format!("/sessions/{other_id}"), &eve).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete("/sessions/not-a-session", &first).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/children", &second).await.0, StatusCode::OK);

    assert_eq!(app.delete(&format!("/sessions/{other_id}"), &first).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/children", &second).await.0, StatusCode::UNAUTHORIZED, "revoked at once");
    let (_, list) = app.get("/sessions", &first).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);

    // The portal's account page lists them, this browser marked.
    let mut portal = Browser::signed_in(&app, &first);
    let (s, _, page) = portal.get("/portal/account").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("(this browser)") && page.contains(r#"data-current="true""#));
}

#[tokio::test]
async fn a_second_guardian_joins_by_a_single_use_invitation_and_shares_the_household() {
    let app = spawn_app().await;
    let (ana, child, device) = household(&app, "ana@example.org").await;
    let (s, invite) = app.post("/household/invites", Some(&ana), json!({})).await;
    assert_eq!(s, StatusCode::CREATED);
    let token = invite["token"].as_str().unwrap().to_owned();
    assert_eq!(invite["url"], format!("/portal/invite/{token}"));

    let join = |email: &str, password: &str| json!({"email": email, "password": password, "display_name": "Bo"});
    // A refused acceptance (weak password, e-mail taken) leaves the invitation usable.
    let (s, body) = app.post(&format!("/invites/{token}/accept"), None, join("bo@example.org", "short")).await;
    assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "weak_password"));
    let (s, body) =
        app.post(&format!("/invites/{token}/accept"), None, join("ana@example.org", "a long enough password")).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "email_taken"));

    // Accepted through the portal's page.
    let mut b = Browser::new(&app);
    let (s, _, page) = b.get(&format!("/portal/invite/{token}")).await;
    assert_eq!(s, StatusCode::OK);
    let nonce = form_token(&page);
    let form = [
        ("_csrf", nonce.as_str()),
        ("display_name", "Bo"),
        ("email", "bo@example.org"),
        ("password", "a long enough password"),
    ];
    let (s, h, _) = b.post(&format!("/portal/invite/{token}"), &form).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal"));
    let (_, _, home) = b.get("/portal").await;
    assert!(home.contains("Signed in as <strong>Bo</strong>") && home.contains("Mia"), "Bo sees Ana's child");

    // Used once: refused the second time, and a made-up token is unknown.
    let (s, body) =
        app.post(&format!("/invites/{token}/accept"), None, join("cy@example.org", "a long enough password")).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "invite_used"));
    let (s, _) = app.post("/invites/kvi_madeup/accept", None, join("cy@example.org", "a long enough password")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Both guardians manage the child, and both are told when a deletion completes.
    let (_, bo) =
        app.post("/sessions", None, json!({"email": "bo@example.org", "password": "a long enough password"})).await;
    let bo = bo["token"].as_str().unwrap().to_owned();
    let (_, rec) = app.upload(&child, &device, wav(0.2, 3).0, Some("audio/wav")).await;
    let (s, d) = app.delete(&format!("/items/{}", rec["item_id"].as_str().unwrap()), &bo).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    await_deletion(&app, &ana, d["deletion_id"].as_str().unwrap()).await;
    app.vault.as_ref().unwrap().deliver_notices(chrono::Utc::now()).await.unwrap();
    for who in [&ana, &bo] {
        let (_, mailbox) = app.get("/notices", who).await;
        assert_eq!(mailbox["notices"].as_array().unwrap().len(), 1, "each guardian gets the notice");
    }
}

#[tokio::test]
async fn email_plus_consent_counts_only_once_its_link_is_followed() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let child = app.child(&g, "Mia").await;
    let (_, device) = app.device(&g, &child, "speaker").await;
    let mut portal = Browser::signed_in(&app, &g);
    let token = csrf_token(&g);

    // Given in the portal by e-mail plus: nothing is recorded yet.
    let form = [
        ("_csrf", token.as_str()),
        ("method", "email_plus"),
        ("evidence_ref", "email-2026-11"),
        ("scopes", "voice"),
        ("scopes", "training"),
    ];
    let (s, h, _) = portal.post(&format!("/portal/children/{child}/consent"), &form).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, format!("/portal/children/{child}/consent/sent").as_str()));
    let (_, _, page) = portal.get(location(&h)).await;
    assert!(page.contains("Check your e-mail") && page.contains("for Mia under this consent"), "{page}");
    let (_, c) = app.get(&format!("/children/{child}"), &g).await;
    assert_eq!((c["status"].as_str(), c["scopes"].as_array().unwrap().len()), (Some("pending_consent"), 0));
    assert_eq!(app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await.0, StatusCode::FORBIDDEN);

    // The link arrives through the outbox.
    app.vault.as_ref().unwrap().deliver_notices(chrono::Utc::now()).await.unwrap();
    let (_, mailbox) = app.get("/notices", &g).await;
    let notice = &mailbox["notices"][0];
    assert_eq!(
        (notice["kind"].as_str(), notice["delivered_via"].as_str()),
        (Some("consent_confirmation"), Some("mailbox"))
    );
    let body = notice["body"].as_str().unwrap();
    // The signed-in guardian's mailbox names the child; the stored text holds only a marker.
    assert!(body.contains("for Mia: Voice") && !body.contains(&child), "{body}");
    if !on_postgres() {
        let stored: String = app.db().query_row("SELECT body FROM notices", [], |r| r.get(0)).unwrap();
        // (Stored as a message of the catalogue, the child's marker escaped in it.)
        assert!(!stored.contains("Mia") && stored.contains(&format!("%7B%7Bchild:{child}%7D%7D")), "{stored}");
    }
    let link = body.lines().find(|l| l.starts_with("/portal/consent/confirm/")).unwrap().to_owned();
    let confirm_token = link.trim_start_matches("/portal/consent/confirm/").to_owned();
    let (_, _, mail_page) = portal.get("/portal/mailbox").await;
    assert!(mail_page.contains(&format!(r#"<a href="{link}">"#)), "the link is clickable in the mailbox");

    // Someone else cannot confirm it; the guardian can, once.
    let eve = app.guardian("eve@example.org").await;
    let (s, _) = app.post("/consents/confirm", Some(&eve), json!({"token": confirm_token})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, page) = portal.get(&link).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Confirm consent"));
    let (s, h, _) = portal.post(&link, &[("_csrf", &token)]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, format!("/portal/children/{child}/consent").as_str()));
    let (_, c) = app.get(&format!("/children/{child}"), &g).await;
    assert_eq!(c["status"], "active");
    assert_eq!(c["scopes"], json!(["voice", "training"]));
    assert_eq!(app.upload(&child, &device, wav(0.2, 2).0, Some("audio/wav")).await.0, StatusCode::CREATED);
    let (_, consents) = app.get(&format!("/children/{child}/consents"), &g).await;
    assert_eq!(consents["consents"][0]["method"], "email_plus");
    let (s, body) = app.post("/consents/confirm", Some(&g), json!({"token": confirm_token})).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "confirmation_used"));
    // Recorded in the ledger like any consent.
    let (_, activity) = app.get(&format!("/children/{child}/activity"), &g).await;
    assert!(activity["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "consent.granted" && e["detail"]["method"] == "email_plus"));
}

#[tokio::test]
async fn two_step_sign_in_needs_a_fresh_code_or_an_unused_recovery_code() {
    use kidvault_crypto::totp;
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let sign_in = |code: Option<&str>| {
        let mut body = json!({"email": "ana@example.org", "password": "a long enough password"});
        if let Some(c) = code {
            body["code"] = json!(c);
        }
        app.post("/sessions", None, body)
    };
    let (s, setup) = app.post("/account/totp", Some(&g), json!({})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(setup["uri"].as_str().unwrap().starts_with("otpauth://totp/kidvault:ana@example.org?secret="));
    let secret = totp::base32_decode(setup["secret"].as_str().unwrap()).unwrap();
    let code_at = |step: i64| format!("{:06}", totp::hotp(&secret, step as u64, 6));
    let now = totp::step_at(chrono::Utc::now().timestamp());
    // Not on until a first code is confirmed.
    assert_eq!(sign_in(None).await.0, StatusCode::CREATED);
    let (s, body) = app.post("/account/totp/enable", Some(&g), json!({"code": "000000"})).await;
    assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "totp_invalid"));
    let (s, body) = app.post("/account/totp/enable", Some(&g), json!({"code": code_at(now)})).await;
    assert_eq!(s, StatusCode::OK);
    let recovery: Vec<String> =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    let (s, body) = app.post("/account/totp", Some(&g), json!({})).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "totp_already_on"));

    // The password alone no longer signs in; a wrong or replayed code does not either.
    let (s, body) = sign_in(None).await;
    assert_eq!((s, code(&body)), (StatusCode::UNAUTHORIZED, "totp_required"));
    let (s, body) = sign_in(Some("123456")).await;
    assert_eq!((s, code(&body)), (StatusCode::UNAUTHORIZED, "totp_invalid"));
    let (s, body) = sign_in(Some(&code_at(now))).await;
    assert_eq!((s, code(&body)), (StatusCode::UNAUTHORIZED, "totp_invalid"), "the enrolment code's step is used up");
    let (s, _) = sign_in(Some(&code_at(now + 1))).await;
    assert_eq!(s, StatusCode::CREATED, "the next step's code (one step of drift allowed)");
    // A recovery code works once (any case, with or without its dash).
    let (s, _) = sign_in(Some(&recovery[0].to_uppercase().replace('-', ""))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = sign_in(Some(&recovery[0])).await;
    assert_eq!((s, code(&body)), (StatusCode::UNAUTHORIZED, "totp_invalid"));

    // The portal's sign-in form takes the code too.
    let mut b = Browser::new(&app);
    let (_, _, page) = b.get("/portal/sign-in").await;
    let nonce = form_token(&page);
    let creds = [("_csrf", nonce.as_str()), ("email", "ana@example.org"), ("password", "a long enough password")];
    let (s, _, page) = b.post("/portal/sign-in", &creds).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Enter the code from your authenticator app"));
    let nonce = b.cookie("kv_form").unwrap();
    let creds = [
        ("_csrf", nonce.as_str()),
        ("email", "ana@example.org"),
        ("password", "a long enough password"),
        ("code", recovery[1].as_str()),
    ];
    let (s, _, _) = b.post("/portal/sign-in", &creds).await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // Off again only with the password.
    let (s, _) = app.post("/account/totp/disable", Some(&g), json!({"password": "not my password"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.post("/account/totp/disable", Some(&g), json!({"password": "a long enough password"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(sign_in(None).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn a_new_privacy_notice_holds_collection_until_consent_is_renewed() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    assert_eq!(app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await.0, StatusCode::CREATED);
    // The operator publishes a new notice version.
    let dir = app.stop().await;
    let config = Config { notice_version: "2027-01-15".into(), ..config_for(dir.path()) };
    let app = start_with(dir, &config).await;

    let mut portal = Browser::signed_in(&app, &g);
    let (_, _, home) = portal.get("/portal").await;
    assert!(home.contains("consent must be renewed"), "the household page says so");
    let (_, _, page) = portal.get(&format!("/portal/children/{child}/consent")).await;
    assert!(page.contains("Our privacy notice changed (now version 2027-01-15+retention-2026-11-01)"));
    let (s, body) = app.upload(&child, &device, wav(0.2, 2).0, Some("audio/wav")).await;
    assert_eq!((s, code(&body)), (StatusCode::FORBIDDEN, "consent_required"), "nothing new until renewed");

    // Renewed in the portal, under the new notice: collection resumes.
    let token = csrf_token(&g);
    let form =
        [("_csrf", token.as_str()), ("method", "signed_form"), ("evidence_ref", "form-renewal"), ("scopes", "voice")];
    let (s, _, _) = portal.post(&format!("/portal/children/{child}/consent"), &form).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, consents) = app.get(&format!("/children/{child}/consents"), &g).await;
    assert!(consents["consents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["notice_version"] == "2027-01-15+retention-2026-11-01"));
    assert_eq!(app.upload(&child, &device, wav(0.2, 3).0, Some("audio/wav")).await.0, StatusCode::CREATED);
    let (_, _, home) = portal.get("/portal").await;
    assert!(!home.contains("consent must be renewed"));
}

/// A recording at `at` with the words heard in it; returns the recording's id.
async fn said_at(app: &TestApp, child: &str, device: &str, at: chrono::DateTime<chrono::Utc>, words: &str) -> String {
    let url = app.url(&format!("/children/{child}/recordings?recorded_at={}", at.format("%Y-%m-%dT%H:%M:%SZ")));
    let req = app.http.post(url).bearer_auth(device).header("content-type", "audio/wav").body(wav(0.2, 3).0);
    let (s, rec) = TestApp::send(req).await;
    assert_eq!(s, StatusCode::CREATED, "{rec}");
    let body = json!({"kind": "transcript", "derived_from": [rec["item_id"]], "content": words, "recorded_at": at});
    let (s, t) = app.item(child, device, body).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    rec["item_id"].as_str().unwrap().to_owned()
}

/// A parent in Los Angeles: a 9:30 pm bedtime story is on its own evening (not
/// the next UTC day), "delete this day" deletes their day and nothing else,
/// and notices speak their time. The zone comes from the browser at sign-in
/// and can be changed on the account page or through the API.
#[tokio::test]
async fn a_parent_in_los_angeles_sees_and_deletes_their_own_evening() {
    use kidvault_domain::localtime::{day_title, Zone};
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let la = Zone::parse("America/Los_Angeles").unwrap();
    let now = chrono::Utc::now();
    let yesterday = la.date(now).pred_opt().unwrap();
    let at = |day: chrono::NaiveDate, h: u32, m: u32| {
        let start = la.start_of(day);
        start + chrono::Duration::hours(i64::from(h)) + chrono::Duration::minutes(i64::from(m))
    };
    said_at(&app, &child, &device, at(yesterday, 21, 30), "read me the bedtime story").await;
    said_at(&app, &child, &device, at(yesterday, 7, 0), "what is for breakfast").await;
    let before = yesterday.pred_opt().unwrap();
    said_at(&app, &child, &device, at(before, 23, 30), "one more late night song").await;

    // The zone is refused unless it is a real one; the browser's is adopted at
    // sign-in only while none is chosen.
    let mut b = Browser::new(&app);
    let (_, _, page) = b.get("/portal/sign-in").await;
    let nonce = form_token(&page);
    assert!(page.contains(r#"name="time_zone" value="" data-detect-zone"#), "the script fills in the browser's zone");
    let creds = [
        ("_csrf", nonce.as_str()),
        ("email", "ana@example.org"),
        ("password", "a long enough password"),
        ("time_zone", "America/Los_Angeles"),
    ];
    let (s, _, page) = b.post("/portal/sign-in", &creds).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let (_, _, page) = b.get("/portal/account").await;
    assert!(page.contains("Times are shown in America/Los Angeles (P"), "{page}");
    assert!(page.contains(r#"<option value="America/Los_Angeles" selected>"#));
    let (s, body) = app.put("/account/time-zone", &g, json!({"time_zone": "Mars/Olympus"})).await;
    assert_eq!((s, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_time_zone"));

    // The voice history: each day is the parent's day, each time their time.
    let (_, _, page) = b.get(&format!("/portal/children/{child}")).await;
    assert!(page.contains("times in America/Los Angeles"), "the zone is named on every page");
    let day_of = |page: &str, day: chrono::NaiveDate| {
        let start = page.find(&format!(r#"aria-label="{day}""#)).unwrap_or_else(|| panic!("no section for {day}"));
        let end = page[start..].find("</section>").unwrap() + start;
        page[start..end].to_owned()
    };
    let evening = day_of(&page, yesterday);
    assert!(evening.contains(&day_title(yesterday)), "{evening}");
    for seen in ["9:30 pm", "read me the bedtime story", "7:00 am", "what is for breakfast"] {
        assert!(evening.contains(seen), "{seen} is not on {yesterday}: {evening}");
    }
    assert!(!evening.contains("late night"), "{evening}");
    let earlier = day_of(&page, before);
    assert!(earlier.contains("11:30 pm") && earlier.contains("one more late night song"), "{earlier}");
    // The date filter selects the parent's day too.
    let (_, _, only) = b.get(&format!("/portal/children/{child}?from={yesterday}&to={yesterday}")).await;
    assert!(only.contains("bedtime story") && only.contains("breakfast") && !only.contains("late night"));

    // "Delete this day": the preview counts that evening and morning only...
    let (_, _, preview) = b.get(&format!("/portal/children/{child}/delete?day={yesterday}")).await;
    assert!(preview.contains("<li>2 voice recordings</li>") && preview.contains("<li>2 transcripts</li>"), "{preview}");
    assert!(preview.contains(&format!("recorded on {}", yesterday.format("%-d %B %Y"))), "{preview}");
    // ...and lists what was said in it, with the parent's times, newest first.
    let weekday = yesterday.format("%a %-d %b");
    let said = format!(
        "<ul class=\"said\"><li>{weekday}, 9:30 pm: “read me the bedtime story”</li>\
         <li>{weekday}, 7:00 am: “what is for breakfast”</li></ul>"
    );
    assert!(preview.contains(&said), "{said} not in {preview}");
    assert!(!preview.contains("late night") && !preview.contains("and more"), "{preview}");
    // A day with more than six things said shows six, and says there is more.
    let older = before.pred_opt().unwrap();
    for n in 0..7u32 {
        said_at(&app, &child, &device, at(older, 8 + n, 0), &format!("question number {n}")).await;
    }
    let (_, _, busy) = b.get(&format!("/portal/children/{child}/delete?day={older}")).await;
    assert_eq!(busy.matches("“question number").count(), 6, "{busy}");
    assert!(busy.contains("<p class=\"meta\">…and more.</p>"), "{busy}");
    assert!(!busy.contains("question number 0"), "the newest six: {busy}");
    // ...and deletes exactly them.
    let token = csrf_token(&b.cookie("kv_session").unwrap());
    let day = yesterday.to_string();
    let (s, h, _) =
        b.post(&format!("/portal/children/{child}/delete"), &[("_csrf", token.as_str()), ("day", day.as_str())]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let deletion = location(&h).strip_prefix("/portal/deletions/").unwrap().to_owned();
    let done = await_deletion(&app, &g, &deletion).await;
    let (_, _, page) = b.get(&format!("/portal/children/{child}")).await;
    assert!(!page.contains("bedtime story") && !page.contains("breakfast") && page.contains("late night"), "{page}");

    // The notice that the deletion is complete speaks Los Angeles time.
    let requested: chrono::DateTime<chrono::Utc> = done["requested_at"].as_str().unwrap().parse().unwrap();
    let (_, mailbox) = app.get("/notices", &g).await;
    let notice = mailbox["notices"].as_array().unwrap().iter().find(|n| n["kind"] == "deletion_completed").unwrap();
    let body = notice["body"].as_str().unwrap();
    assert!(body.contains(&format!("Asked for: {}", la.at(requested))), "{body}");
    assert!(!body.contains("UTC") && !body.contains("{{"), "{body}");
}

/// Pairing as TVs do it (RFC 8628): the device asks for a code, the parent
/// types its 8 letters on the child's devices page, the device collects its
/// token by polling, once. A reload or a second approval pairs nothing more;
/// a wrong code, another household's child or a used code are refused.
#[tokio::test]
async fn a_device_pairs_with_the_code_it_shows_once_and_collects_its_token_once() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let child = app.child(&g, "Mia").await;
    app.consent(&g, &child, &["voice"]).await;
    let (s, asked) = app.post("/device/code", None, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{asked}");
    let user_code = asked["user_code"].as_str().unwrap().to_owned();
    assert!(user_code.len() == 9 && user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert!(asked["verification_uri_complete"].as_str().unwrap().ends_with(&format!("/portal/pair?code={user_code}")));
    let device_code = asked["device_code"].as_str().unwrap().to_owned();
    let grant = "urn:ietf:params:oauth:grant-type:device_code";
    let poll = || app.post("/device/token", None, json!({"grant_type": grant, "device_code": device_code}));
    let (s, b) = poll().await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("authorization_pending")));
    let (_, b) = poll().await;
    assert_eq!(b["error"], "slow_down", "polling faster than the interval");
    let (s, b) = app.post("/device/token", None, json!({"grant_type": "password", "device_code": device_code})).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));

    let mut b = Browser::signed_in(&app, &g);
    let token = csrf_token(&g);
    let pair =
        |code: &str| [("_csrf", token.clone()), ("code", code.to_owned()), ("name", "Kitchen speaker".to_owned())];
    let path = format!("/portal/children/{child}/devices");
    // A code no device is waiting with, or one that cannot be a code: the form again, nothing paired.
    let wrong: String = user_code.chars().rev().collect();
    for (code, status, message) in [
        (wrong.as_str(), StatusCode::UNPROCESSABLE_ENTITY, "No device is waiting with this code"),
        ("1234-5678", StatusCode::UNPROCESSABLE_ENTITY, "The code has 8 letters"),
    ] {
        let form = pair(code);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, _, page) = b.post(&path, &form).await;
        assert_eq!(s, status, "{code}");
        assert!(page.contains(message), "{page}");
    }
    // Another household cannot pair to its own child with this code on our child's page, nor see ours.
    let other = app.guardian("bo@example.org").await;
    let mut stranger = Browser::signed_in(&app, &other);
    let other_token = csrf_token(&other);
    let (s, _, _) =
        stranger.post(&path, &[("_csrf", other_token.as_str()), ("code", user_code.as_str()), ("name", "mine")]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The code as a parent might type it: lower case, a space instead of the dash.
    let typed = user_code.to_lowercase().replace('-', " ");
    let form = pair(&typed);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, h, _) = b.post(&path, &form).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let shown = location(&h).to_owned();
    assert!(shown.starts_with(&format!("{path}?paired=")), "{shown}");
    let (_, _, page) = b.get(&shown).await;
    assert!(page.contains("Kitchen speaker is paired"), "{page}");
    b.get(&shown).await;
    let (s, _, page) = b.post(&path, &form).await;
    assert_eq!(s, StatusCode::CONFLICT, "the same code pairs once");
    assert!(page.contains("already paired a device"));
    let (_, _, page) = b.get(&path).await;
    assert_eq!(page.matches("<tr data-device=").count(), 1, "one device: {page}");

    // The device collects its token, once, and uses it.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let (s, got) = poll().await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["token_type"], "Bearer");
    let device_token = got["access_token"].as_str().unwrap().to_owned();
    let (s, rec) = app.upload(&child, &device_token, wav(0.2, 1).0, Some("audio/wav")).await;
    assert_eq!(s, StatusCode::CREATED, "{rec}");
    let (s, b2) = poll().await;
    assert_eq!((s, b2["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "the token is given once");

    // Guessing codes is limited per guardian: after 10 wrong codes even a right one waits.
    let bo = app.guardian("cy@example.org").await;
    let pip = app.child(&bo, "Pip").await;
    let mut bo_browser = Browser::signed_in(&app, &bo);
    let bo_token = csrf_token(&bo);
    let bo_path = format!("/portal/children/{pip}/devices");
    for _ in 0..10 {
        let (s, _, _) =
            bo_browser.post(&bo_path, &[("_csrf", &bo_token), ("code", "BBBB-BBBB"), ("name", "guess")]).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (_, fresh) = app.post("/device/code", None, json!({})).await;
    let right = fresh["user_code"].as_str().unwrap();
    let (s, _, page) = bo_browser.post(&bo_path, &[("_csrf", &bo_token), ("code", right), ("name", "speaker")]).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("too many wrong codes: try again in"), "{page}");

    // Asking for codes needs no account, so it is limited per address (10 per 15 minutes, as sign-ups).
    for _ in 0..8 {
        assert_eq!(app.post("/device/code", None, json!({})).await.0, StatusCode::OK);
    }
    let (s, b) = app.post("/device/code", None, json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
}

/// The text a reader sees on a page: no tags, scripts, styles or attribute
/// values; entities decoded; e-mail addresses (the guardian's own) removed.
fn visible_text(html: &str) -> String {
    let blocks = regex::Regex::new(r"(?s)<(script|style)[^>]*>.*?</(script|style)>").unwrap();
    let tags = regex::Regex::new(r"(?s)<[^>]*>").unwrap();
    let emails = regex::Regex::new(r"\S+@\S+").unwrap();
    let text = tags.replace_all(&blocks.replace_all(html, " "), " ").into_owned();
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    emails.replace_all(&text, " ").into_owned()
}

/// What a parent must never read on a page: ids, JSON, codes, category keys,
/// API paths and command names, and the engineers' words.
fn engineering_words(text: &str) -> Vec<String> {
    let patterns = [
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}", "an id"),
        (r"\b[0-9a-f]{8,}\b", "a hex id"),
        (r#"\{\s*"|":"#, "JSON"),
        (r"\buser\.[a-z_.]+", "a data category key"),
        (r"\b[a-z]+_[a-z_]+\b", "a snake_case code"),
        (r"\b[a-z]+\.[a-z_]+\b", "a dotted code"),
        (r"/api/|verify-receipt|--[a-z]", "an API path or command"),
        (r"(?i)\b(lineage|epochs?|ledger|proofs?|items?|derived|intents?|household [0-9a-f])\b", "an internal term"),
    ];
    let mut found = Vec::new();
    for (pattern, what) in patterns {
        for m in regex::Regex::new(pattern).unwrap().find_iter(text) {
            let start = text[..m.start()].char_indices().rev().nth(30).map_or(0, |(i, _)| i);
            let end = text[m.end()..].char_indices().nth(30).map_or(text.len(), |(i, _)| m.end() + i);
            found.push(format!(
                "{what} «{}» in …{}…",
                m.as_str(),
                text[start..end].split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    found
}

/// Every portal page, with the demo household's three weeks of data, a
/// deletion, a notice, paired devices and locations, speaks plain words: no
/// ids, JSON, codes, category keys, API paths or internal terms on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_page_speaks_plain_words() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    kidvault::demo::seed(app.vault.as_ref().unwrap(), now).await.unwrap();
    let (_, s) = app
        .post(
            "/sessions",
            None,
            json!({"email": kidvault::demo::DEMO_EMAIL, "password": kidvault::demo::DEMO_PASSWORD}),
        )
        .await;
    let g = s["token"].as_str().unwrap().to_owned();
    let (_, kids) = app.get("/children", &g).await;
    let child = kids["children"][0]["child_id"].as_str().unwrap().to_owned();
    let (_, items) = app.get(&format!("/children/{child}/items?kind=voice_recording&limit=2"), &g).await;
    let rec = items["items"][0]["item_id"].as_str().unwrap().to_owned();
    let (_, d) = app.delete(&format!("/items/{rec}"), &g).await;
    let deletion = d["deletion_id"].as_str().unwrap().to_owned();
    await_deletion(&app, &g, &deletion).await;
    app.vault.as_ref().unwrap().deliver_notices(chrono::Utc::now()).await.unwrap();
    let other = items["items"][1]["item_id"].as_str().unwrap().to_owned();
    let yesterday = (now - chrono::Duration::days(1)).format("%Y-%m-%d");

    let pages = [
        "/portal".to_owned(),
        format!("/portal/children/{child}"),
        format!("/portal/children/{child}/activity"),
        format!("/portal/children/{child}/locations"),
        format!("/portal/children/{child}/seen"),
        format!("/portal/children/{child}/shared"),
        format!("/portal/children/{child}/consent"),
        format!("/portal/children/{child}/devices"),
        format!("/portal/children/{child}/delete?item={other}"),
        format!("/portal/children/{child}/delete?day={yesterday}"),
        format!("/portal/children/{child}/delete?kind=transcript"),
        format!("/portal/children/{child}/delete?what=child"),
        "/portal/deletions".to_owned(),
        format!("/portal/deletions/{deletion}"),
        "/portal/mailbox".to_owned(),
        "/portal/account".to_owned(),
        "/portal/pair".to_owned(),
        "/privacy/retention".to_owned(),
    ];
    let mut found = Vec::new();
    for path in &pages {
        let text = visible_text(&portal_page(&app, &g, path).await);
        found.extend(engineering_words(&text).into_iter().map(|f| format!("{path}: {f}")));
    }
    for path in ["/portal/sign-in", "/portal/sign-up"] {
        let html = app.http.get(format!("{}{path}", app.base)).send().await.unwrap().text().await.unwrap();
        found.extend(engineering_words(&visible_text(&html)).into_iter().map(|f| format!("{path}: {f}")));
    }
    assert!(found.is_empty(), "{} engineering words on screen:\n{}", found.len(), found.join("\n"));
}

/// The voice history pages both ways, shows one device's share, and finds
/// words said (marked); the locations page merges repeats of one place and
/// draws approximate places as areas, saying until when a point is precise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_history_pages_both_ways_filters_by_device_finds_words_and_merges_places() {
    let app = spawn_app().await;
    let (g, child, watch) = household(&app, "ana@example.org").await;
    let (speaker_id, speaker) = app.device(&g, &child, "Kitchen speaker").await;
    let now = chrono::Utc::now();
    for i in 0..35 {
        let at = now - chrono::Duration::minutes(100 - i);
        said_at(&app, &child, &watch, at, &format!("question number {i}")).await;
    }
    said_at(&app, &child, &speaker, now - chrono::Duration::minutes(1), "sing the Moon song").await;

    let first = portal_page(&app, &g, &format!("/portal/children/{child}")).await;
    assert!(!first.contains("← Newer") && first.contains("Older →"), "the newest page has no newer page");
    assert!(first.contains(r#"download="recording-"#) && first.contains("Download the recording"));
    let href = |page: &str, label: &str| {
        let at = page.find(label).unwrap_or_else(|| panic!("no {label} link"));
        let start = page[..at].rfind("href=\"").unwrap() + 6;
        page[start..].split('"').next().unwrap().replace("&amp;", "&")
    };
    let older = portal_page(&app, &g, &href(&first, "Older →")).await;
    assert!(older.contains("question number 0") && !older.contains("Moon song"));
    let newer = portal_page(&app, &g, &href(&older, "← Newer")).await;
    let ids = |page: &str| {
        regex::Regex::new(r#"id="item-([0-9a-f-]+)""#)
            .unwrap()
            .captures_iter(page)
            .map(|c| c[1].to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&newer), ids(&first), "newer from the second page is the first page again");

    // One device's share.
    let speaker_only = portal_page(&app, &g, &format!("/portal/children/{child}?device={speaker_id}")).await;
    assert!(speaker_only.contains("Moon song") && !speaker_only.contains("question number"), "{speaker_only}");
    assert!(speaker_only.contains("Delete everything Kitchen speaker sent…"), "{speaker_only}");

    // Words said, marked, whatever their case.
    let found = portal_page(&app, &g, &format!("/portal/children/{child}?q=moon")).await;
    assert!(found.contains("“moon”: said once") && found.contains("<mark>Moon</mark> song"), "{found}");
    let none = portal_page(&app, &g, &format!("/portal/children/{child}?q=dragons")).await;
    assert!(none.contains("said nowhere in these dates"));

    // Everything one device sent can go, and only that: the preview names the device and counts its share.
    let preview = portal_page(&app, &g, &format!("/portal/children/{child}/delete?device={speaker_id}")).await;
    assert!(
        preview.contains("that Kitchen speaker sent") && preview.contains("<li>1 voice recording</li>"),
        "{preview}"
    );
    assert!(preview.contains("<li>1 transcript</li>") && preview.contains("2 things in all"), "{preview}");
    let other = app.guardian("bo@example.org").await;
    let other_child = app.child(&other, "Pip").await;
    let body = json!({"device_id": speaker_id});
    let (s, b) = app.post(&format!("/children/{other_child}/deletions"), Some(&other), body.clone()).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_device"), "another child's device");
    let (s, d) = app.post(&format!("/children/{child}/deletions"), Some(&g), body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    await_deletion(&app, &g, d["deletion_id"].as_str().unwrap()).await;
    let after = portal_page(&app, &g, &format!("/portal/children/{child}")).await;
    assert!(!after.contains("Moon song") && after.contains("question number 34"), "only that device's share went");

    // Three fixes at one spot are one place; after the precise period the spot is an area.
    for m in [30, 20, 10] {
        let at = (now - chrono::Duration::minutes(m)).to_rfc3339();
        let fix =
            json!({"lat": 52.37020 + f64::from(m as i32) * 1e-6, "lon": 4.89520, "accuracy_m": 8, "recorded_at": at});
        assert_eq!(app.post(&format!("/children/{child}/locations"), Some(&watch), fix).await.0, StatusCode::CREATED);
    }
    let page = portal_page(&app, &g, &format!("/portal/children/{child}/locations")).await;
    assert_eq!(page.matches("<tr data-times=").count(), 1, "{page}");
    assert!(page.contains(r#"<tr data-times="3">"#) && page.contains("3 times between"), "{page}");
    assert!(page.contains("Precise until") && page.contains(r#"class="point""#));
    app.vault.as_ref().unwrap().sweep(now + chrono::Duration::hours(25), false).await.unwrap();
    let page = portal_page(&app, &g, &format!("/portal/children/{child}/locations")).await;
    assert!(page.contains("Somewhere in this ~") && page.contains(r#"class="area""#), "{page}");
    assert!(!page.contains("Precise until"), "{page}");
    // Who has seen it: no person, but kidvault's own process read those places; the page says so.
    let seen = portal_page(&app, &g, &format!("/portal/children/{child}/seen")).await;
    assert!(
        seen.contains("kidvault's retention process read 3 of Mia's precise places to make them approximate"),
        "{seen}"
    );
}

/// Two-step set-up in the portal: a QR code drawn in the page (nothing
/// inline that the Content-Security-Policy would block), the key in groups of
/// four, the same key on every reload (and if set-up is asked for again) until
/// a code confirms it, a wrong code keeping the form, and the recovery codes
/// offered as a file.
#[tokio::test]
async fn two_step_set_up_in_the_portal_keeps_its_key_until_confirmed() {
    use kidvault_crypto::totp;
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let mut b = Browser::signed_in(&app, &g);
    let token = csrf_token(&g);
    let (s, h, _) = b.post("/portal/totp", &[("_csrf", &token)]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal/totp"));
    let key = |page: &str| {
        let at = page.find(r#"id="totp-secret">"#).unwrap() + r#"id="totp-secret">"#.len();
        page[at..].split('<').next().unwrap().to_owned()
    };
    let (_, _, page) = b.get("/portal/totp").await;
    assert!(page.contains(r#"<svg role="img" aria-label="QR code for your authenticator app""#), "{page}");
    let svg = &page[page.find("<svg role=").unwrap()..page.find("</svg>").unwrap()];
    assert!(!svg.contains("style="), "no inline style for the CSP to block");
    let first = key(&page);
    assert!(first.split(' ').all(|g| g.len() <= 4) && first.split(' ').count() >= 8, "{first}");
    let (_, _, again) = b.get("/portal/totp").await;
    assert_eq!(key(&again), first, "a reload keeps the key");
    b.post("/portal/totp", &[("_csrf", &token)]).await;
    let (_, _, again) = b.get("/portal/totp").await;
    assert_eq!(key(&again), first, "asking again keeps the key until it is confirmed");

    let (s, _, page) = b.post("/portal/totp/enable", &[("_csrf", &token), ("code", "000000")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That code is not right") && key(&page) == first);
    let secret = totp::base32_decode(&first.replace(' ', "")).unwrap();
    let code = format!("{:06}", totp::hotp(&secret, totp::step_at(chrono::Utc::now().timestamp()) as u64, 6));
    let (s, _, page) = b.post("/portal/totp/enable", &[("_csrf", &token), ("code", &code)]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page.matches("<li><code>").count(), 10);
    assert!(page.contains(r#"download="kidvault-recovery-codes.txt""#) && page.contains("href=\"data:text/plain"));
    let (s, h, _) = b.get("/portal/totp").await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal/account#totp"), "nothing pending once on");
}

/// Forms that create something redirect after POST: an invitation link is
/// shown once on the page the form leads to, and reloading that page makes no
/// second invitation (it says the link was shown once).
#[tokio::test]
async fn an_invitation_link_is_shown_once_and_a_reload_makes_no_other() {
    let app = spawn_app().await;
    let g = app.guardian("ana@example.org").await;
    let mut b = Browser::signed_in(&app, &g);
    let token = csrf_token(&g);
    let (s, h, _) = b.post("/portal/invites", &[("_csrf", &token)]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal/invites/new"));
    let (_, _, page) = b.get("/portal/invites/new").await;
    let at = page.find("/portal/invite/kvi_").expect("the link, once") + "/portal/invite/".len();
    let invite = page[at..].split('<').next().unwrap().to_owned();
    let (_, _, again) = b.get("/portal/invites/new").await;
    assert!(!again.contains("kvi_") && again.contains("shown only once"), "{again}");
    // The link works.
    let joiner = json!({"email": "bo@example.org", "password": "another long password", "display_name": "Bo"});
    let (s, body) = app.post(&format!("/invites/{invite}/accept"), None, joiner).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

/// The portal speaks the parent's language: the browser's (`Accept-Language`)
/// until the parent picks one, then the one they picked, on every page,
/// including the error pages and the times (24-hour clock, Spanish months).
#[tokio::test]
async fn the_portal_speaks_the_language_the_parent_reads() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "lucia@example.org").await;
    let mut b = Browser::signed_in(&app, &g);
    let get_in = |b: &Browser, path: &str, accept: &str| {
        let mut req = b.http.get(format!("{}{path}", b.base)).header("accept-language", accept);
        if !b.cookies.is_empty() {
            req = req.header(COOKIE, b.cookies.join("; "));
        }
        req
    };

    // The browser's language, among those kidvault has.
    let (s, _, page) = b.send(get_in(&b, "/portal", "es-MX,es;q=0.9,en;q=0.5")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(r#"<html lang="es">"#), "{page}");
    assert!(page.contains("<h1>Su hogar</h1>") && page.contains("Añadir un niño"), "{page}");
    assert!(!page.contains("Your household"), "nothing of the English page is left");
    let (_, _, page) = b.send(get_in(&b, "/portal", "fr-FR, de;q=0.8")).await;
    assert!(page.contains(r#"<html lang="en">"#) && page.contains("Your household"), "English when none matches");

    // A child's pages: the days and times in Spanish, the words in sentences.
    let (_, _, page) = b.send(get_in(&b, &format!("/portal/children/{child}/consent"), "es")).await;
    assert!(page.contains("<h1>Consentimiento para Mia</h1>"), "{page}");
    assert!(page.contains("Vigente ahora") && page.contains("Historial"), "{page}");

    // The switch: remembered in a cookie, and it wins over the browser's language.
    let (s, headers, _) = b.get("/portal/language?to=es&next=/portal/deletions").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/portal/deletions");
    let cookie = set_cookie(&headers, "kv_lang").expect("the choice is kept");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let (_, _, page) = b.send(get_in(&b, "/portal/deletions", "en-US")).await;
    assert!(page.contains("<h1>Eliminaciones</h1>"), "{page}");
    assert!(page.contains(r#"<a href="/portal/language?to=en" lang="en" hreflang="en">English</a>"#), "{page}");
    let (s, headers, _) = b.get("/portal/language?to=en&next=//evil.example").await;
    assert_eq!((s, location(&headers)), (StatusCode::SEE_OTHER, "/portal"), "never leaves the portal");
    let (_, _, page) = b.get("/portal").await;
    assert!(page.contains("Your household"), "{page}");

    // A language kidvault does not have is refused, and changes nothing.
    let (s, headers, page) = b.get("/portal/language?to=fr").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(set_cookie(&headers, "kv_lang").is_none());
    assert!(page.contains("unknown_language"), "{page}");

    // Error pages are written in the reader's language too.
    b.get("/portal/language?to=es").await;
    let (s, _, page) = b.get("/portal/children/not-an-id").await;
    assert!(s.is_client_error(), "{s}");
    assert!(page.contains(r#"<html lang="es">"#) && page.contains("Volver al hogar"), "{page}");

    // Notices are stored once and written for each reader: the mailbox in
    // Spanish for her, the API in the language it is asked for.
    let rec = said_at(&app, &child, &device, chrono::Utc::now(), "sing the moon song").await;
    let (_, d) = app.delete(&format!("/items/{rec}"), &g).await;
    await_deletion(&app, &g, d["deletion_id"].as_str().unwrap()).await;
    let (_, _, page) = b.get("/portal/mailbox").await;
    assert!(page.contains("<h2>Su eliminación está completa</h2>"), "{page}");
    assert!(page.contains("Por qué: usted lo pidió") && page.contains("1 grabación de voz"), "{page}");
    assert!(!page.contains("{{") && !page.contains("Why:"), "{page}");
    let (_, mailbox) = app.get("/notices", &g).await;
    let notice = &mailbox["notices"][0];
    assert_eq!(notice["subject"], "Your deletion is complete", "{notice}");
    assert!(notice["body"].as_str().unwrap().contains("Why: you asked"), "{notice}");
}

/// Where kidvault can send e-mail, signing up tells nobody which addresses
/// have accounts: a new address and a taken one get the same answer, and the
/// e-mail says the rest. The link creates the account once, only when its
/// page's button is pressed (a mail system opening the link creates nothing).
/// Here the e-mail goes to the demo's inbox, as in `serve --demo`.
#[tokio::test]
async fn sign_up_by_e_mail_never_tells_whether_an_address_has_an_account() {
    let app = spawn_app().await;
    app.guardian("ana@example.org").await;
    let vault = app.vault.as_ref().unwrap();
    let mut b = Browser::new(&app);
    let (s, _, _) = b.get("/portal/demo-inbox").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no inbox page outside the demo");
    vault.enable_demo_inbox();

    let mut answers = Vec::new();
    for email in ["new@example.org", "ana@example.org"] {
        let mut b = Browser::new(&app);
        let (_, _, page) = b.get("/portal/sign-up").await;
        assert!(page.contains("We will e-mail you a link to finish creating your account."), "{page}");
        let csrf = form_token(&page);
        let form = [
            ("_csrf", csrf.as_str()),
            ("display_name", "Someone"),
            ("email", email),
            ("password", "another long password"),
            ("time_zone", "Europe/Madrid"),
        ];
        let (s, h, _) = b.post("/portal/sign-up", &form).await;
        let (_, _, sent) = b.get(location(&h)).await;
        assert!(b.cookie("kv_session").is_none(), "nobody is signed in yet");
        answers.push((s, location(&h).to_owned(), sent));
    }
    assert_eq!(answers[0], answers[1], "the same answer for a new address and a taken one");
    assert_eq!((answers[0].0, answers[0].1.as_str()), (StatusCode::SEE_OTHER, "/portal/sign-up/sent"));

    // Each address got its own message; the taken one is unchanged.
    let mail = vault.demo_inbox().unwrap();
    assert_eq!(mail.len(), 2);
    let to_ana = mail.iter().find(|m| m.to == "ana@example.org").unwrap();
    assert!(to_ana.body.contains("It already has one, and nothing was changed") && !to_ana.body.contains("confirm/"));
    let (s, _) =
        app.post("/sessions", None, json!({"email": "ana@example.org", "password": "a long enough password"})).await;
    assert_eq!(s, StatusCode::CREATED, "her password is still hers");
    let to_new = mail.iter().find(|m| m.to == "new@example.org").unwrap();
    let link = to_new.body.lines().find(|l| l.starts_with("/portal/sign-up/confirm/")).unwrap().to_owned();
    let login = json!({"email": "new@example.org", "password": "another long password"});
    assert_eq!(app.post("/sessions", None, login.clone()).await.0, StatusCode::UNAUTHORIZED, "no account yet");

    // The link's page creates nothing; its button creates the account and signs in.
    let (s, _, page) = b.get(&link).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        app.post("/sessions", None, login.clone()).await.0,
        StatusCode::UNAUTHORIZED,
        "opening it is not enough"
    );
    let csrf = form_token(&page);
    let (s, h, _) = b.post(&link, &[("_csrf", csrf.as_str())]).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/portal"));
    let (_, _, home) = b.get("/portal").await;
    assert!(home.contains("Signed in as") && home.contains("Someone"), "{home}");
    assert!(home.contains("times in Europe/Madrid"), "the browser's zone came along: {home}");
    assert_eq!(app.post("/sessions", None, login).await.0, StatusCode::CREATED);

    // Once only.
    let mut again = Browser::new(&app);
    let (_, _, page) = again.get(&link).await;
    let (s, _, page) = again.post(&link, &[("_csrf", form_token(&page).as_str())]).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{page}");
    assert!(page.contains("sign_up_link_unknown"), "{page}");

    // A link past its day creates nothing.
    let later = chrono::Utc::now() + chrono::Duration::hours(25);
    vault
        .begin_sign_up(
            "late@example.org",
            "yet another password",
            "Late",
            None,
            Default::default(),
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let mail = vault.demo_inbox().unwrap();
    let late = mail.iter().find(|m| m.to == "late@example.org").unwrap();
    let token = late.body.lines().find_map(|l| l.strip_prefix("/portal/sign-up/confirm/")).unwrap();
    assert!(matches!(vault.finish_sign_up(token, later).await, Err(kidvault_service::ServiceError::NotFound)));
}
