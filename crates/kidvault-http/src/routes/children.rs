use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::consent::{Consent, ConsentMethod, ConsentScope};
use kidvault_domain::entities::ChildStatus;
use kidvault_domain::ids::{ChildId, ConsentId, GuardianId};
use kidvault_service::children::{ChildView, ConsentGiven};
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{path_id, ApiJson, GuardianAuth};
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewChild {
    display_name: String,
    birth_year: i32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ChildDto {
    child_id: ChildId,
    display_name: String,
    birth_year: i32,
    status: ChildStatus,
    created_at: DateTime<Utc>,
    /// Last time the child used a device.
    last_active_at: Option<DateTime<Utc>>,
    /// Consent scopes in force under the current notice.
    scopes: Vec<ConsentScope>,
    /// Consent was given only to an older notice; collection is paused until renewed.
    consent_renewal_required: bool,
}

impl From<ChildView> for ChildDto {
    fn from(v: ChildView) -> Self {
        Self {
            child_id: v.child.id,
            display_name: v.profile.display_name,
            birth_year: v.profile.birth_year,
            status: v.child.status,
            created_at: v.child.created_at,
            last_active_at: v.child.last_active_at,
            scopes: v.scopes,
            consent_renewal_required: v.consent_renewal_required,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ChildList {
    children: Vec<ChildDto>,
}

/// Add a child to the household. It starts in `pending_consent`.
#[utoipa::path(post, path = "/api/v1/children", tag = "children", request_body = NewChild, security(("guardian" = [])),
    responses((status = 201, body = ChildDto), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiJson(req): ApiJson<NewChild>,
) -> ApiResult<(StatusCode, Json<ChildDto>)> {
    let view = state.vault.create_child(&g, &req.display_name, req.birth_year, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// The household's children.
#[utoipa::path(get, path = "/api/v1/children", tag = "children", security(("guardian" = [])),
    responses((status = 200, body = ChildList), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
) -> ApiResult<Json<ChildList>> {
    let children = state.vault.list_children(&g, Utc::now()).await?;
    Ok(Json(ChildList { children: children.into_iter().map(Into::into).collect() }))
}

/// One child of the household.
#[utoipa::path(get, path = "/api/v1/children/{id}", tag = "children", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ChildDto), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChildDto>> {
    Ok(Json(state.vault.get_child(&g, path_id(&id)?, Utc::now()).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConsent {
    method: String,
    /// Reference to the verification evidence (form id, call id, ...). Never the evidence itself.
    evidence_ref: String,
    /// Must be the notice version currently in force.
    notice_version: String,
    /// Any of `voice`, `precise_location`, `training`, `third_party`.
    scopes: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ScopeGrantDto {
    scope: ConsentScope,
    withdrawn_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConsentDto {
    consent_id: ConsentId,
    child_id: ChildId,
    guardian_id: GuardianId,
    method: ConsentMethod,
    evidence_ref: String,
    notice_version: String,
    granted_at: DateTime<Utc>,
    scopes: Vec<ScopeGrantDto>,
}

impl From<Consent> for ConsentDto {
    fn from(c: Consent) -> Self {
        Self {
            consent_id: c.id,
            child_id: c.child_id,
            guardian_id: c.guardian_id,
            method: c.method,
            evidence_ref: c.evidence_ref,
            notice_version: c.notice_version,
            granted_at: c.granted_at,
            scopes: c
                .scopes
                .into_iter()
                .map(|g| ScopeGrantDto { scope: g.scope, withdrawn_at: g.withdrawn_at })
                .collect(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConsentList {
    consents: Vec<ConsentDto>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AwaitingConfirmation {
    /// `awaiting_confirmation`: a link went to the guardian (see `GET /api/v1/notices`).
    status: &'static str,
    expires_at: DateTime<Utc>,
}

/// Record verifiable parental consent for a child. With `email_plus`, nothing is
/// recorded yet: a confirmation link goes to the guardian through the notice
/// outbox (202), and the consent counts once it is followed.
#[utoipa::path(post, path = "/api/v1/children/{id}/consents", tag = "consent", request_body = NewConsent,
    security(("guardian" = [])), params(("id" = String, Path)),
    responses((status = 201, body = ConsentDto), (status = 202, body = AwaitingConfirmation),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn grant_consent(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewConsent>,
) -> ApiResult<Response> {
    let given = state
        .vault
        .grant_consent(&g, path_id(&id)?, &req.method, &req.evidence_ref, &req.notice_version, &req.scopes, Utc::now())
        .await?;
    Ok(match given {
        ConsentGiven::Recorded(c) => (StatusCode::CREATED, Json(ConsentDto::from(c))).into_response(),
        ConsentGiven::AwaitingConfirmation { expires_at } => {
            (StatusCode::ACCEPTED, Json(AwaitingConfirmation { status: "awaiting_confirmation", expires_at }))
                .into_response()
        }
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Confirmation {
    /// The token from the confirmation link (`/portal/consent/confirm/<token>`).
    token: String,
}

/// Confirm an e-mail-plus consent (the guardian who gave it, signed in).
#[utoipa::path(post, path = "/api/v1/consents/confirm", tag = "consent", request_body = Confirmation,
    security(("guardian" = [])),
    responses((status = 201, body = ConsentDto), (status = 404, body = ErrorBody),
        (status = 409, description = "confirmation_used", body = ErrorBody),
        (status = 422, description = "confirmation_expired", body = ErrorBody)))]
pub(crate) async fn confirm_consent(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiJson(req): ApiJson<Confirmation>,
) -> ApiResult<(StatusCode, Json<ConsentDto>)> {
    let consent = state.vault.confirm_consent(&g, &req.token, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(consent.into())))
}

/// The child's consent history.
#[utoipa::path(get, path = "/api/v1/children/{id}/consents", tag = "consent", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ConsentList), (status = 404, body = ErrorBody)))]
pub(crate) async fn consents(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConsentList>> {
    let consents = state.vault.consents(&g, path_id(&id)?).await?;
    Ok(Json(ConsentList { consents: consents.into_iter().map(Into::into).collect() }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ScopesInForce {
    scopes: Vec<ConsentScope>,
}

/// Withdraw one consent scope, effective on the next device request.
#[utoipa::path(delete, path = "/api/v1/children/{id}/consents/{scope}", tag = "consent", security(("guardian" = [])),
    params(("id" = String, Path), ("scope" = String, Path)),
    responses((status = 200, body = ScopesInForce), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn withdraw_scope(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath((id, scope)): ApiPath<(String, String)>,
) -> ApiResult<Json<ScopesInForce>> {
    let scopes = state.vault.withdraw_scope(&g, path_id(&id)?, &scope, Utc::now()).await?;
    Ok(Json(ScopesInForce { scopes }))
}

/// Who read this child's data, when, and for what purpose (the `access.read`
/// entries of the ledger, each provable).
#[utoipa::path(get, path = "/api/v1/children/{id}/access-log", tag = "children", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = super::ledger::Activity), (status = 404, body = ErrorBody)))]
pub(crate) async fn access_log(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<super::ledger::Activity>> {
    let entries = state.vault.access_log(&g, path_id(&id)?).await?;
    Ok(Json(super::ledger::Activity::from(entries)))
}
