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

use super::html::{self, csrf_field, flash, html, t, Lang, Markup, PreEscaped};
use super::session::{
    lang_of, safe_next, set_cookie, with_cookies, PageResult, Portal, PortalForm, PublicForm, FORM_COOKIE,
};
use crate::extract::{ClientAddr, SESSION_COOKIE};
use crate::routes::deletions::run_deletions_now;
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// A public form page in the reader's language: a fresh form token, in a
/// cookie and in the form.
fn public_form(
    parts: &Parts,
    status: StatusCode,
    title: &str,
    form: impl FnOnce(Lang, Markup) -> Markup,
) -> PageResult {
    let l = lang_of(&parts.headers);
    let nonce = form_nonce()?;
    let resp = html::page(l, status, &l.text(title), None, form(l, csrf_field(&nonce)));
    Ok(with_cookies(resp, [set_cookie(parts, FORM_COOKIE, &nonce, 3600)]))
}

fn sign_in_form(l: Lang, csrf: Markup, next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { (flash("error", e)) }
        form.card.narrow method="post" action="/portal/sign-in" {
            (csrf)
            input type="hidden" name="next" value=(next);
            input type="hidden" name="time_zone" value="" data-detect-zone;
            label for="email" { (t!(l, "account-email")) }
            input #email name="email" type="email" autocomplete="username" required value=(email);
            label for="password" { (t!(l, "account-password")) }
            input #password name="password" type="password" autocomplete="current-password" required;
            label for="code" { (t!(l, "account-code")) }
            input #code name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="16";
            button type="submit" { (t!(l, "sign-in")) }
        }
        p { (t!(l, "sign-in-no-account")) " " a href="/portal/sign-up" { (t!(l, "sign-in-create")) } "." }
    }
}

pub async fn sign_in_page(parts: Parts, Query(q): Query<Next>) -> PageResult {
    let next = safe_next(q.next.as_deref()).to_owned();
    public_form(&parts, StatusCode::OK, "sign-in", |l, csrf| sign_in_form(l, csrf, &next, "", None))
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
    let l = lang_of(&parts.headers);
    let (status, message) = match state.vault.sign_in(&f.email, &f.password, f.code.as_deref(), from, Utc::now()).await
    {
        Ok(token) => {
            adopt_zone(&state, &parts, &token, f.time_zone.as_deref()).await?;
            return Ok(signed_in(&parts, &state, &token, &next));
        }
        Err(ServiceError::Unauthenticated(_)) => (StatusCode::UNAUTHORIZED, t!(l, "sign-in-wrong")),
        Err(e @ ServiceError::SecondFactor { .. }) => (StatusCode::UNAUTHORIZED, super::error_words(l, &e)),
        Err(ServiceError::RateLimited { retry_after, .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, t!(l, "sign-in-too-many", wait = html::duration_words(l, retry_after)))
        }
        Err(e) => return Err(e.into()),
    };
    public_form(&parts, status, "sign-in", |l, csrf| sign_in_form(l, csrf, &next, &f.email, Some(&message)))
}

/// A new account's name, e-mail and password (signing up, or joining by invitation).
fn new_account_fields(l: Lang, name: &str, email: &str) -> Markup {
    html! {
        label for="display_name" { (t!(l, "account-your-name")) }
        input #display_name name="display_name" autocomplete="name" required maxlength="64" value=(name);
        label for="email" { (t!(l, "account-email")) }
        input #email name="email" type="email" autocomplete="email" required value=(email);
        label for="password" { (t!(l, "account-new-password")) }
        input #password name="password" type="password" autocomplete="new-password" required minlength="12";
    }
}

fn sign_up_form(l: Lang, by_mail: bool, csrf: Markup, email: &str, name: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { (flash("error", e)) }
        @if by_mail { p { (t!(l, "sign-up-by-mail")) } }
        form.card.narrow method="post" action="/portal/sign-up" {
            (csrf)
            input type="hidden" name="time_zone" value="" data-detect-zone;
            (new_account_fields(l, name, email))
            button type="submit" { (t!(l, "sign-up-button")) }
        }
        p { (t!(l, "sign-up-have-account")) " " a href="/portal/sign-in" { (t!(l, "sign-in")) } "." }
    }
}

pub async fn sign_up_page(State(state): State<AppState>, parts: Parts) -> PageResult {
    let by_mail = state.vault.signs_up_by_mail();
    public_form(&parts, StatusCode::OK, "sign-up-title", |l, csrf| sign_up_form(l, by_mail, csrf, "", "", None))
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
/// browser's zone and language adopted for a guardian who has not chosen them.
async fn adopt_zone(state: &AppState, parts: &Parts, token: &str, zone: Option<&str>) -> Result<(), ServiceError> {
    let agent = parts.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    state.vault.name_session(token, agent).await?;
    let session = state.vault.authenticate_guardian(token, Utc::now()).await?;
    state.vault.adopt_browser_settings(&session, lang_of(&parts.headers), zone).await
}

pub async fn sign_up(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    PublicForm(parts, f): PublicForm<SignUp>,
) -> PageResult {
    let now = Utc::now();
    let l = lang_of(&parts.headers);
    let by_mail = state.vault.signs_up_by_mail();
    let started = if by_mail {
        let zone = f.time_zone.as_deref();
        state.vault.begin_sign_up(&f.email, &f.password, &f.display_name, zone, l, from, now).await.map(|_| None)
    } else {
        state.vault.register_guardian(&f.email, &f.password, &f.display_name, from, now).await.map(Some)
    };
    match started {
        // The same answer for every address: the e-mail says the rest.
        Ok(None) => Ok(Redirect::to("/portal/sign-up/sent").into_response()),
        Ok(Some(_)) => {
            let token = state.vault.sign_in(&f.email, &f.password, None, from, now).await?;
            adopt_zone(&state, &parts, &token, f.time_zone.as_deref()).await?;
            Ok(signed_in(&parts, &state, &token, "/portal"))
        }
        Err(ServiceError::RateLimited { retry_after, .. }) => {
            let msg = t!(l, "sign-up-too-many", wait = html::duration_words(l, retry_after));
            public_form(&parts, StatusCode::TOO_MANY_REQUESTS, "sign-up-title", |l, csrf| {
                sign_up_form(l, by_mail, csrf, &f.email, &f.display_name, Some(&msg))
            })
        }
        Err(e @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. })) => {
            let msg = super::error_words(l, &e);
            public_form(&parts, StatusCode::UNPROCESSABLE_ENTITY, "sign-up-title", |l, csrf| {
                sign_up_form(l, by_mail, csrf, &f.email, &f.display_name, Some(&msg))
            })
        }
        Err(ServiceError::Unavailable { .. }) if by_mail => {
            let msg = t!(l, "sign-up-mail-failed");
            public_form(&parts, StatusCode::SERVICE_UNAVAILABLE, "sign-up-title", |l, csrf| {
                sign_up_form(l, by_mail, csrf, &f.email, &f.display_name, Some(&msg))
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// After a sign-up by e-mail: the same page whatever the address.
pub async fn sign_up_sent(parts: Parts) -> PageResult {
    let l = lang_of(&parts.headers);
    let body = html! {
        section.card.narrow role="status" #sign-up-sent {
            p { (t!(l, "sign-up-sent-text")) }
            p.meta { (t!(l, "sign-up-sent-nothing")) }
            p { a href="/portal/sign-in" { (t!(l, "sign-in")) } }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "consent-sent-check"), None, body))
}

/// The link from the sign-up e-mail: a page with one button, so that a mail
/// system opening links to check them creates nothing.
pub async fn sign_up_confirm_page(
    parts: Parts,
    crate::extract::ApiPath(token): crate::extract::ApiPath<String>,
) -> PageResult {
    public_form(&parts, StatusCode::OK, "sign-up-finish-title", |l, csrf| {
        html! {
            form.card.narrow method="post" action={ "/portal/sign-up/confirm/" (token) } {
                (csrf)
                p { (t!(l, "sign-up-finish-text")) }
                button type="submit" { (t!(l, "sign-up-finish-button")) }
            }
        }
    })
}

pub async fn sign_up_confirm(
    State(state): State<AppState>,
    crate::extract::ApiPath(token): crate::extract::ApiPath<String>,
    PublicForm(parts, _): PublicForm<Empty>,
) -> PageResult {
    let session = state.vault.finish_sign_up(&token, Utc::now()).await.map_err(|e| match e {
        ServiceError::NotFound => super::session::PageError::new(
            StatusCode::NOT_FOUND,
            "sign_up_link_unknown",
            "this sign-up link is not valid, was used already, or has expired; sign up again",
        ),
        e => e.into(),
    })?;
    adopt_zone(&state, &parts, &session, None).await?;
    Ok(signed_in(&parts, &state, &session, "/portal"))
}

/// The demo's inbox: what kidvault would have e-mailed to addresses outside any
/// household (sign-up links), since the demo has no mail relay. Only with
/// `serve --demo`; anywhere else there is no such page.
pub async fn demo_inbox(State(state): State<AppState>, parts: Parts) -> PageResult {
    let l = lang_of(&parts.headers);
    let Some(mail) = state.vault.demo_inbox() else {
        return Err(super::session::PageError::new(StatusCode::NOT_FOUND, "not_found", "no such page"));
    };
    let body = html! {
        p { (t!(l, "demo-inbox-intro")) }
        @if mail.is_empty() { p.empty { (t!(l, "mailbox-none")) } }
        @for m in &mail {
            article.card.notice {
                h2 { (m.subject) }
                p.meta { (t!(l, "demo-inbox-to", to = &m.to)) }
                pre { (linkify(l, &m.body)) }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "demo-inbox-title"), None, body))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(State(state): State<AppState>, parts: Parts, PortalForm(p, _): PortalForm<Empty>) -> PageResult {
    state.vault.sign_out(&p.token, Utc::now()).await?;
    Ok(with_cookies(Redirect::to("/portal/sign-in").into_response(), [set_cookie(&parts, SESSION_COOKIE, "", 0)]))
}

fn sessions_card(p: &Portal, sessions: &[kidvault_service::accounts::SessionView]) -> Markup {
    let z = p.clock();
    let l = p.lang;
    html! {
        section.card {
            h2 { (t!(l, "sessions-title")) }
            p { (t!(l, "sessions-text")) }
            table.sessions tabindex="0" {
                thead { tr {
                    th { (t!(l, "sessions-col-where")) } th { (t!(l, "sessions-col-signed-in")) }
                    th { (t!(l, "sessions-col-expires")) } th {}
                } }
                tbody {
                    @for s in sessions {
                        tr data-current=(s.current) {
                            td { (session_label(l, s.label.as_deref())) }
                            td { (z.at(s.created_at)) @if s.current { " " (t!(l, "sessions-this-browser")) } }
                            td { (z.at(s.expires_at)) }
                            td {
                                form.inline method="post" action={ "/portal/sessions/" (s.id) "/revoke" } {
                                    (p.who().csrf_field())
                                    button.danger type="submit" {
                                        (if s.current { t!(l, "sessions-sign-out-here") } else { t!(l, "devices-revoke") })
                                    }
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
    let l = p.lang;
    html! {
        section.card {
            h2 { (t!(l, "account-yours")) }
            p { (p.guardian.display_name) " · " (p.guardian.email) }
        }
        (zone_card(p))
        section.card {
            h2 { (t!(l, "invite-title")) }
            p { (t!(l, "invite-text")) }
            form method="post" action="/portal/invites" {
                (p.who().csrf_field()) button type="submit" { (t!(l, "invite-create")) }
            }
        }
        (cards)
        section.card.danger {
            h2 { (t!(l, "close-title")) }
            p {
                (t!(l, "close-deletes")) " " strong { (t!(l, "close-every-child")) }
                (t!(l, "close-rest", days = state.vault.config().closure_grace.num_days()))
            }
            @if let Some(e) = error { (flash("error", e)) }
            form method="post" action="/portal/account/close" {
                (p.who().csrf_field())
                label for="password" { (t!(l, "close-password")) }
                input #password name="password" type="password" autocomplete="current-password" required;
                button.danger type="submit" { (t!(l, "close-button")) }
            }
        }
    }
}

/// A session's name ("Safari on an iPhone"), in the reader's words.
/// The label is stored as kidvault's service names it (browser names and
/// systems are proper names; the articles and "a browser or app" are words).
fn session_label(l: Lang, label: Option<&str>) -> String {
    let word = |w: &str| {
        let key = w.replace(' ', "_");
        t!(l, "session-word", key = key.as_str(), name = w)
    };
    match label.map(|s| s.split_once(" on ").unwrap_or((s, ""))) {
        Some((browser, "")) => word(browser),
        Some((browser, device)) => t!(l, "session-label", browser = word(browser), device = word(device)),
        None => word("A browser or app"),
    }
}

/// The time zone every time is shown in, and "this day" means.
fn zone_card(p: &Portal) -> Markup {
    let current = p.guardian.time_zone.as_deref();
    let now = Utc::now();
    let l = p.lang;
    let z = p.clock();
    let shown = match current {
        Some(_) => t!(l, "zone-shown", zone = z.name().replace('_', " "), abbrev = z.abbrev(now)),
        None => t!(l, "zone-utc"),
    };
    html! {
        section.card #time-zone {
            h2 { (t!(l, "zone-title")) }
            p { (shown) " " (t!(l, "zone-days")) }
            form method="post" action="/portal/account/time-zone" {
                (p.who().csrf_field())
                label for="zone" { (t!(l, "zone-yours")) }
                select #zone name="time_zone" data-detect-zone-select {
                    @for name in kidvault_domain::localtime::Zone::all() {
                        option value=(name) selected[Some(name) == current] { (name.replace('_', " ")) }
                    }
                }
                button type="submit" { (t!(l, "auto-delete-save")) }
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
            account_page(&state, &p, StatusCode::UNPROCESSABLE_ENTITY, Some(&super::error_words(p.lang, &e))).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn account_page(state: &AppState, p: &Portal, status: StatusCode, error: Option<&str>) -> PageResult {
    let sessions = state.vault.sessions(&p.session, &p.token, Utc::now()).await?;
    let totp = totp_card(p, state.vault.totp_enabled(&p.session).await?);
    let body = account_body(state, p, html! { (totp) (sessions_card(p, &sessions)) }, error);
    Ok(html::page(p.lang, status, &t!(p.lang, "nav-account"), Some(&p.who()), body))
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
            account_page(&state, &p, StatusCode::FORBIDDEN, Some(&super::error_words(p.lang, &e))).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn mailbox(State(state): State<AppState>, p: Portal) -> PageResult {
    let notices = state.vault.mailbox(&p.session, p.lang, 200, Utc::now()).await?;
    let z = p.clock();
    let l = p.lang;
    let body = html! {
        p { (t!(l, "mailbox-intro")) }
        @if notices.is_empty() { p.empty { (t!(l, "mailbox-none")) } }
        @for n in &notices {
            article.card.notice data-kind=(n.kind.as_str()) {
                h2 { (n.subject) }
                p.meta {
                    (z.at(n.created_at)) " · "
                    @match (&n.delivered_at, &n.delivered_via) {
                        (Some(at), Some(via)) => {
                            (t!(l, "mailbox-delivered", when = z.at(*at), via = t!(l, "mailbox-via", via = via.as_str())))
                        }
                        _ => (t!(l, "mailbox-sending")),
                    }
                }
                pre { (linkify(l, &n.body)) }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "nav-mailbox"), Some(&p.who()), body))
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
    let l = p.lang;
    let host = parts.headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let token = crate::extract::cookie(&parts, SHOWN_COOKIE).filter(|t| t.starts_with("kvi_"));
    let body = html! {
        @match token {
            Some(token) => section.card #invite role="status" {
                h2 { (t!(l, "invite-link")) }
                p { (t!(l, "invite-send")) }
                p { code.token #invite-link { "http://" (host) "/portal/invite/" (token) } }
                p { a href="/portal/account" { (t!(l, "account-back")) } }
            },
            None => section.card #invite {
                h2 { (t!(l, "invite-link")) }
                p { (t!(l, "invite-once")) }
                p { a href="/portal/account" { (t!(l, "account-back")) } }
            },
        }
    };
    let resp = html::page(l, StatusCode::OK, &t!(l, "invite-page-title"), Some(&p.who()), body);
    Ok(with_cookies(resp, [set_cookie(&parts, SHOWN_COOKIE, "", 0)]))
}

fn accept_form(l: Lang, csrf: Markup, token: &str, name: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { (flash("error", e)) }
        p { (t!(l, "join-text")) }
        form.card.narrow method="post" action={ "/portal/invite/" (token) } {
            input type="hidden" name="time_zone" value="" data-detect-zone;
            (csrf)
            (new_account_fields(l, name, email))
            button type="submit" { (t!(l, "join-button")) }
        }
    }
}

pub async fn accept_page(parts: Parts, crate::extract::ApiPath(token): crate::extract::ApiPath<String>) -> PageResult {
    public_form(&parts, StatusCode::OK, "join-title", |l, csrf| accept_form(l, csrf, &token, "", "", None))
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
            let msg = format!("{} ({})", super::error_words(lang_of(&parts.headers), &e), e.code());
            public_form(&parts, status, "join-title", |l, csrf| {
                accept_form(l, csrf, &token, &f.display_name, &f.email, Some(&msg))
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A notice's text, its portal paths (a line of their own) made links.
fn linkify(l: Lang, text: &str) -> Markup {
    html! {
        @for (i, line) in text.lines().enumerate() {
            @if i > 0 { "\n" }
            @let t = line.trim();
            @if t.starts_with("/portal/") && !t.contains(char::is_whitespace) {
                a href=(t) { (t!(l, "mailbox-open")) }
            } @else {
                (line)
            }
        }
    }
}

fn totp_card(p: &Portal, on: bool) -> Markup {
    let csrf = p.who().csrf_field();
    let l = p.lang;
    html! {
        @if on {
            section.card #totp data-on="true" {
                h2 { (t!(l, "totp-on")) }
                p { (t!(l, "totp-on-text")) }
                form method="post" action="/portal/totp/disable" {
                    (csrf)
                    label for="totp-password" { (t!(l, "totp-password-off")) }
                    input #totp-password name="password" type="password" autocomplete="current-password" required;
                    button.danger type="submit" { (t!(l, "totp-turn-off")) }
                }
            }
        } @else {
            section.card #totp data-on="false" {
                h2 { (t!(l, "totp-title")) }
                p { (t!(l, "totp-off-text")) }
                form method="post" action="/portal/totp" { (csrf) button type="submit" { (t!(l, "totp-set-up")) } }
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
fn qr_svg(l: Lang, uri: &str) -> PreEscaped<String> {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => PreEscaped(
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
                .replacen(
                    "<svg ",
                    &format!(r#"<svg role="img" aria-label="{}" class="qr" "#, t!(l, "totp-qr-label")),
                    1,
                )
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
    let l = p.lang;
    let body = html! {
        section.card.narrow #totp-setup {
            h2 { (t!(l, "totp-add")) }
            p { (t!(l, "totp-scan")) }
            (qr_svg(l, &e.uri))
            p { (t!(l, "totp-type-key")) }
            p { code.token #totp-secret { (grouped(&e.secret)) } }
            p { (t!(l, "totp-on-phone")) " " a href=(e.uri) { (t!(l, "totp-open-link")) } "." }
            @if let Some(m) = error { (flash("error", m)) }
            form method="post" action="/portal/totp/enable" {
                (p.who().csrf_field())
                label for="code" { (t!(l, "totp-code")) }
                input #code name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="6";
                button type="submit" { (t!(l, "totp-turn-on")) }
            }
        }
    };
    Ok(html::page(l, status, &t!(l, "totp-title"), Some(&p.who()), body))
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
                Some(pending) => totp_setup_page(
                    &p,
                    &pending,
                    Some(&super::error_words(p.lang, &e)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                None => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let l = p.lang;
    let file = format!("{}\n\n{}\n", t!(l, "recovery-file", email = &p.guardian.email), codes.join("\n"));
    let body = html! {
        section.card.narrow #recovery {
            h2 { (t!(l, "totp-on")) }
            p { (t!(l, "recovery-keep")) }
            ol.recovery-codes { @for c in &codes { li { code { (c) } } } }
            p {
                a.button href={ "data:text/plain;charset=utf-8," (super::session::urlencode(&file)) }
                    download="kidvault-recovery-codes.txt" { (t!(l, "recovery-download")) }
            }
            p { a href="/portal/account" { (t!(l, "account-back")) } }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "recovery-title"), Some(&p.who()), body))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn totp_disable(State(state): State<AppState>, PortalForm(p, f): PortalForm<PasswordForm>) -> PageResult {
    match state.vault.totp_disable(&p.session, &f.password).await {
        Ok(()) => Ok(Redirect::to("/portal/account").into_response()),
        Err(e @ ServiceError::Forbidden { .. }) => {
            account_page(&state, &p, StatusCode::FORBIDDEN, Some(&super::error_words(p.lang, &e))).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The published retention policy (public; generated from the policy in force).
pub async fn retention_policy(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let p = &state.vault.config().retention;
    let l = lang_of(&headers);
    let body = html! {
        (super::policy::render(l, p))
        p.meta {
            (t!(l, "policy-notice-version")) " " code { (state.vault.notice_version()) }
            (t!(l, "policy-notice-changes"))
        }
        p { a href="/portal" { (t!(l, "policy-portal")) } }
    };
    html::page(l, StatusCode::OK, &t!(l, "policy-title"), None, body)
}
