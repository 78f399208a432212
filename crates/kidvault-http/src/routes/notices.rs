//! The guardian's mailbox: every notice the outbox wrote for them.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::notice::NoticeKind;
use kidvault_service::notices::NoticeRecord;
use serde::Serialize;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::GuardianAuth;
use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Notice {
    id: String,
    kind: NoticeKind,
    subject: String,
    /// Plain text.
    body: String,
    created_at: DateTime<Utc>,
    /// When and how (`mailbox` or `smtp`) it was delivered; absent while pending.
    delivered_at: Option<DateTime<Utc>>,
    delivered_via: Option<String>,
}

impl From<NoticeRecord> for Notice {
    fn from(n: NoticeRecord) -> Self {
        Self {
            id: n.id.to_string(),
            kind: n.kind,
            subject: n.subject,
            body: n.body,
            created_at: n.created_at,
            delivered_at: n.delivered_at,
            delivered_via: n.delivered_via,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Mailbox {
    notices: Vec<Notice>,
}

/// The signed-in guardian's notices, newest first (the latest 200), written in
/// the language the request asks for (`Accept-Language`; English by default).
#[utoipa::path(get, path = "/api/v1/notices", tag = "notices", security(("guardian" = [])),
    responses((status = 200, body = Mailbox), (status = 401, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    GuardianAuth(g, _): GuardianAuth,
) -> ApiResult<Json<Mailbox>> {
    let lang = crate::portal::session::lang_of(&headers);
    let notices = state.vault.mailbox(&g, lang, 200, chrono::Utc::now()).await?;
    Ok(Json(Mailbox { notices: notices.into_iter().map(Notice::from).collect() }))
}
