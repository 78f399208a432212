use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::ids::{ChildId, DeviceId, ItemId};
use kidvault_domain::item::{DataCategory, ItemKind};
use kidvault_service::review::PageQuery;
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{path_id, ApiQuery, GuardianAuth};
use crate::range::RangeRequest;
use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ItemSummary {
    item_id: ItemId,
    kind: ItemKind,
    category: DataCategory,
    recorded_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    size: u64,
    derived_from: Vec<ItemId>,
}

impl From<kidvault_domain::item::ItemMeta> for ItemSummary {
    fn from(m: kidvault_domain::item::ItemMeta) -> Self {
        Self {
            item_id: m.id,
            kind: m.kind,
            category: m.category,
            recorded_at: m.recorded_at,
            received_at: m.received_at,
            size: m.size,
            derived_from: m.derived_from,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ItemPageDto {
    items: Vec<ItemSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only items of this kind.
    kind: Option<String>,
    /// Recorded at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    to: Option<DateTime<Utc>>,
    cursor: Option<String>,
    /// 1 to 200; default 50.
    limit: Option<u32>,
}

impl ListQuery {
    pub(crate) fn page(&self) -> PageQuery<'_> {
        PageQuery {
            kind: self.kind.as_deref(),
            from: self.from,
            to: self.to,
            cursor: self.cursor.as_deref(),
            limit: self.limit,
            ..PageQuery::default()
        }
    }
}

/// A child's items, newest first, cursor-paged.
#[utoipa::path(get, path = "/api/v1/children/{id}/items", tag = "review", security(("guardian" = [])),
    params(("id" = String, Path), ListQuery),
    responses((status = 200, body = ItemPageDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ItemPageDto>> {
    let page = state.vault.list_items(&g, path_id(&id)?, &q.page(), Utc::now()).await?;
    Ok(Json(page.into()))
}

impl From<kidvault_service::review::ItemPage> for ItemPageDto {
    fn from(page: kidvault_service::review::ItemPage) -> Self {
        Self { items: page.items.into_iter().map(ItemSummary::from).collect(), next_cursor: page.next_cursor }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ItemDto {
    item_id: ItemId,
    child_id: ChildId,
    kind: ItemKind,
    category: DataCategory,
    recorded_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    device_id: Option<DeviceId>,
    /// Plaintext size in bytes.
    size: u64,
    media_type: &'static str,
    /// What this item was derived from.
    derived_from: Vec<ItemId>,
    /// What was derived from this item.
    derived: Vec<ItemId>,
    /// Content by kind: text for transcripts and memories, an object for
    /// intents, action logs and locations, numbers for embeddings; null for
    /// audio (see `/content`).
    #[schema(value_type = Option<ItemContent>)]
    content: Option<serde_json::Value>,
}

/// The shapes an item's content takes (documentation only).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum ItemContent {
    Text(String),
    Object(JsonObject),
    Numbers(Vec<f64>),
}

/// Any JSON object (documentation only).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
pub(crate) struct JsonObject(serde_json::Value);

/// One item: metadata, lineage both ways, and text content.
#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "review", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ItemDto), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ItemDto>> {
    let v = state.vault.get_item(&g, path_id(&id)?, Utc::now()).await?;
    Ok(Json(ItemDto {
        item_id: v.meta.id,
        child_id: v.meta.child_id,
        kind: v.meta.kind,
        category: v.meta.category,
        recorded_at: v.meta.recorded_at,
        received_at: v.meta.received_at,
        device_id: v.meta.device_id,
        size: v.meta.size,
        media_type: v.media_type,
        derived_from: v.meta.derived_from,
        derived: v.derived,
        content: v.content,
    }))
}

/// The item's decrypted content (audio as `audio/wav`), whole or one byte range.
#[utoipa::path(get, path = "/api/v1/items/{id}/content", tag = "review", security(("guardian" = [])),
    params(("id" = String, Path), ("Range" = Option<String>, Header, description = "bytes=START-END (one range)")),
    responses((status = 200, description = "the content, in the item's media type"),
        (status = 206, description = "the requested byte range"),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)))]
pub(crate) async fn content(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // The range is checked against the size before anything is decrypted, so a
    // refused range reads (and records) nothing.
    let mut requested = RangeRequest::Full;
    let mut size = 0;
    let content = state
        .vault
        .item_content(
            &g,
            path_id(&id)?,
            |len| {
                size = len;
                requested = crate::range::resolve(range, len);
                requested != RangeRequest::Unsatisfiable
            },
            Utc::now(),
        )
        .await?;
    let Some((media_type, bytes)) = content else {
        let mut resp = crate::error::ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            format!("the content is {size} bytes long"),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(resp);
    };
    let len = bytes.len() as u64;
    let (status, body, content_range) = match requested {
        RangeRequest::Part { start, end } if end < len => (
            StatusCode::PARTIAL_CONTENT,
            bytes.slice(start as usize..=end as usize),
            Some(format!("bytes {start}-{end}/{len}")),
        ),
        _ => (StatusCode::OK, bytes, None),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Child content is never cached by browsers or proxies.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

/// Everything held about the child, as a ZIP archive streamed while it is
/// built: README, `manifest.json` (every item, lineage both ways), audio (WAV),
/// transcripts (text), other derived items (JSON), locations (GeoJSON and CSV),
/// consent history. Never written to disk on the server; one access record.
#[utoipa::path(get, path = "/api/v1/children/{id}/export", tag = "review", security(("guardian" = [])),
    params(("id" = String, Path)),
    responses((status = 200, content_type = "application/zip", body = crate::routes::ingest::BinaryBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let export = state.vault.export_child(&g, path_id(&id)?, Utc::now()).await?;
    let name = export.file_name();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let vault = std::sync::Arc::clone(&state.vault);
    tokio::spawn(async move {
        if let Err(e) = vault.stream_export(export, tx.clone()).await {
            tracing::warn!(error = %e, "export stopped");
            // Ends the body with an error, so the client sees a failed download, not a short archive.
            let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    let body = axum::body::Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|part| (part, rx))
    }));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
