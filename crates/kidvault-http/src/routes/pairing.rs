//! Device pairing as TVs do it (RFC 8628): the device asks for a code pair,
//! shows the user code, and polls for its token while a guardian enters the
//! code in the portal (`/portal/pair`). Neither call needs a token. The token
//! endpoint answers as RFC 8628 §3.5 says (`{"error": "authorization_pending"}`
//! and so on, status 400), and accepts JSON or a form body.

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use kidvault_domain::ids::DeviceId;
use kidvault_service::pairing::PairingPoll;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeviceAuthorizationDto {
    /// The device's secret for polling: kept on the device, shown to no one.
    device_code: String,
    /// What the device shows or says to the parent: 8 letters, `WDJB-MJHT`.
    user_code: String,
    /// Where the parent enters it.
    verification_uri: String,
    /// The same with the code filled in (for a QR code on the device).
    verification_uri_complete: String,
    /// Seconds the codes live.
    expires_in: i64,
    /// Seconds to wait between polls.
    interval: i64,
}

/// The portal's address as the device should show it.
fn portal_base(state: &AppState, parts: &Parts) -> String {
    if let Some(url) = state.vault.config().mail.public_url.as_deref() {
        return url.trim_end_matches('/').to_owned();
    }
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

/// A device asks to be paired (RFC 8628 §3.1).
#[utoipa::path(post, path = "/api/v1/device/code", tag = "devices",
    responses((status = 200, body = DeviceAuthorizationDto),
        (status = 429, description = "too many pairing codes from this address", body = crate::error::ErrorBody)))]
pub(crate) async fn code(
    State(state): State<AppState>,
    crate::extract::ClientAddr(from): crate::extract::ClientAddr,
    parts: Parts,
) -> ApiResult<Json<DeviceAuthorizationDto>> {
    let a = state.vault.start_pairing(from, chrono::Utc::now()).await?;
    let base = portal_base(&state, &parts);
    Ok(Json(DeviceAuthorizationDto {
        verification_uri: format!("{base}/portal/pair"),
        verification_uri_complete: format!("{base}/portal/pair?code={}", a.user_code),
        device_code: a.device_code,
        user_code: a.user_code,
        expires_in: a.expires_in,
        interval: a.interval,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct TokenRequest {
    /// `urn:ietf:params:oauth:grant-type:device_code`
    grant_type: String,
    device_code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeviceTokenDto {
    /// The device's bearer token for the API (given this once).
    access_token: String,
    /// `Bearer`
    token_type: &'static str,
    device_id: DeviceId,
}

/// RFC 8628 §3.5: `authorization_pending`, `slow_down`, `expired_token`,
/// `invalid_grant`, `unsupported_grant_type`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeviceTokenError {
    error: &'static str,
    error_description: &'static str,
}

fn describe(error: &str) -> &'static str {
    match error {
        "authorization_pending" => "waiting for a parent to enter the code in the portal",
        "slow_down" => "polled too soon: wait the interval, plus 5 seconds from now on",
        "expired_token" => "the code expired before a parent entered it: ask for a new one",
        "unsupported_grant_type" => "grant_type must be urn:ietf:params:oauth:grant-type:device_code",
        "invalid_request" => "send grant_type and device_code, as JSON or as a form",
        _ => "this device code is not valid (unknown, or its token was collected already)",
    }
}

/// The body as JSON or as a form (`application/x-www-form-urlencoded`, as
/// RFC 8628 devices send it).
fn parse_request(headers: &HeaderMap, body: &[u8]) -> Option<TokenRequest> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        serde_urlencoded::from_bytes(body).ok()
    } else {
        serde_json::from_slice(body).ok()
    }
}

/// The device polls for its token (RFC 8628 §3.4).
#[utoipa::path(post, path = "/api/v1/device/token", tag = "devices", request_body = TokenRequest,
    responses((status = 200, body = DeviceTokenDto), (status = 400, body = DeviceTokenError)))]
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let wait = |error: &'static str| {
        let body = DeviceTokenError { error, error_description: describe(error) };
        (StatusCode::BAD_REQUEST, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
    };
    let Some(req) = body.ok().and_then(|b| parse_request(&headers, &b)) else {
        return wait("invalid_request");
    };
    if req.grant_type != "urn:ietf:params:oauth:grant-type:device_code" {
        return wait("unsupported_grant_type");
    }
    match state.vault.poll_pairing(&req.device_code, chrono::Utc::now()).await {
        Ok(PairingPoll::Token { token, device_id }) => {
            let body = DeviceTokenDto { access_token: token, token_type: "Bearer", device_id };
            (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
        }
        Ok(PairingPoll::Wait(error)) => wait(error),
        Err(e) => ApiError::from(e).into_response(),
    }
}
