use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::ids::ItemId;
use kidvault_domain::item::{DataCategory, ItemKind};
use kidvault_service::ingest::{Ingested, NewDerived};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{path_id, ApiBytes, ApiJson, ApiQuery, DeviceAuth};
use crate::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct IngestedDto {
    item_id: ItemId,
    kind: ItemKind,
    category: DataCategory,
    recorded_at: DateTime<Utc>,
    /// For locations: the precision at which the point was stored: `precise`, or
    /// the approximate cell (`geohash5`: about 4.9 km) when only
    /// `approximate_location` is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<String>,
}

fn created(state: &AppState, i: Ingested) -> (StatusCode, Json<IngestedDto>) {
    state.metrics.ingested(i.kind);
    (
        StatusCode::CREATED,
        Json(IngestedDto {
            item_id: i.item_id,
            kind: i.kind,
            category: i.category,
            recorded_at: i.recorded_at,
            precision: i.precision,
        }),
    )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordingQuery {
    /// When the audio was captured (RFC 3339); defaults to now.
    recorded_at: Option<DateTime<Utc>>,
}

const WAV_TYPES: [&str; 4] = ["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"];

/// Audio must be declared `audio/wav` (PCM).
fn require_wav(headers: &HeaderMap, what: &str) -> Result<(), ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if WAV_TYPES.contains(&media.as_str()) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("{what} must be sent as Content-Type: audio/wav"),
    ))
}

/// Upload a voice recording (device). The body is `audio/wav` PCM.
#[utoipa::path(post, path = "/api/v1/children/{id}/recordings", tag = "ingest", security(("device" = [])),
    params(("id" = String, Path), RecordingQuery),
    request_body(content = BinaryBody, content_type = "audio/wav"),
    responses((status = 201, body = IngestedDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn recording(
    State(state): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RecordingQuery>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<IngestedDto>)> {
    require_wav(&headers, "recordings")?;
    let i = state.vault.ingest_recording(&d, path_id(&id)?, body, q.recorded_at, Utc::now()).await?;
    Ok(created(&state, i))
}

/// Raw bytes: a PCM WAV file for recordings, a ZIP archive for exports
/// (documentation only).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(crate) struct BinaryBody(Vec<u8>);

/// The kinds of item a device derives from others (recordings and locations
/// have their own endpoints).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the handler parses the kind itself
#[schema(rename_all = "snake_case")]
pub(crate) enum DerivedKind {
    Transcript,
    Intent,
    Embedding,
    Memory,
    ActionLog,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewItem {
    #[schema(value_type = DerivedKind)]
    kind: String,
    /// Ids of the items this one was computed from (live items of the same child).
    #[serde(default)]
    derived_from: Vec<String>,
    /// A string for text kinds, an object for intents and action logs, an array of numbers for embeddings.
    content: serde_json::Value,
    recorded_at: Option<DateTime<Utc>>,
}

/// Store an item derived from others (device).
#[utoipa::path(post, path = "/api/v1/children/{id}/items", tag = "ingest", request_body = NewItem,
    security(("device" = [])), params(("id" = String, Path)),
    responses((status = 201, body = IngestedDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn item(
    State(state): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewItem>,
) -> ApiResult<(StatusCode, Json<IngestedDto>)> {
    let i = state
        .vault
        .ingest_derived(
            &d,
            path_id(&id)?,
            NewDerived {
                kind: &req.kind,
                derived_from: &req.derived_from,
                content: &req.content,
                recorded_at: req.recorded_at,
            },
            Utc::now(),
        )
        .await?;
    Ok(created(&state, i))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLocation {
    #[schema(minimum = -90, maximum = 90)]
    lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    lon: f64,
    /// Metres.
    #[schema(minimum = 0, maximum = 100000)]
    accuracy_m: f64,
    recorded_at: Option<DateTime<Utc>>,
}

/// Store a location fix (device). Needs `precise_location` (stored precisely, made
/// approximate after the retention policy's period) or `approximate_location`
/// (made approximate before it is stored).
#[utoipa::path(post, path = "/api/v1/children/{id}/locations", tag = "ingest", request_body = NewLocation,
    security(("device" = [])), params(("id" = String, Path)),
    responses((status = 201, body = IngestedDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn location(
    State(state): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewLocation>,
) -> ApiResult<(StatusCode, Json<IngestedDto>)> {
    let i = state
        .vault
        .ingest_location(&d, path_id(&id)?, (req.lat, req.lon, req.accuracy_m), req.recorded_at, Utc::now())
        .await?;
    Ok(created(&state, i))
}

/// Ephemeral audio (device; COPPA 312.5(c)(9)): a spoken request answered
/// without consent and never kept. The audio is held in memory only, handed to
/// the configured responder, whose answer is returned as is; nothing is stored,
/// derived or logged, only counted.
#[utoipa::path(post, path = "/api/v1/children/{id}/ephemeral", tag = "ingest", security(("device" = [])),
    params(("id" = String, Path)), request_body(content = BinaryBody, content_type = "audio/wav"),
    responses((status = 200, description = "the responder's answer"), (status = 404, body = ErrorBody),
        (status = 409, description = "ephemeral_unavailable: no responder configured", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn ephemeral(
    State(state): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    require_wav(&headers, "ephemeral audio")?;
    let answer = state.vault.answer_ephemeral(&d, path_id(&id)?, body).await?;
    state.metrics.ephemeral_answered();
    let mut resp = answer.body.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&answer.content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(resp)
}
