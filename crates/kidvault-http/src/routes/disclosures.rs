//! Use controls: processors fetch what they may receive; guardians see who
//! received what.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::disclosure::Purpose;
use kidvault_domain::ids::{ChildId, ItemId, ProcessorId};
use kidvault_domain::item::ItemKind;
use kidvault_service::disclosure::{Disclosed, DisclosureRegister};
use serde::Serialize;

use super::downstream::TaskView;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{path_id, ApiBytes, ApiPath, GuardianAuth};
use crate::AppState;

/// One item as a processor receives it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DisclosedItemView {
    item_id: ItemId,
    /// kidvault's opaque id of the child: name it in any later question.
    child_id: ChildId,
    kind: ItemKind,
    /// fideslang data category, e.g. `user.biometric.voice`.
    category: String,
    recorded_at: DateTime<Utc>,
    derived_from: Vec<ItemId>,
    media_type: String,
    /// The content, base64 (standard alphabet, padded).
    content_base64: String,
}

/// A batch of items sent to a processor (every item is recorded in the child's
/// disclosure register and the ledger before this response is sent).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DisclosedView {
    processor_id: ProcessorId,
    purpose: Purpose,
    items: Vec<DisclosedItemView>,
    /// More items are waiting: ask again.
    more: bool,
}

impl From<Disclosed> for DisclosedView {
    fn from(d: Disclosed) -> Self {
        Self {
            processor_id: d.processor_id,
            purpose: d.purpose,
            more: d.more,
            items: d
                .items
                .into_iter()
                .map(|i| DisclosedItemView {
                    item_id: i.item_id,
                    child_id: i.child_id,
                    kind: i.kind,
                    category: i.category,
                    recorded_at: i.recorded_at,
                    derived_from: i.derived_from,
                    media_type: i.media_type,
                    content_base64: i.content_base64,
                })
                .collect(),
        }
    }
}

/// What the signed feed request body holds.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct FeedRequest {
    processor_id: ProcessorId,
    /// 1 to 100 (default 20).
    #[schema(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// A processor fetches the next items it may receive: only items whose
/// child's consent in force allows the processor's purpose (`integral`: the
/// consent to collect; `third_party`/`training`: also that scope, given after the
/// processor was registered). Each item is sent once. Authenticated by the
/// `Kidvault-Signature` header over the body, like acknowledgements.
#[utoipa::path(post, path = "/api/v1/processor-feed", tag = "downstream",
    request_body = FeedRequest,
    params(("Kidvault-Signature" = String, Header)),
    responses((status = 200, body = DisclosedView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<DisclosedView>> {
    let Some(signature) = headers.get("kidvault-signature").and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a Kidvault-Signature header is required",
        ));
    };
    Ok(Json(state.vault.disclose_next(Some(signature), &body, Utc::now()).await?.into()))
}

/// What one processor received in one data category.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReceivedView {
    category: String,
    items: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// Of these, how many it was asked to delete after a withdrawal.
    recalled: u64,
}

/// One processor in a child's disclosure register.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RecipientView {
    processor_id: ProcessorId,
    name: String,
    purpose: Purpose,
    /// The purpose in plain words.
    purpose_text: &'static str,
    received: Vec<ReceivedView>,
    /// Deletion and recall requests sent to it about this child.
    requests: Vec<TaskView>,
}

/// A processor that received nothing of this child.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NonRecipientView {
    name: String,
    purpose: Purpose,
    /// Deletion requests it was sent about this child all the same (a processor
    /// registered as holding a category hears of every deletion of it).
    requests: Vec<TaskView>,
}

/// Who received this child's data, for what purpose, and what they were asked
/// to delete.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RegisterView {
    received: Vec<RecipientView>,
    received_nothing: Vec<NonRecipientView>,
}

impl RegisterView {
    pub(crate) fn new(r: DisclosureRegister, now: DateTime<Utc>) -> Self {
        Self {
            received: r
                .received
                .into_iter()
                .map(|e| RecipientView {
                    processor_id: e.processor_id,
                    name: e.processor_name,
                    purpose: e.purpose,
                    purpose_text: e.purpose.plain(),
                    received: e
                        .categories
                        .into_iter()
                        .map(|s| ReceivedView {
                            category: s.category.as_str().to_owned(),
                            items: s.items,
                            first_at: s.first_at,
                            last_at: s.last_at,
                            recalled: s.recalled,
                        })
                        .collect(),
                    requests: e.tasks.into_iter().map(|t| TaskView::new(t, now)).collect(),
                })
                .collect(),
            received_nothing: r
                .nothing
                .into_iter()
                .map(|e| NonRecipientView {
                    name: e.processor_name,
                    purpose: e.purpose,
                    requests: e.tasks.into_iter().map(|t| TaskView::new(t, now)).collect(),
                })
                .collect(),
        }
    }
}

/// The child's disclosure register: every processor that received the child's
/// data (what, how much, when, for which purpose) and the deletion requests it
/// was sent, and the processors that received nothing.
#[utoipa::path(get, path = "/api/v1/children/{id}/disclosures", tag = "children", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = RegisterView), (status = 404, body = ErrorBody)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RegisterView>> {
    let r = state.vault.disclosure_register(&g, path_id(&id)?).await?;
    Ok(Json(RegisterView::new(r, Utc::now())))
}
