//! Signing in, signing up, signing out, the account page (closing the
//! account) and the mailbox.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use kidvault_service::accounts::form_nonce;
use kidvault_service::ServiceError;
use serde::Deserialize;

use super::html::{self, csrf_field, flash, html, Markup, PreEscaped};
use super::session::{safe_next, set_cookie, with_cookies, PageResult, Portal, PortalForm, PublicForm, FORM_COOKIE};
use crate::extract::{ClientAddr, SESSION_COOKIE};
use crate::routes::deletions::run_deletions_now;
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// A public form page: a fresh form token, in a cookie and in the form.
fn public_form(parts: &Parts, status: StatusCode, title: &str, form: impl FnOnce(Markup) -> Markup) -> PageResult {
    let nonce = form_nonce()?;
    let resp = html::page(status, title, None, form(csrf_field(&nonce)));
    Ok(with_cookies(resp, [set_cookie(parts, FORM_COOKIE, &nonce, 3600)]))
}

fn sign_in_form(csrf: Markup, next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { (flash("error", e)) }
        form.card.narrow method="post" action="/portal/sign-in" {
            (csrf)
            input type="hidden" name="next" value=(next);
            input type="hidden" name="time_zone" value="" data-detect-zone;
            label for="email" { "E-mail" }
            input #email name="email" type="email" autocomplete="username" required value=(email);
            label for="password" { "Password" }
            input #password name="password" type="password" autocomplete="current-password" required;
            label for="code" { "Authentication code (only if two-step sign-in is on)" }
            input #code name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="16";
            button type="submit" { "Sign in" }
        }
        p { "No account yet? " a href="/portal/sign-up" { "Create one" } "." }
    }
}

pub async fn sign_in_page(parts: Parts, Query(q): Query<Next>) -> PageResult {
    let next = safe_next(q.next.as_deref()).to_owned();
    public_form(&parts, StatusCode::OK, "Sign in", |csrf| sign_in_form(csrf, &next, "", None))
}

#[derive(Deserialize)]
pub struct SignIn {
    email: String,
    password: String,
    #[serde(default)]
    code: Option<String>,
    next: Option<String>,
    /// The browser's zone (filled by the portal's script), adopted when the
    /// guardian has not chosen one.
    #[serde(default)]
    time_zone: Option<String>,
}

fn signed_in(parts: &Parts, state: &AppState, token: &str, next: &str) -> Response {
    let ttl = state.vault.config().session_ttl.num_seconds();
    let resp = Redirect::to(next).into_response();
    with_cookies(resp, [set_cookie(parts, SESSION_COOKIE, token, ttl), set_cookie(parts, FORM_COOKIE, "", 0)])
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    PublicForm(parts, f): PublicForm<SignIn>,
) -> PageResult {
    let next = safe_next(f.next.as_deref()).to_owned();
    let (status, message) = match state.vault.sign_in(&f.email, &f.password, f.code.as_deref(), from, Utc::now()).await
    {
        Ok(token) => {
            adopt_zone(&state, &parts, &token, f.time_zone.as_deref()).await?;
            return Ok(signed_in(&parts, &state, &token, &next));
        }
        Err(ServiceError::Unauthenticated(_)) => (StatusCode::UNAUTHORIZED, "e-mail or password is wrong".to_owned()),
        Err(e @ ServiceError::SecondFactor { .. }) => (StatusCode::UNAUTHORIZED, e.public_message()),
        Err(ServiceError::RateLimited { retry_after, .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed attempts: try again in {}", html::duration_words(retry_after)),
        ),
        Err(e) => return Err(e.into()),
    };
    public_form(&parts, status, "Sign in", |csrf| sign_in_form(csrf, &next, &f.email, Some(&message)))
}

/// A new account's name, e-mail and password (signing up, or joining by invitation).
fn new_account_fields(name: &str, email: &str) -> Markup {
    html! {
        label for="display_name" { "Your name" }
        input #display_name name="display_name" autocomplete="name" required maxlength="64" value=(name);
        label for="email" { "E-mail" }
        input #email name="email" type="email" autocomplete="email" required value=(email);
        label for="password" { "Password (12 characters or more)" }
        input #password name="password" type="password" autocomplete="new-password" required minlength="12";
    }
}

fn sign_up_form(csrf: Markup, email: &str, name: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { (flash("error", e)) }
        form.card.narrow method="post" action="/portal/sign-up" {
            (csrf)
            input type="hidden" name="time_zone" value="" data-detect-zone;
            (new_account_fields(name, email))
            button type="submit" { "Create the account" }
        }
        p { "Already have an account? " a href="/portal/sign-in" { "Sign in" } "." }
    }
}

pub async fn sign_up_page(parts: Parts) -> PageResult {
    public_form(&parts, StatusCode::OK, "Create an account", |csrf| sign_up_form(csrf, "", "", None))
}

#[derive(Deserialize)]
pub struct SignUp {
    display_name: String,
    email: String,
    password: String,
    #[serde(default)]
    time_zone: Option<String>,
}

/// After a sign-in from the portal: the session named by its browser, and the
/// browser's zone adopted for a guardian who has not chosen one.
async fn adopt_zone(state: &AppState, parts: &Parts, token: &str, zone: Option<&str>) -> Result<(), ServiceError> {
    let agent = parts.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    state.vault.name_session(token, agent).await?;
    let session = state.vault.authenticate_guardian(token, Utc::now()).await?;
    state.vault.adopt_time_zone(&session, zone).await
}

pub async fn sign_up(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    PublicForm(parts, f): PublicForm<SignUp>,
) -> PageResult {
    let now = Utc::now();
    match state.vault.register_guardian(&f.email, &f.password, &f.display_name, from, now).await {
        Ok(_) => {
            let token = state.vault.sign_in(&f.email, &f.password, None, from, now).await?;
            adopt_zone(&state, &parts, &token, f.time_zone.as_deref()).await?;
            Ok(signed_in(&parts, &state, &token, "/portal"))
        }
        Err(ServiceError::RateLimited { retry_after, .. }) => {
            let msg = format!(
                "too many new accounts were made from this network: try again in {}",
                html::duration_words(retry_after)
            );
            public_form(&parts, StatusCode::TOO_MANY_REQUESTS, "Create an account", |csrf| {
                sign_up_form(csrf, &f.email, &f.display_name, Some(&msg))
            })
        }
        Err(e @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. })) => {
            let msg = e.public_message();
            public_form(&parts, StatusCode::UNPROCESSABLE_ENTITY, "Create an account", |csrf| {
                sign_up_form(csrf, &f.email, &f.display_name, Some(&msg))
            })
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(State(state): State<AppState>, parts: Parts, PortalForm(p, _): PortalForm<Empty>) -> PageResult {
    state.vault.sign_out(&p.token, Utc::now()).await?;
    Ok(with_cookies(Redirect::to("/portal/sign-in").into_response(), [set_cookie(&parts, SESSION_COOKIE, "", 0)]))
}

fn sessions_card(p: &Portal, sessions: &[kidvault_service::accounts::SessionView]) -> Markup {
    let z = p.zone();
    html! {
        section.card {
            h2 { "Signed-in sessions" }
            p { "Every browser and app signed in to your account. Revoke any you do not recognise." }
            table.sessions tabindex="0" {
                thead { tr { th { "Where" } th { "Signed in" } th { "Expires" } th {} } }
                tbody {
                    @for s in sessions {
                        tr data-current=(s.current) {
                            td { (s.label.as_deref().unwrap_or("A browser or app")) }
                            td { (z.at(s.created_at)) @if s.current { " (this browser)" } }
                            td { (z.at(s.expires_at)) }
                            td {
                                form.inline method="post" action={ "/portal/sessions/" (s.id) "/revoke" } {
                                    (p.who().csrf_field())
                                    button.danger type="submit" { (if s.current { "Sign out here" } else { "Revoke" }) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn account_body(state: &AppState, p: &Portal, cards: Markup, error: Option<&str>) -> Markup {
    html! {
        section.card {
            h2 { "Your account" }
            p { (p.guardian.display_name) " · " (p.guardian.email) }
        }
        (zone_card(p))
        section.card {
            h2 { "Another guardian" }
            p {
                "Invite a second parent or legal guardian: they get their own sign-in and see and manage the same \
                 children. The link works once, for 7 days."
            }
            form method="post" action="/portal/invites" {
                (p.who().csrf_field()) button type="submit" { "Create an invitation link" }
            }
        }
        (cards)
        section.card.danger {
            h2 { "Close the account" }
            p {
                "Closing the account deletes " strong { "every child profile of the household and all of their data" }
                ": recordings, transcripts, everything that came from them, locations, consents and devices. Their keys \
                 are destroyed at once. You can still sign in for " (state.vault.config().closure_grace.num_days())
                " days to download the deletion receipts; then your account is removed too."
            }
            @if let Some(e) = error { (flash("error", e)) }
            form method="post" action="/portal/account/close" {
                (p.who().csrf_field())
                label for="password" { "Your password, to confirm" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button.danger type="submit" { "Close the account and delete everything" }
            }
        }
    }
}

/// The time zone every time is shown in, and "this day" means.
fn zone_card(p: &Portal) -> Markup {
    let current = p.guardian.time_zone.as_deref();
    let now = Utc::now();
    let shown = match current {
        Some(_) => format!("Times are shown in {} ({}).", p.zone().name().replace('_', " "), p.zone().abbrev(now)),
        None => "Times are shown in UTC until you choose your time zone.".to_owned(),
    };
    html! {
        section.card #time-zone {
            h2 { "Time zone" }
            p { (shown) " Days on the voice history, and \u{201c}delete this day\u{201d}, begin at midnight in this zone." }
            form method="post" action="/portal/account/time-zone" {
                (p.who().csrf_field())
                label for="zone" { "Your time zone" }
                select #zone name="time_zone" data-detect-zone-select {
                    @for name in html::Zone::all() {
                        option value=(name) selected[Some(name) == current] { (name.replace('_', " ")) }
                    }
                }
                button type="submit" { "Save" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ZoneForm {
    time_zone: String,
}

pub async fn set_zone(State(state): State<AppState>, PortalForm(p, f): PortalForm<ZoneForm>) -> PageResult {
    match state.vault.set_time_zone(&p.session, &f.time_zone).await {
        Ok(_) => Ok(Redirect::to("/portal/account#time-zone").into_response()),
        Err(e @ ServiceError::Invalid { .. }) => {
            account_page(&state, &p, StatusCode::UNPROCESSABLE_ENTITY, Some(&e.public_message())).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn account_page(state: &AppState, p: &Portal, status: StatusCode, error: Option<&str>) -> PageResult {
    let sessions = state.vault.sessions(&p.session, &p.token, Utc::now()).await?;
    let totp = totp_card(p, state.vault.totp_enabled(&p.session).await?);
    let body = account_body(state, p, html! { (totp) (sessions_card(p, &sessions)) }, error);
    Ok(html::page(status, "Account", Some(&p.who()), body))
}

pub async fn account(State(state): State<AppState>, p: Portal) -> PageResult {
    account_page(&state, &p, StatusCode::OK, None).await
}

pub async fn revoke_session(
    State(state): State<AppState>,
    crate::extract::ApiPath(id): crate::extract::ApiPath<String>,
    PortalForm(p, _): PortalForm<Empty>,
) -> PageResult {
    state.vault.revoke_session(&p.session, &id, Utc::now()).await?;
    Ok(Redirect::to("/portal/account").into_response())
}

#[derive(Deserialize)]
pub struct Close {
    password: String,
}

pub async fn close(State(state): State<AppState>, PortalForm(p, f): PortalForm<Close>) -> PageResult {
    match state.vault.close_household(&p.session, &f.password, Utc::now()).await {
        Ok(_) => {
            run_deletions_now(&state);
            Ok(Redirect::to("/portal/deletions").into_response())
        }
        Err(e @ ServiceError::Forbidden { .. }) => {
            account_page(&state, &p, StatusCode::FORBIDDEN, Some(&e.public_message())).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn mailbox(State(state): State<AppState>, p: Portal) -> PageResult {
    let notices = state.vault.mailbox(&p.session, 200, Utc::now()).await?;
    let z = p.zone();
    let body = html! {
        p { "Notices kidvault sent you: deletion confirmations, consent and retention notices." }
        @if notices.is_empty() { p.empty { "No notices yet." } }
        @for n in &notices {
            article.card.notice data-kind=(n.kind.as_str()) {
                h2 { (n.subject) }
                p.meta {
                    (z.at(n.created_at)) " · "
                    @match (&n.delivered_at, &n.delivered_via) {
                        (Some(at), Some(via)) => { "delivered " (z.at(*at)) " (" (via) ")" }
                        _ => "being sent",
                    }
                }
                pre { (linkify(&n.body)) }
            }
        }
    };
    Ok(html::page(StatusCode::OK, "Mailbox", Some(&p.who()), body))
}

/// The cookie that carries a new invitation link from the form to the page
/// that shows it, once (so a reload never makes a second invitation).
const SHOWN_COOKIE: &str = "kv_invite";

pub async fn invite(State(state): State<AppState>, parts: Parts, PortalForm(p, _): PortalForm<Empty>) -> PageResult {
    let (token, _) = state.vault.invite_guardian(&p.session, Utc::now()).await?;
    let resp = Redirect::to("/portal/invites/new").into_response();
    Ok(with_cookies(resp, [set_cookie(&parts, SHOWN_COOKIE, &token, 300)]))
}

/// Shows the invitation just made, once.
pub async fn invite_shown(parts: Parts, p: Portal) -> PageResult {
    let host = parts.headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let token = crate::extract::cookie(&parts, SHOWN_COOKIE).filter(|t| t.starts_with("kvi_"));
    let body = html! {
        @match token {
            Some(token) => section.card #invite role="status" {
                h2 { "Invitation link" }
                p { "Send this link to the other guardian. It works once, for 7 days, and is shown only now." }
                p { code.token #invite-link { "http://" (host) "/portal/invite/" (token) } }
                p { a href="/portal/account" { "Back to the account" } }
            },
            None => section.card #invite {
                h2 { "Invitation link" }
                p { "An invitation link is shown only once. If you did not copy it, create another on the account page." }
                p { a href="/portal/account" { "Back to the account" } }
            },
        }
    };
    let resp = html::page(StatusCode::OK, "Invite a guardian", Some(&p.who()), body);
    Ok(with_cookies(resp, [set_cookie(&parts, SHOWN_COOKIE, "", 0)]))
}

fn accept_form(csrf: Markup, token: &str, name: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { (flash("error", e)) }
        p { "You were invited to join a household on kidvault as a guardian." }
        form.card.narrow method="post" action={ "/portal/invite/" (token) } {
            input type="hidden" name="time_zone" value="" data-detect-zone;
            (csrf)
            (new_account_fields(name, email))
            button type="submit" { "Join the household" }
        }
    }
}

pub async fn accept_page(parts: Parts, crate::extract::ApiPath(token): crate::extract::ApiPath<String>) -> PageResult {
    public_form(&parts, StatusCode::OK, "Join a household", |csrf| accept_form(csrf, &token, "", "", None))
}

pub async fn accept(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    crate::extract::ApiPath(token): crate::extract::ApiPath<String>,
    PublicForm(parts, f): PublicForm<SignUp>,
) -> PageResult {
    let now = Utc::now();
    match state.vault.accept_invite(&token, &f.email, &f.password, &f.display_name, now).await {
        Ok(_) => {
            let session = state.vault.sign_in(&f.email, &f.password, None, from, now).await?;
            adopt_zone(&state, &parts, &session, f.time_zone.as_deref()).await?;
            Ok(signed_in(&parts, &state, &session, "/portal"))
        }
        Err(ServiceError::NotFound) => Err(super::session::PageError::new(
            StatusCode::NOT_FOUND,
            "invite_unknown",
            "this invitation link is not valid; ask for a new one",
        )),
        Err(e @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. })) => {
            let status = if matches!(e, ServiceError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let msg = format!("{} ({})", e.public_message(), e.code());
            public_form(&parts, status, "Join a household", |csrf| {
                accept_form(csrf, &token, &f.display_name, &f.email, Some(&msg))
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A notice's text, its portal paths (a line of their own) made links.
fn linkify(text: &str) -> Markup {
    html! {
        @for (i, line) in text.lines().enumerate() {
            @if i > 0 { "\n" }
            @let t = line.trim();
            @if t.starts_with("/portal/") && !t.contains(char::is_whitespace) {
                a href=(t) { "Open it in the portal" }
            } @else {
                (line)
            }
        }
    }
}

fn totp_card(p: &Portal, on: bool) -> Markup {
    let csrf = p.who().csrf_field();
    html! {
        @if on {
            section.card #totp data-on="true" {
                h2 { "Two-step sign-in is on" }
                p { "Signing in needs a code from your authenticator app (or one of your recovery codes)." }
                form method="post" action="/portal/totp/disable" {
                    (csrf)
                    label for="totp-password" { "Your password, to turn it off" }
                    input #totp-password name="password" type="password" autocomplete="current-password" required;
                    button.danger type="submit" { "Turn two-step sign-in off" }
                }
            }
        } @else {
            section.card #totp data-on="false" {
                h2 { "Two-step sign-in" }
                p { "Ask for a code from an authenticator app as well as your password." }
                form method="post" action="/portal/totp" { (csrf) button type="submit" { "Set up two-step sign-in" } }
            }
        }
    }
}

pub async fn totp_begin(State(state): State<AppState>, PortalForm(p, _): PortalForm<Empty>) -> PageResult {
    state.vault.totp_begin(&p.session).await?;
    Ok(Redirect::to("/portal/totp").into_response())
}

/// The key in groups of four, as people read it aloud or type it.
fn grouped(secret: &str) -> String {
    secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// A QR code of the set-up link, drawn here (no service elsewhere sees the key).
/// The SVG is the QR crate's own drawing of the modules (no text of ours in it).
fn qr_svg(uri: &str) -> PreEscaped<String> {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => PreEscaped(
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
                .replacen("<svg ", r#"<svg role="img" aria-label="QR code for your authenticator app" class="qr" "#, 1)
                .replace(r#"<?xml version="1.0" standalone="yes"?>"#, ""),
        ),
        Err(_) => PreEscaped(String::new()),
    }
}

/// The set-up in progress: the same key on every visit until it is confirmed.
pub async fn totp_setup(State(state): State<AppState>, p: Portal) -> PageResult {
    let Some(e) = state.vault.totp_pending(&p.session).await? else {
        return Ok(Redirect::to("/portal/account#totp").into_response());
    };
    totp_setup_page(&p, &e, None, StatusCode::OK)
}

fn totp_setup_page(
    p: &Portal,
    e: &kidvault_service::twofactor::TotpEnrolment,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let body = html! {
        section.card.narrow #totp-setup {
            h2 { "Add kidvault to your authenticator app" }
            p { "Scan this code with the app:" }
            (qr_svg(&e.uri))
            p { "Or type this key into it (the spaces do not matter):" }
            p { code.token #totp-secret { (grouped(&e.secret)) } }
            p { "On the phone that has the app, you can also " a href=(e.uri) { "open the set-up link" } "." }
            @if let Some(m) = error { (flash("error", m)) }
            form method="post" action="/portal/totp/enable" {
                (p.who().csrf_field())
                label for="code" { "The 6-digit code the app shows now" }
                input #code name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="6";
                button type="submit" { "Turn on" }
            }
        }
    };
    Ok(html::page(status, "Two-step sign-in", Some(&p.who()), body))
}

#[derive(Deserialize)]
pub struct Code {
    code: String,
}

pub async fn totp_enable(State(state): State<AppState>, PortalForm(p, f): PortalForm<Code>) -> PageResult {
    let codes = match state.vault.totp_enable(&p.session, &f.code, Utc::now()).await {
        Ok(codes) => codes,
        Err(e @ ServiceError::Invalid { .. }) => {
            return match state.vault.totp_pending(&p.session).await? {
                Some(pending) => {
                    totp_setup_page(&p, &pending, Some(&e.public_message()), StatusCode::UNPROCESSABLE_ENTITY)
                }
                None => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let file = format!("kidvault recovery codes for {}\n\n{}\n", p.guardian.email, codes.join("\n"));
    let body = html! {
        section.card.narrow #recovery {
            h2 { "Two-step sign-in is on" }
            p {
                "Keep these recovery codes somewhere safe. Each signs you in once if you lose the app. They are shown \
                 only now."
            }
            ol.recovery-codes { @for c in &codes { li { code { (c) } } } }
            p {
                a.button href={ "data:text/plain;charset=utf-8," (super::session::urlencode(&file)) }
                    download="kidvault-recovery-codes.txt" { "Download them" }
            }
            p { a href="/portal/account" { "Back to the account" } }
        }
    };
    Ok(html::page(StatusCode::OK, "Recovery codes", Some(&p.who()), body))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn totp_disable(State(state): State<AppState>, PortalForm(p, f): PortalForm<PasswordForm>) -> PageResult {
    match state.vault.totp_disable(&p.session, &f.password).await {
        Ok(()) => Ok(Redirect::to("/portal/account").into_response()),
        Err(e @ ServiceError::Forbidden { .. }) => {
            account_page(&state, &p, StatusCode::FORBIDDEN, Some(&e.public_message())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The published retention policy (public; generated from the policy in force).
pub async fn retention_policy(State(state): State<AppState>) -> Response {
    let p = &state.vault.config().retention;
    let body = html! {
        (p.render_html())
        p.meta {
            "Consent notice version in force: " code { (state.vault.notice_version()) }
            ". When this policy changes, we ask you to consent again."
        }
        p { a href="/portal" { "Parent portal" } }
    };
    html::page(StatusCode::OK, "How long we keep your child's data", None, body)
}
