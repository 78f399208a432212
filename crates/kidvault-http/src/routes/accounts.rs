use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kidvault_domain::ids::{GuardianId, HouseholdId};
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ClientAddr, GuardianAuth};
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewGuardian {
    #[schema(format = "email", max_length = 254)]
    email: String,
    /// 12 to 256 characters.
    #[schema(min_length = 12, max_length = 256)]
    password: String,
    #[schema(min_length = 1, max_length = 64)]
    display_name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct GuardianCreated {
    guardian_id: GuardianId,
    household_id: HouseholdId,
}

/// Create a guardian account and its household.
#[utoipa::path(post, path = "/api/v1/guardians", tag = "accounts", request_body = NewGuardian,
    responses((status = 201, body = GuardianCreated), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "too many new accounts from this address (10 per 15 minutes)", body = ErrorBody)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<NewGuardian>,
) -> ApiResult<(StatusCode, Json<GuardianCreated>)> {
    let (guardian_id, household_id) =
        state.vault.register_guardian(&req.email, &req.password, &req.display_name, from, chrono::Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(GuardianCreated { guardian_id, household_id })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    email: String,
    password: String,
    /// With two-step sign-in on: the app's current code, or a recovery code.
    #[serde(default)]
    code: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Session {
    /// Bearer token for `Authorization: Bearer ...`.
    token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// Sign in; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = SignIn,
    responses((status = 201, body = Session),
        (status = 401, description = "unauthenticated, totp_required or totp_invalid", body = ErrorBody),
        (status = 429, description = "too many failed attempts: from this address on this account, on this account (growing delays), or from this address across accounts", body = ErrorBody)))]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<SignIn>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let now = chrono::Utc::now();
    let token = state.vault.sign_in(&req.email, &req.password, req.code.as_deref(), from, now).await?;
    let agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    state.vault.name_session(&token, agent).await?;
    Ok((StatusCode::CREATED, Json(Session { token, expires_at: now + state.vault.config().session_ttl })))
}

/// Sign out: revoke the session whose token is presented.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "accounts", security(("guardian" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    GuardianAuth(_, token): GuardianAuth,
) -> ApiResult<StatusCode> {
    state.vault.sign_out(&token, chrono::Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SessionInfo {
    /// Names the session (the hex SHA-256 of its token; cannot sign in).
    id: String,
    /// The session making this request.
    current: bool,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
    /// Which browser or app signed in ("Chrome on Android"), when known.
    device: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SessionList {
    sessions: Vec<SessionInfo>,
}

/// The signed-in guardian's live sessions (API clients and portal), newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "accounts", security(("guardian" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    GuardianAuth(g, token): GuardianAuth,
) -> ApiResult<Json<SessionList>> {
    let sessions = state.vault.sessions(&g, &token, chrono::Utc::now()).await?;
    Ok(Json(SessionList {
        sessions: sessions
            .into_iter()
            .map(|s| SessionInfo {
                id: s.id,
                current: s.current,
                created_at: s.created_at,
                expires_at: s.expires_at,
                device: s.label,
            })
            .collect(),
    }))
}

/// Revoke one of your sessions (a lost phone, a shared computer).
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "accounts", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    crate::extract::ApiPath(id): crate::extract::ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.vault.revoke_session(&g, &id, chrono::Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InviteCreated {
    /// Single use; shown only now.
    token: String,
    /// Where the invited guardian accepts, in the portal.
    url: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// Invite another guardian (a second parent, a legal guardian) into the household.
#[utoipa::path(post, path = "/api/v1/household/invites", tag = "accounts", security(("guardian" = [])),
    responses((status = 201, body = InviteCreated), (status = 401, body = ErrorBody)))]
pub(crate) async fn invite(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
) -> ApiResult<(StatusCode, Json<InviteCreated>)> {
    let (token, expires_at) = state.vault.invite_guardian(&g, chrono::Utc::now()).await?;
    let url = format!("/portal/invite/{token}");
    Ok((StatusCode::CREATED, Json(InviteCreated { token, url, expires_at })))
}

/// Accept an invitation: creates the guardian in the inviting household. Used,
/// expired (`invite_expired`) or unknown invitations change nothing.
#[utoipa::path(post, path = "/api/v1/invites/{token}/accept", tag = "accounts", request_body = NewGuardian,
    params(("token" = String, Path)),
    responses((status = 201, body = GuardianCreated), (status = 404, body = ErrorBody),
        (status = 409, description = "invite_used, email_taken or household_closing", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn accept_invite(
    State(state): State<AppState>,
    crate::extract::ApiPath(token): crate::extract::ApiPath<String>,
    ApiJson(req): ApiJson<NewGuardian>,
) -> ApiResult<(StatusCode, Json<GuardianCreated>)> {
    let (guardian_id, household_id) =
        state.vault.accept_invite(&token, &req.email, &req.password, &req.display_name, chrono::Utc::now()).await?;
    Ok((StatusCode::CREATED, Json(GuardianCreated { guardian_id, household_id })))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TotpSetup {
    /// Base32 secret for the authenticator app (shown only now).
    secret: String,
    /// The same as an `otpauth://` link.
    uri: String,
}

/// Start setting up two-step sign-in; it is on once a first code is confirmed.
#[utoipa::path(post, path = "/api/v1/account/totp", tag = "accounts", security(("guardian" = [])),
    responses((status = 201, body = TotpSetup), (status = 409, description = "totp_already_on", body = ErrorBody)))]
pub(crate) async fn totp_begin(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
) -> ApiResult<(StatusCode, Json<TotpSetup>)> {
    let e = state.vault.totp_begin(&g).await?;
    Ok((StatusCode::CREATED, Json(TotpSetup { secret: e.secret, uri: e.uri })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TotpCode {
    code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RecoveryCodes {
    /// Ten single-use codes for when the app is lost (shown only now).
    recovery_codes: Vec<String>,
}

/// Turn two-step sign-in on with a first code from the app.
#[utoipa::path(post, path = "/api/v1/account/totp/enable", tag = "accounts", security(("guardian" = [])),
    request_body = TotpCode,
    responses((status = 200, body = RecoveryCodes), (status = 422, description = "totp_invalid", body = ErrorBody)))]
pub(crate) async fn totp_enable(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiJson(req): ApiJson<TotpCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    let recovery_codes = state.vault.totp_enable(&g, &req.code, chrono::Utc::now()).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Password {
    password: String,
}

/// Turn two-step sign-in off (password again).
#[utoipa::path(post, path = "/api/v1/account/totp/disable", tag = "accounts", security(("guardian" = [])),
    request_body = Password, responses((status = 204), (status = 403, description = "wrong_password", body = ErrorBody)))]
pub(crate) async fn totp_disable(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiJson(req): ApiJson<Password>,
) -> ApiResult<StatusCode> {
    state.vault.totp_disable(&g, &req.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeZone {
    /// An IANA time zone name, e.g. `America/Los_Angeles`: notices are written
    /// in it and the portal shows every time in it.
    time_zone: String,
}

/// Set the time zone notices and the portal use for this guardian.
#[utoipa::path(put, path = "/api/v1/account/time-zone", tag = "accounts", security(("guardian" = [])),
    request_body = TimeZone,
    responses((status = 200, body = TimeZone), (status = 401, body = ErrorBody),
        (status = 422, description = "invalid_time_zone", body = ErrorBody)))]
pub(crate) async fn set_time_zone(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiJson(body): ApiJson<TimeZone>,
) -> ApiResult<Json<TimeZone>> {
    let zone = state.vault.set_time_zone(&g, &body.time_zone).await?;
    Ok(Json(TimeZone { time_zone: zone.name().to_owned() }))
}
