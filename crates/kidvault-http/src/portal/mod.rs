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
}
