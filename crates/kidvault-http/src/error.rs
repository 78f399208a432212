//! The one mapping from failures to HTTP responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kidvault_service::{ErrorKind, ServiceError};
use serde::Serialize;

/// The error body every failure returns.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: clients match on this.
    pub code: String,
    /// For humans; may change.
    pub message: String,
    /// With `rate_limited`: seconds until an attempt may succeed (also the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// A failure on its way out.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    /// What a damaged store was found to have (for the operator's log and
    /// `/healthz`; never sent to the caller).
    pub damage: Option<String>,
}

/// Marks a response whose request met a damaged store: the request-tracking
/// middleware records it on the vault, so `/healthz` tells.
#[derive(Clone, Debug)]
pub(crate) struct StoreDamaged(pub String);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, damage: None }
    }

    /// Attaches the [`StoreDamaged`] mark to a response built from this error.
    pub(crate) fn mark(&self, resp: &mut Response) {
        if let Some(detail) = &self.damage {
            resp.extensions_mut().insert(StoreDamaged(detail.clone()));
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match e.kind() {
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match &e {
            // Internal details are for operators; they never contain child content.
            ServiceError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ServiceError::InsufficientStorage(detail) => tracing::error!(%detail, "storage is full"),
            ServiceError::Unavailable { detail, .. } => tracing::warn!(%detail, "the data store is unavailable"),
            ServiceError::Damaged(detail) => tracing::error!(%detail, "the data store is damaged"),
            _ => {}
        }
        let damage = match &e {
            ServiceError::Damaged(detail) => Some(detail.clone()),
            _ => None,
        };
        let retry_after = match e {
            ServiceError::RateLimited { retry_after, .. } | ServiceError::Unavailable { retry_after, .. } => {
                Some(retry_after)
            }
            _ => None,
        };
        Self { status, code: e.code(), message: e.public_message(), retry_after, damage }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let body =
            ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message.clone(), retry_after } };
        let mut resp = (self.status, axum::Json(body)).into_response();
        self.mark(&mut resp);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
