//! # kidvault-http
//!
//! The HTTP edge: JSON API under `/api/v1`, the OpenAPI document generated from
//! this code at `/api/v1/openapi.json`, `/healthz` and Prometheus `/metrics`.
//!
//! The edge parses (bearer tokens, JSON, ids, query strings) and reads the clock;
//! every decision is the service's. Every failure leaves as
//! `{"error":{"code":"stable_code","message":"human text"}}` with a 4xx/5xx
//! status ([`error`]); extractor rejections included ([`extract`]).

pub mod edge;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod portal;
pub mod range;
mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use kidvault_service::Vault;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub vault: Arc<Vault>,
    pub metrics: Arc<metrics::Metrics>,
}

/// Every response: never sniffed as another type, and never stored by a cache
/// unless its handler says otherwise (child data is on most of them). The
/// router's own 405 (a path without that method) gets the JSON error body and
/// keeps its `Allow` header.
async fn safe_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED && !resp.headers().contains_key(header::CONTENT_TYPE) {
        let allow = resp.headers().get(header::ALLOW).cloned();
        resp = routes::method_not_allowed().into_response();
        if let Some(allow) = allow {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// JSON bodies are small; only recordings are large, and they have their own limit.
const JSON_LIMIT: usize = 256 * 1024;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let audio_limit = state.vault.config().audio.max_bytes;
    let api = Router::new()
        .route("/guardians", post(routes::accounts::register))
        .route("/sessions", post(routes::accounts::sign_in).get(routes::accounts::list_sessions))
        .route("/sessions/current", delete(routes::accounts::sign_out))
        .route("/sessions/{id}", delete(routes::accounts::revoke_session))
        .route("/household/close", post(routes::deletions::close_household))
        .route("/household/invites", post(routes::accounts::invite))
        .route("/account/totp", post(routes::accounts::totp_begin))
        .route("/account/time-zone", put(routes::accounts::set_time_zone))
        .route("/account/totp/enable", post(routes::accounts::totp_enable))
        .route("/account/totp/disable", post(routes::accounts::totp_disable))
        .route("/invites/{token}/accept", post(routes::accounts::accept_invite))
        .route("/children", post(routes::children::create).get(routes::children::list))
        .route("/children/{id}", get(routes::children::get).delete(routes::deletions::child))
        .route("/children/{id}/deletions", post(routes::deletions::items))
        .route("/deletions/{id}", get(routes::deletions::status))
        .route("/deletions/{id}/receipt", get(routes::deletions::receipt))
        .route("/children/{id}/consents", post(routes::children::grant_consent).get(routes::children::consents))
        .route("/consents/confirm", post(routes::children::confirm_consent))
        .route("/children/{id}/consents/{scope}", delete(routes::children::withdraw_scope))
        .route("/children/{id}/access-log", get(routes::children::access_log))
        .route("/children/{id}/disclosures", get(routes::disclosures::register))
        .route("/children/{id}/activity", get(routes::ledger::activity))
        .route("/ledger/checkpoint", get(routes::ledger::checkpoint))
        .route("/ledger/public-key", get(routes::ledger::public_key))
        .route("/ledger/entries/{index}", get(routes::ledger::entry))
        .route("/ledger/entries/{index}/proof", get(routes::ledger::proof))
        .route("/ledger/consistency", get(routes::ledger::consistency))
        .route("/devices", post(routes::devices::pair))
        .route("/devices/{id}", delete(routes::devices::revoke))
        .route("/children/{id}/recordings", post(routes::ingest::recording).layer(DefaultBodyLimit::max(audio_limit)))
        .route("/children/{id}/items", post(routes::ingest::item).get(routes::items::list))
        .route("/children/{id}/locations", post(routes::ingest::location))
        .route("/children/{id}/ephemeral", post(routes::ingest::ephemeral).layer(DefaultBodyLimit::max(audio_limit)))
        .route("/items/{id}", get(routes::items::get).delete(routes::deletions::item))
        .route("/items/{id}/content", get(routes::items::content))
        .route("/children/{id}/export", get(routes::items::export))
        .route("/admin/processors", post(routes::downstream::register).get(routes::downstream::list))
        .route("/admin/processors/{id}", delete(routes::downstream::disable))
        .route("/admin/processor-tasks", get(routes::downstream::open_tasks))
        .route("/processor-tasks/{id}/ack", post(routes::downstream::ack))
        .route("/processor-feed", post(routes::disclosures::feed))
        .route("/datasets", post(routes::datasets::create))
        .route("/datasets/preview", post(routes::datasets::preview))
        .route("/datasets/{id}", get(routes::datasets::manifest))
        .route("/datasets/{id}/shards/{n}", get(routes::datasets::shard))
        .route("/models", post(routes::datasets::register))
        .route("/models/{id}/resolution", post(routes::datasets::resolve))
        .route("/admin/model-flags", get(routes::datasets::flagged))
        .route("/admin/access-policy/reload", post(routes::staff::reload_policy))
        .route("/staff/sign-in", post(routes::staff::sign_in))
        .route("/staff/sessions/current", delete(routes::staff::sign_out))
        .route("/staff/children/{id}", get(routes::staff::child))
        .route("/staff/children/{id}/items", get(routes::staff::items))
        .route("/staff/children/{id}/content", get(routes::staff::content_page))
        .route("/staff/items/{id}/content", get(routes::staff::content))
        .route("/privacy/reviews", get(routes::staff::reviews))
        .route("/privacy/reviews/{id}", post(routes::staff::decide))
        .route("/privacy/denials", get(routes::staff::denials))
        .route(
            "/children/{id}/support-access",
            get(routes::staff::support_access).post(routes::staff::grant_support).delete(routes::staff::revoke_support),
        )
        .route("/notices", get(routes::notices::list))
        .route("/device/code", post(routes::pairing::code))
        .route("/device/token", post(routes::pairing::token))
        .route("/policy/retention", get(routes::policy::retention))
        .route(
            "/children/{id}/retention",
            get(routes::policy::child_retention).put(routes::policy::set_child_retention),
        )
        .route("/children/{id}/auto-delete", get(routes::policy::auto_delete).put(routes::policy::set_auto_delete))
        .route("/openapi.json", get(openapi::serve))
        .fallback(routes::not_found);
    Router::new()
        .nest("/api/v1", api)
        .merge(portal::routes())
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(metrics::serve))
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(axum::middleware::map_response(safe_headers))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}
