//! Extractors that parse requests into checked values, turning every rejection into
//! an [`ApiError`] with a stable code: bearer tokens, JSON bodies, query strings,
//! raw bodies and path ids.

use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use bytes::Bytes;
use kidvault_service::access::{DeviceSession, GuardianSession};
use kidvault_service::accounts::StaffSession;
use kidvault_service::ledger::LedgerReader;
use kidvault_service::staff::{Operation, Permit, ReadLedger};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// The bearer token of the request, or a 401 naming what kind was expected.
fn bearer<'a>(parts: &'a Parts, what: &str) -> Result<&'a str, ApiError> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", format!("{what} is required")))
}

/// The portal's session cookie.
pub const SESSION_COOKIE: &str = "kv_session";

/// The value of cookie `name`, if the request carries it.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    axum_extra::extract::CookieJar::from_headers(&parts.headers).get(name).map(|c| c.value().to_owned())
}

/// The guardian's credential: the bearer token, or, for reads (GET and HEAD)
/// only, the portal's session cookie, so that the portal's `<audio>` elements,
/// receipt and proof downloads use the API itself. A write through the API
/// always needs the bearer token; the portal's own forms carry CSRF tokens.
fn guardian_token(parts: &Parts, what: &str) -> Result<String, ApiError> {
    let read = parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
    match bearer(parts, what) {
        Err(e) if read => cookie(parts, SESSION_COOKIE).ok_or(e),
        r => r.map(str::to_owned),
    }
}

/// A signed-in guardian (bearer session token; the portal's cookie for reads).
#[derive(Debug)]
pub struct GuardianAuth(pub GuardianSession, pub String);

impl FromRequestParts<AppState> for GuardianAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = guardian_token(parts, "a guardian session token")?;
        let session = state.vault.authenticate_guardian(&token, chrono::Utc::now()).await?;
        Ok(Self(session, token))
    }
}

/// A signed-in staff member (bearer session token from `POST /api/v1/staff/sign-in`).
#[derive(Debug)]
pub struct StaffAuth(pub StaffSession);

impl FromRequestParts<AppState> for StaffAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts, "a staff session token")?;
        Ok(Self(state.vault.authenticate_staff(token, chrono::Utc::now()).await?))
    }
}

/// A staff member the access policy lets do operation `O`: the handle the
/// operation takes (`403` with the policy's reason otherwise).
#[derive(Debug)]
pub struct Permitted<O>(pub Permit<O>);

impl<O: Operation> FromRequestParts<AppState> for Permitted<O> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let StaffAuth(s) = StaffAuth::from_request_parts(parts, state).await?;
        Ok(Self(state.vault.permit::<O>(&s)?))
    }
}

/// A guardian, or staff the policy lets read the ledger, told apart by the token's kind.
#[derive(Debug)]
pub enum PersonAuth {
    Guardian(GuardianSession),
    Auditor(Permit<ReadLedger>),
}

impl PersonAuth {
    pub fn ledger_reader(&self) -> LedgerReader<'_> {
        match self {
            PersonAuth::Guardian(g) => LedgerReader::Guardian(g),
            PersonAuth::Auditor(p) => LedgerReader::Auditor(p),
        }
    }
}

impl FromRequestParts<AppState> for PersonAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = guardian_token(parts, "a guardian session token or a staff token")?;
        if token.starts_with("kva_") {
            let s = state.vault.authenticate_staff(&token, chrono::Utc::now()).await?;
            return Ok(Self::Auditor(state.vault.permit::<ReadLedger>(&s)?));
        }
        Ok(Self::Guardian(state.vault.authenticate_guardian(&token, chrono::Utc::now()).await?))
    }
}

/// The client's address, when the server knows it (for sign-in throttling).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// An authenticated device (bearer device token).
#[derive(Debug)]
pub struct DeviceAuth(pub DeviceSession);

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts, "a device token")?;
        Ok(Self(state.vault.authenticate_device(token).await?))
    }
}

fn body_rejection(status: StatusCode, text: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(status, "payload_too_large", "request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(status, "unsupported_media_type", text),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::new(status, "invalid_body", text),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", text),
    }
}

/// A body that could not be read in full: too large, too slow, or cut short.
fn unread_body(e: &BytesRejection) -> ApiError {
    if crate::edge::is_body_timeout(e) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body arrived too slowly; nothing was stored",
        );
    }
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => body_rejection(StatusCode::PAYLOAD_TOO_LARGE, String::new()),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "incomplete_body",
            "the request body ended before its declared length; nothing was stored",
        ),
    }
}

/// A JSON body; malformed or mistyped bodies are refused with a code.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state).await.map(|axum::Json(v)| Self(v)).map_err(|e: JsonRejection| match e
        {
            JsonRejection::BytesRejection(b) => unread_body(&b),
            e => body_rejection(e.status(), e.body_text()),
        })
    }
}

/// A raw body (recordings).
#[derive(Debug)]
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(Self).map_err(|e: BytesRejection| unread_body(&e))
    }
}

/// A query string.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e: QueryRejection| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", e.body_text())
            })
    }
}

/// Parses a path id. A malformed id names nothing, so it is `not_found`.
pub fn path_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource"))
}

/// Path parameters. A parameter that cannot be read (not UTF-8 once decoded,
/// the wrong shape) names nothing, so it is `not_found`, as JSON.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource"))
    }
}
