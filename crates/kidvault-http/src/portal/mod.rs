//! The guardian portal: server-rendered HTML under `/portal`, no JavaScript build
//! step, no external assets, a strict Content-Security-Policy.
//!
//! Pages read through the same service calls as the API (one authorization
//! point, one access record per read); media, receipts and proofs are fetched
//! from the API itself, which accepts the portal's session cookie for reads.
//! Every state-changing form carries an anti-forgery token ([`session`]).

mod account;
mod activity;
mod autodelete;
mod child;
mod delete;
mod devices;
mod household;
pub mod html;
mod locations;
pub mod policy;
mod search;
mod seen;
pub mod session;
mod shared;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

const CSS: &str = include_str!("static/portal.css");
const JS: &str = include_str!("static/portal.js");

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// The portal's routes (merged at the root).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/portal") }))
        .route("/portal", get(household::overview))
        .route("/portal/static/portal.css", get(|| async { asset(CSS, "text/css; charset=utf-8") }))
        .route("/portal/static/portal.js", get(|| async { asset(JS, "text/javascript; charset=utf-8") }))
        .route("/portal/sign-in", get(account::sign_in_page).post(account::sign_in))
        .route("/portal/sign-up", get(account::sign_up_page).post(account::sign_up))
        .route("/portal/sign-up/sent", get(account::sign_up_sent))
        .route("/portal/sign-up/confirm/{token}", get(account::sign_up_confirm_page).post(account::sign_up_confirm))
        .route("/portal/demo-inbox", get(account::demo_inbox))
        .route("/portal/sign-out", post(account::sign_out))
        .route("/portal/account", get(account::account))
        .route("/portal/account/close", post(account::close))
        .route("/portal/account/time-zone", post(account::set_zone))
        .route("/portal/sessions/{id}/revoke", post(account::revoke_session))
        .route("/portal/invites", post(account::invite))
        .route("/portal/invites/new", get(account::invite_shown))
        .route("/portal/totp", get(account::totp_setup).post(account::totp_begin))
        .route("/portal/totp/enable", post(account::totp_enable))
        .route("/portal/totp/disable", post(account::totp_disable))
        .route("/portal/invite/{token}", get(account::accept_page).post(account::accept))
        .route("/portal/mailbox", get(account::mailbox))
        .route("/portal/children", post(household::add_child))
        .route("/portal/children/{id}", get(child::timeline))
        .route("/portal/children/{id}/activity", get(activity::page))
        .route("/portal/children/{id}/locations", get(locations::page))
        .route("/portal/children/{id}/shared", get(shared::register))
        .route("/portal/children/{id}/seen", get(seen::page))
        .route("/portal/children/{id}/support", post(seen::grant))
        .route("/portal/children/{id}/support/revoke", post(seen::revoke))
        .route("/portal/children/{id}/consent", get(household::consent_page).post(household::give_consent))
        .route("/portal/children/{id}/consent/withdraw", post(household::withdraw))
        .route("/portal/children/{id}/consent/sent", get(household::consent_sent))
        .route("/portal/consent/confirm/{token}", get(household::confirm_page).post(household::confirm))
        .route("/portal/children/{id}/retention", post(household::set_keep))
        .route("/portal/children/{id}/auto-delete", post(autodelete::choose))
        .route("/portal/children/{id}/devices", get(devices::page).post(devices::pair))
        .route("/portal/pair", get(devices::pair_anywhere).post(devices::pair_anywhere_post))
        .route("/portal/devices/{id}/revoke", post(household::revoke))
        .route("/portal/children/{id}/delete", get(delete::confirm).post(delete::perform))
        .route("/portal/deletions", get(delete::list))
        .route("/privacy/retention", get(account::retention_policy))
        .route("/portal/deletions/{id}", get(delete::detail))
        .route("/portal/language", get(language))
        .layer(axum::middleware::from_fn(session::localize))
}

/// A failure in the reader's words: the catalogue's sentence for its stable
/// code (`error-<code>`), else the API's own message.
pub(crate) fn error_words(l: html::Lang, e: &kidvault_service::ServiceError) -> String {
    error_sentence(l, e.code(), || e.public_message())
}

/// The catalogue's sentence for a stable error code, else `fallback`'s.
pub(crate) fn error_sentence(l: html::Lang, code: &str, fallback: impl FnOnce() -> String) -> String {
    let key = format!("error-{}", code.replace('_', "-"));
    if l.has(&key) {
        l.text(&key)
    } else {
        fallback()
    }
}

#[derive(serde::Deserialize)]
struct LanguageChoice {
    to: String,
    next: Option<String>,
}

/// The language switch: remembers the choice in a cookie for a year and goes
/// back to the page it came from (inside the portal only).
async fn language(
    axum::extract::State(state): axum::extract::State<AppState>,
    parts: axum::http::request::Parts,
    axum::extract::Query(q): axum::extract::Query<LanguageChoice>,
) -> Response {
    let Some(lang) = html::Lang::parse(&q.to) else {
        return session::PageError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_language",
            "kidvault is written in English and Spanish (to=en or to=es)",
        )
        .into_response();
    };
    let back = parts.headers.get(header::REFERER).and_then(|v| v.to_str().ok()).and_then(|r| {
        // A referrer is a whole URL; only its path inside the portal is kept.
        r.find("/portal").map(|i| r[i..].to_owned())
    });
    let next = session::safe_next(q.next.as_deref().or(back.as_deref())).to_owned();
    // Signed in: the guardian's notices and e-mails follow the choice too.
    if let Some(token) = crate::extract::cookie(&parts, crate::extract::SESSION_COOKIE) {
        if let Ok(g) = state.vault.authenticate_guardian(&token, chrono::Utc::now()).await {
            if let Err(e) = state.vault.set_language(&g, lang.code()).await {
                return session::PageError::from(e).into_response();
            }
        }
    }
    let cookie = session::set_cookie(&parts, session::LANG_COOKIE, lang.code(), 365 * 24 * 3600);
    session::with_cookies(Redirect::to(&next).into_response(), [cookie])
}

#[cfg(test)]
mod tests {
    use super::html::Lang;

    /// Every message the portal names (`t!(l, "id", …)`) is in the catalogue,
    /// in every language: a typo would otherwise show its id to a parent.
    #[test]
    fn every_message_the_portal_names_is_in_the_catalogue() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/portal");
        let mut named = 0;
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(source) = std::fs::read_to_string(entry.path()) else { continue };
            for (at, _) in source.match_indices("t!(") {
                // Not `format!(` and the like.
                if source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &source[at..];
                let Some(open) = rest.find('"') else { continue };
                let Some(len) = rest[open + 1..].find('"') else { continue };
                let id = &rest[open + 1..open + 1 + len];
                if id.is_empty() || id.contains(' ') || id == "id" {
                    continue;
                }
                named += 1;
                for l in Lang::ALL {
                    assert!(
                        l.has(id),
                        "{}: message {id:?} is not in the {} catalogue",
                        entry.path().display(),
                        l.code()
                    );
                }
            }
        }
        assert!(named > 300, "found only {named} messages named in the portal's source");
    }
}
