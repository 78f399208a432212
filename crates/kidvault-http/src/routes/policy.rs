//! The published retention policy, generated from the policy file in force.

use crate::extract::ApiPath;
use axum::extract::State;
use axum::Json;
use kidvault_domain::ids::DeletionId;
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{path_id, ApiJson, GuardianAuth};
use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PublishedPolicy {
    /// The retention policy's version.
    version: String,
    /// The notice version consent must name now (privacy notice + this policy).
    notice_version: String,
    /// The policy, as loaded (every rule with its purpose, period and reason).
    #[schema(value_type = Object)]
    policy: serde_json::Value,
    /// The published text (Markdown), generated from the same policy.
    markdown: String,
}

/// The written retention policy in force (public).
#[utoipa::path(get, path = "/api/v1/policy/retention", tag = "policy", responses((status = 200, body = PublishedPolicy)))]
pub(crate) async fn retention(State(state): State<AppState>) -> Json<PublishedPolicy> {
    let p = &state.vault.config().retention;
    Json(PublishedPolicy {
        version: p.version.clone(),
        notice_version: state.vault.notice_version().to_owned(),
        policy: serde_json::to_value(p).unwrap_or_default(),
        markdown: p.render_markdown(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RetentionState {
    /// `active`, `dormant` (deletion pending) or `kept`.
    state: &'static str,
    last_active_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the profile becomes dormant if it stays unused.
    dormant_from: Option<chrono::DateTime<chrono::Utc>>,
    dormant_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When a dormant profile will be deleted.
    deletion_at: Option<chrono::DateTime<chrono::Utc>>,
    keep_when_dormant: bool,
    kept_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<kidvault_service::sweeps::RetentionView> for RetentionState {
    fn from(v: kidvault_service::sweeps::RetentionView) -> Self {
        Self {
            state: v.state,
            last_active_at: v.last_active_at,
            dormant_from: v.dormant_from,
            dormant_at: v.dormant_at,
            deletion_at: v.deletion_at,
            keep_when_dormant: v.keep_when_dormant,
            kept_at: v.kept_at,
        }
    }
}

/// The child's activity state under the dormancy rule.
#[utoipa::path(get, path = "/api/v1/children/{id}/retention", tag = "policy", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = RetentionState), (status = 404, body = ErrorBody)))]
pub(crate) async fn child_retention(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RetentionState>> {
    Ok(Json(state.vault.retention_state(&g, path_id(&id)?).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeepChoice {
    keep_when_dormant: bool,
}

/// Keep the profile even when unused (ends a pending dormancy deletion), or stop keeping it.
#[utoipa::path(put, path = "/api/v1/children/{id}/retention", tag = "policy", security(("guardian" = [])),
    params(("id" = String, Path)), request_body = KeepChoice,
    responses((status = 200, body = RetentionState), (status = 404, body = ErrorBody)))]
pub(crate) async fn set_child_retention(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<KeepChoice>,
) -> ApiResult<Json<RetentionState>> {
    let v = state.vault.set_keep_when_dormant(&g, path_id(&id)?, req.keep_when_dormant, chrono::Utc::now()).await?;
    Ok(Json(v.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AutoDeleteChoice {
    /// `null`: as long as the retention policy allows; `0`: don't save
    /// recordings (the device must use the ephemeral path); `n`: keep each `n`
    /// days (at most the policy's period).
    keep_recordings_days: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AutoDelete {
    /// The parent's choice (`null`: the policy's period).
    keep_recordings_days: Option<u32>,
    /// How long each recording is kept now: the shorter of the choice and the policy.
    recordings_kept_days: u32,
    /// The longest the retention policy keeps a recording.
    policy_days: u32,
    /// The deletion that applied a new choice to recordings already older, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_id: Option<DeletionId>,
}

/// The auto-delete choice for a child's recordings.
#[utoipa::path(get, path = "/api/v1/children/{id}/auto-delete", tag = "policy", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AutoDelete), (status = 404, body = ErrorBody)))]
pub(crate) async fn auto_delete(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AutoDelete>> {
    let child = state.vault.get_child(&g, path_id(&id)?, chrono::Utc::now()).await?;
    Ok(Json(AutoDelete::of(&state, &child.child, None)))
}

impl AutoDelete {
    fn of(state: &AppState, child: &kidvault_domain::entities::Child, deletion_id: Option<DeletionId>) -> Self {
        Self {
            keep_recordings_days: child.keep_recordings_days,
            recordings_kept_days: state.vault.recording_days(child),
            policy_days: state.vault.policy_recording_days(),
            deletion_id,
        }
    }
}

/// Choose how long a child's recordings are kept (never longer than the
/// policy); recordings already older are deleted at once, with everything
/// derived from them.
#[utoipa::path(put, path = "/api/v1/children/{id}/auto-delete", tag = "policy", security(("guardian" = [])),
    params(("id" = String, Path)), request_body = AutoDeleteChoice,
    responses((status = 200, body = AutoDelete), (status = 404, body = ErrorBody),
        (status = 422, description = "longer_than_policy", body = ErrorBody)))]
pub(crate) async fn set_auto_delete(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AutoDeleteChoice>,
) -> ApiResult<Json<AutoDelete>> {
    let now = chrono::Utc::now();
    let child_id = path_id(&id)?;
    let deletion_id = state.vault.set_auto_delete(&g, child_id, req.keep_recordings_days, now).await?;
    if deletion_id.is_some() {
        crate::routes::deletions::run_deletions_now(&state);
    }
    let child = state.vault.get_child(&g, child_id, now).await?;
    Ok(Json(AutoDelete::of(&state, &child.child, deletion_id)))
}
