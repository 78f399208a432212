//! Downstream processors (admin) and their acknowledgements (processors).

use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::disclosure::Purpose;
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::{DeletionId, ProcessorId, TaskId};
use kidvault_service::downstream::{NewProcessor, ProcessorRecord, TaskRecord};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{path_id, ApiBytes, ApiJson, Permitted};
use crate::AppState;
use kidvault_service::staff::ManageProcessors;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProcessorRequest {
    name: String,
    /// Webhook URL (http:// or https://). Redirects are not followed.
    url: String,
    /// Why it receives children's data: `integral` (runs part of the service;
    /// covered by the consent to collect), `third_party` (needs each child's
    /// `third_party` consent) or `training` (needs each child's `training` consent).
    purpose: String,
    /// The data categories it holds (fideslang), e.g. `user.content`.
    categories: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProcessorView {
    id: ProcessorId,
    name: String,
    url: String,
    purpose: Purpose,
    categories: Vec<String>,
    created_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
}

impl From<ProcessorRecord> for ProcessorView {
    fn from(p: ProcessorRecord) -> Self {
        Self {
            id: p.id,
            name: p.name,
            url: p.url,
            purpose: p.purpose,
            categories: p.categories.iter().map(|c| c.as_str().to_owned()).collect(),
            created_at: p.created_at,
            disabled_at: p.disabled_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RegisteredProcessor {
    #[serde(flatten)]
    processor: ProcessorView,
    /// The webhook signing secret. Shown only in this response: keep it in the
    /// processor's configuration. HMAC-SHA256 key = this string's UTF-8 bytes.
    secret: String,
}

/// Register a downstream processor (admin).
#[utoipa::path(post, path = "/api/v1/admin/processors", tag = "downstream", security(("staff" = [])),
    request_body = ProcessorRequest,
    responses((status = 201, body = RegisteredProcessor), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    Permitted(s): Permitted<ManageProcessors>,
    ApiJson(req): ApiJson<ProcessorRequest>,
) -> ApiResult<(StatusCode, Json<RegisteredProcessor>)> {
    let req = NewProcessor { name: req.name, url: req.url, purpose: req.purpose, categories: req.categories };
    let (p, secret) = state.vault.register_processor(&s, req, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(RegisteredProcessor { processor: p.into(), secret })))
}

/// Every registered processor (admin).
#[utoipa::path(get, path = "/api/v1/admin/processors", tag = "downstream", security(("staff" = [])),
    responses((status = 200, body = [ProcessorView]), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Permitted(s): Permitted<ManageProcessors>,
) -> ApiResult<Json<Vec<ProcessorView>>> {
    Ok(Json(state.vault.processors(&s).await?.into_iter().map(Into::into).collect()))
}

/// Stop telling a processor of new deletions (admin). Its open tasks stay open.
#[utoipa::path(delete, path = "/api/v1/admin/processors/{id}", tag = "downstream", security(("staff" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn disable(
    State(state): State<AppState>,
    Permitted(s): Permitted<ManageProcessors>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.vault.disable_processor(&s, path_id(&id)?, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A request to one processor to delete what it holds of a child: its part of a
/// deletion, or a recall after a parent withdrew the consent its purpose needs.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TaskView {
    id: TaskId,
    /// `deletion` or `recall`.
    kind: &'static str,
    /// The deletion it is part of (none for a recall).
    deletion_id: Option<DeletionId>,
    pub(crate) processor: String,
    pub(crate) state: TaskState,
    attempts: u32,
    deadline: DateTime<Utc>,
    /// Unacknowledged past its deadline.
    overdue: bool,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    acknowledged_at: Option<DateTime<Utc>>,
    /// The last delivery failure (e.g. `HTTP 503`, `timed out`).
    last_error: Option<String>,
}

impl TaskView {
    pub(crate) fn new(t: TaskRecord, now: DateTime<Utc>) -> Self {
        Self {
            overdue: t.overdue(now),
            id: t.id,
            kind: if t.deletion_id.is_some() { "deletion" } else { "recall" },
            deletion_id: t.deletion_id,
            processor: t.processor_name,
            state: t.state,
            attempts: t.attempts,
            deadline: t.deadline,
            next_attempt_at: t.next_attempt_at.filter(|_| t.state == TaskState::Pending),
            delivered_at: t.delivered_at,
            acknowledged_at: t.acknowledged_at,
            last_error: t.last_error,
        }
    }
}

/// Unacknowledged processor tasks, earliest deadline first, overdue ones marked (admin).
#[utoipa::path(get, path = "/api/v1/admin/processor-tasks", tag = "downstream", security(("staff" = [])),
    responses((status = 200, body = [TaskView]), (status = 403, body = ErrorBody)))]
pub(crate) async fn open_tasks(
    State(state): State<AppState>,
    Permitted(s): Permitted<ManageProcessors>,
) -> ApiResult<Json<Vec<TaskView>>> {
    let now = Utc::now();
    Ok(Json(state.vault.open_tasks(&s).await?.into_iter().map(|t| TaskView::new(t, now)).collect()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Acknowledged {
    task_id: TaskId,
    state: TaskState,
    acknowledged_at: Option<DateTime<Utc>>,
}

/// A processor confirms it deleted its copies. Authenticated by the
/// `Kidvault-Signature` header (`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
/// under the processor's secret), not by a bearer token. Idempotent.
#[utoipa::path(post, path = "/api/v1/processor-tasks/{id}/ack", tag = "downstream",
    params(("id" = String, Path), ("Kidvault-Signature" = String, Header)),
    responses((status = 200, body = Acknowledged), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn ack(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<Acknowledged>> {
    // No signature: refused before anything is looked up.
    let Some(signature) = headers.get("kidvault-signature").and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a Kidvault-Signature header is required",
        ));
    };
    let t = state.vault.acknowledge_task(path_id(&id)?, Some(signature), &body, Utc::now()).await?;
    // The deletion may now complete: run it at once rather than at the next tick.
    crate::routes::deletions::run_deletions_now(&state);
    Ok(Json(Acknowledged { task_id: t.id, state: t.state, acknowledged_at: t.acknowledged_at }))
}
