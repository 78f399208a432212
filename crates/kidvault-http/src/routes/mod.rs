//! Route handlers, one module per resource. Each handler: extract, call the
//! service once with `now`, shape the response.

pub(crate) mod accounts;
pub(crate) mod children;
pub(crate) mod datasets;
pub(crate) mod deletions;
pub(crate) mod devices;
pub(crate) mod disclosures;
pub(crate) mod downstream;
pub(crate) mod ingest;
pub(crate) mod items;
pub(crate) mod ledger;
pub(crate) mod notices;
pub(crate) mod pairing;
pub(crate) mod policy;
pub(crate) mod staff;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::error::ApiError;
use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` while storage is full (reads, exports and deletions
    /// still work; new collection is refused with 507).
    status: &'static str,
    /// `ok` or `full`.
    storage: &'static str,
    /// Since when storage has been full.
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_full_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Liveness and storage reachability: `503 store_unavailable` while the data
/// store does not answer, `503 store_damaged` once its files were found damaged
/// (at a periodic check or by a request).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = crate::error::ErrorBody)))]
pub(crate) async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if let Some(since) = state.vault.damaged_since() {
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_damaged",
            format!("the data store was found damaged at {since}; restore it from a backup (`kidvault restore`)"),
        ));
    }
    if state.vault.healthy().await {
        let since = state.vault.storage_full_since();
        Ok(Json(Health {
            status: if since.is_some() { "degraded" } else { "ok" },
            storage: if since.is_some() { "full" } else { "ok" },
            storage_full_since: since,
        }))
    } else {
        Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the data store does not answer"))
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

pub(crate) fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this resource does not accept that method")
}
