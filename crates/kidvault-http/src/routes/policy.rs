//! The published retention policy, generated from the policy file in force.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

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
