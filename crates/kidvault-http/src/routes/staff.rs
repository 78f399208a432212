//! Staff: sign-in, purpose-bound reads of a child's data, the privacy
//! officer's review queue, and guardians' support grants.
//!
//! Every staff read names its purpose and ticket in headers
//! (`Kidvault-Purpose`, `Kidvault-Ticket`; `Kidvault-Break-Glass` carries a
//! written justification to override a denial). The access policy decides;
//! each allowed read is in the child's ledger, each refusal in the denials.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::ids::{ChildId, DenialId, GuardianId, ReviewId, StaffId, SupportGrantId};
use kidvault_domain::staff::StaffRole;
use kidvault_service::principal::StaffRequest;
use kidvault_service::staff::{AccessDenial, ManageProcessors, OpenedReview, ReviewAccess, SupportGrant};
use serde::{Deserialize, Serialize};

use super::items::{ItemContent, ItemPageDto, ItemSummary, ListQuery};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{path_id, ApiJson, ApiPath, ApiQuery, ClientAddr, GuardianAuth, Permitted, StaffAuth};
use crate::AppState;

/// Why a staff member asks: read from the request's headers.
fn staff_request(headers: &HeaderMap) -> StaffRequest {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).map(str::to_owned);
    StaffRequest {
        purpose: text("kidvault-purpose").filter(|p| !p.is_empty()),
        ticket: text("kidvault-ticket").unwrap_or_default(),
        break_glass: text("kidvault-break-glass").filter(|j| !j.is_empty()),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaffSignIn {
    /// The sign-in key from `kidvault admin create` (`kvk_...`).
    key: String,
    /// The current code from the authenticator app holding the account's TOTP secret.
    code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StaffSessionDto {
    /// Bearer token for staff requests (`kva_...`), valid until `expires_at`.
    token: String,
    expires_at: DateTime<Utc>,
    role: StaffRole,
}

/// Staff sign-out: the presented session ends at once (the account's other sessions stay).
#[utoipa::path(delete, path = "/api/v1/staff/sessions/current", tag = "staff", security(("staff" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    crate::extract::StaffAuth(_): crate::extract::StaffAuth,
    headers: axum::http::HeaderMap,
) -> ApiResult<StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    state.vault.staff_sign_out(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Staff sign-in: both factors, every time; a short-lived session.
#[utoipa::path(post, path = "/api/v1/staff/sign-in", tag = "staff", request_body = StaffSignIn,
    responses((status = 200, body = StaffSessionDto), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(body): ApiJson<StaffSignIn>,
) -> ApiResult<Json<StaffSessionDto>> {
    let t = state.vault.staff_sign_in(&body.key, &body.code, from, Utc::now()).await?;
    Ok(Json(StaffSessionDto { token: t.token, expires_at: t.expires_at, role: t.role }))
}

/// What staff see of a child: counts, dates and kinds; never content.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ChildMetadataDto {
    child_id: ChildId,
    #[schema(value_type = String)]
    status: &'static str,
    created_at: DateTime<Utc>,
    last_active_at: Option<DateTime<Utc>>,
    /// Live items per kind.
    counts: std::collections::BTreeMap<String, u64>,
}

/// A child's metadata, for a purpose the access policy allows (a recorded read).
#[utoipa::path(get, path = "/api/v1/staff/children/{id}", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path),
        ("Kidvault-Purpose" = Option<String>, Header, description = "support_ticket, safety_report, legal_hold, debugging or audit"),
        ("Kidvault-Ticket" = Option<String>, Header, description = "the ticket or case reference"),
        ("Kidvault-Break-Glass" = Option<String>, Header, description = "a written justification to override a denial")),
    responses((status = 200, body = ChildMetadataDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn child(
    State(state): State<AppState>,
    StaffAuth(s): StaffAuth,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Json<ChildMetadataDto>> {
    let m = state.vault.staff_child(&s, path_id(&id)?, &staff_request(&headers), Utc::now()).await?;
    Ok(Json(ChildMetadataDto {
        child_id: m.child_id,
        status: m.status.as_str(),
        created_at: m.created_at,
        last_active_at: m.last_active_at,
        counts: m.counts,
    }))
}

/// A page of a child's items, metadata only (a recorded read).
#[utoipa::path(get, path = "/api/v1/staff/children/{id}/items", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path), ListQuery,
        ("Kidvault-Purpose" = Option<String>, Header), ("Kidvault-Ticket" = Option<String>, Header),
        ("Kidvault-Break-Glass" = Option<String>, Header)),
    responses((status = 200, body = ItemPageDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn items(
    State(state): State<AppState>,
    StaffAuth(s): StaffAuth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<ItemPageDto>> {
    let page = state.vault.staff_items(&s, path_id(&id)?, &q.page(), &staff_request(&headers), Utc::now()).await?;
    Ok(Json(page.into()))
}

/// An item read from a staff content page.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ContentItemDto {
    #[serde(flatten)]
    item: ItemSummary,
    /// The words as a string (transcripts, memories); an intent, action log or place as an object.
    #[schema(value_type = ItemContent)]
    content: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ContentPageDto {
    items: Vec<ContentItemDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// A page of one kind of a child's content (`kind` is required: transcript,
/// intent, memory, action_log or location), for a purpose the access policy allows: one
/// recorded read naming every item, which the guardians see as one line.
/// Recordings are listened to one at a time from `/api/v1/staff/items/{id}/content`.
#[utoipa::path(get, path = "/api/v1/staff/children/{id}/content", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path), ListQuery,
        ("Kidvault-Purpose" = Option<String>, Header), ("Kidvault-Ticket" = Option<String>, Header),
        ("Kidvault-Break-Glass" = Option<String>, Header)),
    responses((status = 200, body = ContentPageDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn content_page(
    State(state): State<AppState>,
    StaffAuth(s): StaffAuth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<ContentPageDto>> {
    let page =
        state.vault.staff_content_page(&s, path_id(&id)?, &q.page(), &staff_request(&headers), Utc::now()).await?;
    Ok(Json(ContentPageDto {
        items: page
            .items
            .into_iter()
            .map(|i| ContentItemDto { item: ItemSummary::from(i.meta), content: i.content })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One item's content (audio, words, a place), for a purpose the access policy
/// allows: a recorded read the child's guardians see.
#[utoipa::path(get, path = "/api/v1/staff/items/{id}/content", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path),
        ("Kidvault-Purpose" = Option<String>, Header), ("Kidvault-Ticket" = Option<String>, Header),
        ("Kidvault-Break-Glass" = Option<String>, Header)),
    responses((status = 200, description = "the content, in the item's media type"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn content(
    State(state): State<AppState>,
    StaffAuth(s): StaffAuth,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (media_type, bytes) =
        state.vault.staff_item_content(&s, path_id(&id)?, &staff_request(&headers), Utc::now()).await?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReviewDto {
    review_id: ReviewId,
    staff_id: StaffId,
    role: StaffRole,
    child_id: ChildId,
    action: String,
    purpose: String,
    ticket: String,
    /// What the staff member wrote; null once the child's data has been deleted.
    justification: Option<String>,
    /// The ledger entry recording the access.
    ledger_index: u64,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    decided_by: Option<StaffId>,
    /// `justified` or `not_justified`.
    decision: Option<String>,
    note: Option<String>,
}

impl From<OpenedReview> for ReviewDto {
    fn from(o: OpenedReview) -> Self {
        let r = o.review;
        Self {
            review_id: r.id,
            staff_id: r.staff_id,
            role: r.role,
            child_id: r.child_id,
            action: r.action,
            purpose: r.purpose,
            ticket: r.ticket,
            justification: o.justification,
            ledger_index: r.ledger_index,
            created_at: r.created_at,
            decided_at: r.decided_at,
            decided_by: r.decided_by,
            decision: r.decision,
            note: r.note,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewsQuery {
    /// Only reviews not yet decided (default true).
    open: Option<bool>,
}

/// Break-glass accesses waiting for (or closed by) the privacy officer.
#[utoipa::path(get, path = "/api/v1/privacy/reviews", tag = "staff", security(("staff" = [])), params(ReviewsQuery),
    responses((status = 200, body = Vec<ReviewDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn reviews(
    State(state): State<AppState>,
    Permitted(s): Permitted<ReviewAccess>,
    ApiQuery(q): ApiQuery<ReviewsQuery>,
) -> ApiResult<Json<Vec<ReviewDto>>> {
    let reviews = state.vault.access_reviews(&s, q.open.unwrap_or(true)).await?;
    Ok(Json(reviews.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Decision {
    /// Whether the override was justified.
    justified: bool,
    /// Why (1 to 2000 characters).
    note: String,
}

/// Closes a break-glass review; the child's guardians see the decision.
#[utoipa::path(post, path = "/api/v1/privacy/reviews/{id}", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = ReviewDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn decide(
    State(state): State<AppState>,
    Permitted(s): Permitted<ReviewAccess>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Decision>,
) -> ApiResult<Json<ReviewDto>> {
    let r = state.vault.decide_review(&s, path_id(&id)?, body.justified, &body.note, Utc::now()).await?;
    Ok(Json(r.into()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DenialDto {
    denial_id: DenialId,
    staff_id: StaffId,
    role: StaffRole,
    child_id: Option<ChildId>,
    action: String,
    purpose: Option<String>,
    ticket: String,
    /// The stable code the staff member was given.
    code: String,
    at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DenialsDto {
    /// How many staff requests have been refused, ever.
    total: u64,
    /// The latest, newest first.
    denials: Vec<DenialDto>,
}

impl From<AccessDenial> for DenialDto {
    fn from(d: AccessDenial) -> Self {
        Self {
            denial_id: d.id,
            staff_id: d.staff_id,
            role: d.role,
            child_id: d.child_id,
            action: d.action,
            purpose: d.purpose,
            ticket: d.ticket,
            code: d.code,
            at: d.at,
        }
    }
}

/// Staff requests the access policy refused (the privacy officer's; never shown to parents).
#[utoipa::path(get, path = "/api/v1/privacy/denials", tag = "staff", security(("staff" = [])),
    responses((status = 200, body = DenialsDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn denials(
    State(state): State<AppState>,
    Permitted(s): Permitted<ReviewAccess>,
) -> ApiResult<Json<DenialsDto>> {
    let (denials, total) = state.vault.access_denials(&s, 200).await?;
    Ok(Json(DenialsDto { total, denials: denials.into_iter().map(Into::into).collect() }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PolicyDto {
    /// SHA-256 of the policy text in force.
    digest: String,
}

/// Reads the access policy file again and puts it in force (a ledger entry
/// when it changed); an invalid file is refused with its line and changes nothing.
#[utoipa::path(post, path = "/api/v1/admin/access-policy/reload", tag = "staff", security(("staff" = [])),
    responses((status = 200, body = PolicyDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn reload_policy(
    State(state): State<AppState>,
    Permitted(s): Permitted<ManageProcessors>,
) -> ApiResult<Json<PolicyDto>> {
    let digest = state.vault.reload_policy_as(&s, Utc::now()).await?;
    Ok(Json(PolicyDto { digest }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SupportGrantDto {
    grant_id: SupportGrantId,
    granted_by: GuardianId,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<SupportGrant> for SupportGrantDto {
    fn from(g: SupportGrant) -> Self {
        Self {
            grant_id: g.id,
            granted_by: g.guardian_id,
            created_at: g.created_at,
            expires_at: g.expires_at,
            revoked_at: g.revoked_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SupportAccessDto {
    /// The grant in force, if support may see the child's data now.
    active: Option<SupportGrantDto>,
    /// The latest grants, newest first.
    recent: Vec<SupportGrantDto>,
}

/// Whether support may see this child's data now.
#[utoipa::path(get, path = "/api/v1/children/{id}/support-access", tag = "children", security(("guardian" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SupportAccessDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn support_access(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SupportAccessDto>> {
    let a = state.vault.support_access(&g, path_id(&id)?, Utc::now()).await?;
    Ok(Json(SupportAccessDto {
        active: a.active.map(Into::into),
        recent: a.recent.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantSupport {
    /// How long support may see the child's data: 1 to 168 hours (default 24).
    hours: Option<u32>,
}

/// Lets support see this child's data for a time (ending any earlier grant).
#[utoipa::path(post, path = "/api/v1/children/{id}/support-access", tag = "children", security(("guardian" = [])),
    params(("id" = String, Path)), request_body = GrantSupport,
    responses((status = 201, body = SupportGrantDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn grant_support(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GrantSupport>,
) -> ApiResult<(StatusCode, Json<SupportGrantDto>)> {
    let hours = body.hours.unwrap_or(kidvault_service::staff::DEFAULT_GRANT_HOURS);
    let grant = state.vault.grant_support(&g, path_id(&id)?, hours, Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(grant.into())))
}

/// Ends support's access to this child's data now.
#[utoipa::path(delete, path = "/api/v1/children/{id}/support-access", tag = "children", security(("guardian" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "support can no longer see the data"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_support(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.vault.revoke_support(&g, path_id(&id)?, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
