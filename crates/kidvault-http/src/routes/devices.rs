use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kidvault_domain::ids::DeviceId;
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{path_id, ApiJson, GuardianAuth};
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDevice {
    child_id: String,
    /// Shown to the guardian; stored sealed.
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DevicePaired {
    device_id: DeviceId,
    /// The device's bearer token. Shown only once.
    token: String,
}

/// Pair a device to a child.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = NewDevice, security(("guardian" = [])),
    responses((status = 201, body = DevicePaired), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn pair(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiJson(req): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<DevicePaired>)> {
    let paired = state.vault.pair_device(&g, path_id(&req.child_id)?, &req.name, chrono::Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(DevicePaired { device_id: paired.device_id, token: paired.token })))
}

/// Revoke a device: its token stops working at once.
#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.vault.revoke_device(&g, path_id(&id)?, chrono::Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
