//! The published retention policy, generated from the policy file in force.

use crate::extract::ApiPath;
use axum::extract::State;
use axum::Json;
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
