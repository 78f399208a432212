use std::sync::Arc;

use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::deletion::DeletionStep;
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::{ChildId, DeletionId, DeviceId};
use kidvault_ledger::receipt::DocumentReceipt;
use kidvault_service::deletion::Within;
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{path_id, ApiJson, GuardianAuth};
use crate::routes::downstream::TaskView;
use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeletionAccepted {
    deletion_id: DeletionId,
}

/// Starts the deletion runner now (it also runs periodically, and at start-up).
fn accepted(state: &AppState, id: DeletionId) -> (StatusCode, Json<DeletionAccepted>) {
    run_deletions_now(state);
    (StatusCode::ACCEPTED, Json(DeletionAccepted { deletion_id: id }))
}

/// Runs the deletion pipeline now, in the background (it also runs periodically).
pub(crate) fn run_deletions_now(state: &AppState) {
    let vault = Arc::clone(&state.vault);
    tokio::spawn(async move {
        if let Err(e) = vault.run_deletions(Utc::now()).await {
            tracing::error!(error = %e, "deletion run failed; it will be retried");
        }
    });
}

/// Delete an item and everything derived from it, transitively.
#[utoipa::path(delete, path = "/api/v1/items/{id}", tag = "deletion", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 202, body = DeletionAccepted), (status = 404, body = ErrorBody)))]
pub(crate) async fn item(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<DeletionAccepted>)> {
    let id = state.vault.delete_item(&g, path_id(&id)?, Utc::now()).await?;
    Ok(accepted(&state, id))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDeletion {
    /// Only these kinds.
    #[serde(default)]
    kinds: Vec<String>,
    /// Recorded at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only what this device (one of the child's) sent.
    device_id: Option<DeviceId>,
    /// Every item of the child (not the profile: see `DELETE /children/{id}`).
    #[serde(default)]
    all: bool,
}

/// Delete a child's items by kind, time range and/or device, or all of them.
#[utoipa::path(post, path = "/api/v1/children/{id}/deletions", tag = "deletion", request_body = NewDeletion,
    security(("guardian" = [])), params(("id" = String, Path)),
    responses((status = 202, body = DeletionAccepted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn items(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewDeletion>,
) -> ApiResult<(StatusCode, Json<DeletionAccepted>)> {
    let within = Within { from: req.from, to: req.to, device: req.device_id };
    let id = state.vault.delete_items(&g, path_id(&id)?, &req.kinds, within, req.all, Utc::now()).await?;
    Ok(accepted(&state, id))
}

/// Delete the child: profile, keys, consents, devices and all its data.
#[utoipa::path(delete, path = "/api/v1/children/{id}", tag = "deletion", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 202, body = DeletionAccepted), (status = 404, body = ErrorBody)))]
pub(crate) async fn child(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<DeletionAccepted>)> {
    let id = state.vault.delete_child(&g, path_id(&id)?, Utc::now()).await?;
    Ok(accepted(&state, id))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseAccount {
    /// The guardian's password, again.
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClosureAccepted {
    /// One deletion per child; follow them (and download their receipts) until
    /// they complete, after which the account itself is purged.
    deletion_ids: Vec<DeletionId>,
}

/// Close the account: delete every child of the household, then the guardians,
/// their sessions and the household itself.
#[utoipa::path(post, path = "/api/v1/household/close", tag = "deletion", request_body = CloseAccount,
    security(("guardian" = [])),
    responses((status = 202, body = ClosureAccepted), (status = 403, body = ErrorBody)))]
pub(crate) async fn close_household(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiJson(req): ApiJson<CloseAccount>,
) -> ApiResult<(StatusCode, Json<ClosureAccepted>)> {
    let ids = state.vault.close_household(&g, &req.password, Utc::now()).await?;
    run_deletions_now(&state);
    Ok((StatusCode::ACCEPTED, Json(ClosureAccepted { deletion_ids: ids })))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StepStatus {
    step: DeletionStep,
    done: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeletionStatus {
    deletion_id: DeletionId,
    child_id: ChildId,
    #[schema(value_type = Object)]
    scope: serde_json::Value,
    reason: String,
    /// The last step reached.
    step: DeletionStep,
    steps: Vec<StepStatus>,
    requested_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Present once the deletion is complete.
    receipt_url: Option<String>,
    /// Every downstream processor told of this deletion.
    processors: Vec<TaskView>,
    /// The processors that have not yet acknowledged: "waiting for X".
    waiting_for: Vec<String>,
    /// Models trained on data this deletion removed, and whether each was
    /// retrained without it or destroyed (by its deadline).
    models: Vec<super::datasets::ModelView>,
}

/// The state of every step of a deletion.
#[utoipa::path(get, path = "/api/v1/deletions/{id}", tag = "deletion", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = DeletionStatus), (status = 404, body = ErrorBody)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DeletionStatus>> {
    let id = path_id(&id)?;
    let d = state.vault.deletion(&g, id).await?;
    let now = Utc::now();
    let processors: Vec<TaskView> =
        state.vault.deletion_tasks(&g, id).await?.into_iter().map(|t| TaskView::new(t, now)).collect();
    let models = state
        .vault
        .deletion_models(&g, id)
        .await?
        .into_iter()
        .map(|m| super::datasets::ModelView::new(m, now))
        .collect();
    Ok(Json(DeletionStatus {
        models,
        waiting_for: processors
            .iter()
            .filter(|t| t.state != TaskState::Acknowledged)
            .map(|t| t.processor.clone())
            .collect(),
        processors,
        deletion_id: d.id,
        child_id: d.child_id,
        scope: serde_json::to_value(&d.scope).unwrap_or_default(),
        reason: d.reason.as_str().into(),
        step: d.step,
        steps: DeletionStep::ALL.into_iter().map(|s| StepStatus { step: s, done: s <= d.step }).collect(),
        requested_at: d.requested_at,
        updated_at: d.updated_at,
        receipt_url: (d.step == DeletionStep::Completed).then(|| format!("/api/v1/deletions/{}/receipt", d.id)),
    }))
}

/// The receipt of a completed deletion, verifiable offline with `kidvault verify-receipt`.
#[utoipa::path(get, path = "/api/v1/deletions/{id}/receipt", tag = "deletion", security(("guardian" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "document + ledger proof"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn receipt(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DocumentReceipt>> {
    Ok(Json(state.vault.deletion_receipt(&g, path_id(&id)?, Utc::now()).await?))
}
