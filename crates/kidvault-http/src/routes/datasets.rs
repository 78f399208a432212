//! Training datasets and models, for training processors (ML pipelines), and
//! the admin's view of flagged models.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use kidvault_domain::ids::{DatasetId, ModelId};
use kidvault_service::datasets::{FlaggedModel, Manifest};
use serde::Serialize;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{path_id, ApiBytes, ApiPath, Permitted};
use crate::AppState;

fn signature(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers.get("kidvault-signature").and_then(|v| v.to_str().ok()).ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "a Kidvault-Signature header is required")
    })
}

fn processor(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers.get("kidvault-processor").and_then(|v| v.to_str().ok()).ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "a Kidvault-Processor header is required")
    })
}

/// A snapshot as created.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DatasetView {
    dataset_id: DatasetId,
    items: u64,
    shards: u32,
    created_at: DateTime<Utc>,
    /// GET it (signed over the path, `Kidvault-Processor` naming you) for the samples.
    manifest_path: String,
    /// `{n}` from 0 to shards − 1: each a WebDataset tar.
    shard_path: String,
}

/// What a snapshot request holds (documentation of the signed body).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct DatasetRequest {
    processor_id: String,
    /// `voice_recording`, `transcript` (default both).
    kinds: Option<Vec<String>>,
    /// Recorded at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// SISA shards, 1 to 256 (default 8); a child's data is in one shard.
    #[schema(minimum = 1, maximum = 256)]
    shards: Option<u32>,
}

/// A training processor snapshots the items it may use now: only children
/// whose parents allowed training (after this processor was registered), live
/// items of the named kinds, children not dormant. Signed like every processor
/// request (`Kidvault-Signature` over the body).
#[utoipa::path(post, path = "/api/v1/datasets", tag = "training", request_body = DatasetRequest,
    params(("Kidvault-Signature" = String, Header)),
    responses((status = 201, body = DatasetView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<DatasetView>)> {
    let d = state.vault.create_dataset(Some(signature(&headers)?), &body, Utc::now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(DatasetView {
            manifest_path: format!("/api/v1/datasets/{}", d.id),
            shard_path: format!("/api/v1/datasets/{}/shards/{{n}}", d.id),
            dataset_id: d.id,
            items: d.items,
            shards: d.shards,
            created_at: d.created_at,
        }),
    ))
}

/// What a snapshot would take now.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DatasetPreviewView {
    /// Children with at least one item the snapshot would take.
    children: u64,
    items: u64,
}

/// What a snapshot with these criteria would take now, by the same rule, before
/// anything is disclosed: nothing is written, recorded or sent. Signed like a
/// snapshot request.
#[utoipa::path(post, path = "/api/v1/datasets/preview", tag = "training", request_body = DatasetRequest,
    params(("Kidvault-Signature" = String, Header)),
    responses((status = 200, body = DatasetPreviewView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<DatasetPreviewView>> {
    let p = state.vault.preview_dataset(Some(signature(&headers)?), &body, Utc::now()).await?;
    Ok(Json(DatasetPreviewView { children: p.children, items: p.items }))
}

/// One sample of a snapshot.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SampleView {
    key: String,
    shard: u32,
    /// The child's pseudonym (stable for this processor; never the child's id).
    child: String,
    items: Vec<String>,
    recorded_at: DateTime<Utc>,
    /// Deleted or recalled since the snapshot: no longer in the shard; retrain without it.
    removed: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ManifestView {
    dataset_id: DatasetId,
    created_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    criteria: serde_json::Value,
    shards: u32,
    items: u64,
    samples: Vec<SampleView>,
}

impl From<Manifest> for ManifestView {
    fn from(m: Manifest) -> Self {
        Self {
            dataset_id: m.dataset_id,
            created_at: m.created_at,
            criteria: m.criteria,
            shards: m.shards,
            items: m.items,
            samples: m
                .samples
                .into_iter()
                .map(|s| SampleView {
                    key: s.key,
                    shard: s.shard,
                    child: s.child,
                    items: s.items.iter().map(ToString::to_string).collect(),
                    recorded_at: s.recorded_at,
                    removed: s.removed,
                })
                .collect(),
        }
    }
}

/// A snapshot's manifest: every sample with its shard and child pseudonym, and
/// which were removed since. Signed over the request path.
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "training",
    params(("id" = String, Path), ("Kidvault-Processor" = String, Header), ("Kidvault-Signature" = String, Header)),
    responses((status = 200, body = ManifestView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ManifestView>> {
    let (p, sig) = (processor(&headers)?, signature(&headers)?);
    let signed = format!("/api/v1/datasets/{id}");
    let m = state.vault.dataset_manifest(p, Some(sig), &signed, path_id(&id)?, Utc::now()).await?;
    Ok(Json(m.into()))
}

/// One shard as a WebDataset tar: per sample `<key>.wav` (the recording),
/// `<key>.txt` (the transcript made from it), `<key>.json` (items, child
/// pseudonym, sha256 of each file). Items removed since the snapshot are left
/// out. Streamed from memory; each download is a ledger entry. Signed over the
/// request path.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/shards/{n}", tag = "training",
    params(("id" = String, Path), ("n" = u32, Path), ("Kidvault-Processor" = String, Header),
        ("Kidvault-Signature" = String, Header)),
    responses((status = 200, content_type = "application/x-tar", body = crate::routes::ingest::BinaryBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn shard(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((id, n)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let (p, sig) = (processor(&headers)?, signature(&headers)?);
    let signed = format!("/api/v1/datasets/{id}/shards/{n}");
    let n: u32 = n.parse().map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such shard"))?;
    let dl = state.vault.open_shard(p, Some(sig), &signed, path_id(&id)?, n, Utc::now()).await?;
    let name = dl.file_name().to_owned();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let vault = std::sync::Arc::clone(&state.vault);
    tokio::spawn(async move {
        if let Err(e) = vault.stream_shard(dl, tx.clone()).await {
            tracing::warn!(error = %e, "shard download stopped");
            let _ = tx.send(Err(std::io::Error::other("shard failed"))).await;
        }
    });
    let body = axum::body::Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|part| (part, rx))
    }));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// What a model registration holds (documentation of the signed body).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ModelRequest {
    processor_id: String,
    name: String,
    version: String,
    /// `[{"dataset_id": "...", "shards": [0, 3]}]`: the shards it was trained on.
    #[schema(value_type = Vec<Object>)]
    trained_on: Vec<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ModelView {
    model_id: ModelId,
    name: String,
    version: String,
    /// Flags raised: items of its shards deleted or withdrawn since.
    flags: u64,
    /// `retrained` or `destroyed` once acknowledged.
    outcome: Option<String>,
    replaced_by: Option<ModelId>,
    /// Retrain without the data or destroy the model by then.
    deadline: Option<DateTime<Utc>>,
    overdue: bool,
}

impl ModelView {
    pub(crate) fn new(m: FlaggedModel, now: DateTime<Utc>) -> Self {
        Self {
            overdue: m.overdue(now),
            deadline: (m.flags > 0).then_some(m.deadline),
            model_id: m.model.id,
            name: m.model.name,
            version: m.model.version,
            flags: m.flags,
            outcome: m.model.outcome,
            replaced_by: m.model.replaced_by,
        }
    }
}

/// A training processor registers a model and the dataset shards it was
/// trained on. A shard already holding data deleted or withdrawn flags it at once.
#[utoipa::path(post, path = "/api/v1/models", tag = "training", request_body = ModelRequest,
    params(("Kidvault-Signature" = String, Header)),
    responses((status = 201, body = ModelView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<ModelView>)> {
    let now = Utc::now();
    let (m, flags) = state.vault.register_model(Some(signature(&headers)?), &body, now).await?;
    let deadline = now + state.vault.retrain_deadline();
    let view = FlaggedModel { model: m, flags, first_raised: now, deadline };
    Ok((StatusCode::CREATED, Json(ModelView::new(view, now))))
}

/// What a resolution holds (documentation of the signed body).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ResolveRequest {
    processor_id: String,
    /// `retrained` (name the new model in `replaced_by`) or `destroyed`.
    outcome: String,
    replaced_by: Option<String>,
    /// What was done (a training run, a ticket), 1 to 500 characters.
    evidence: String,
}

/// A training processor acknowledges a flagged model: retrained without the
/// data, or destroyed. Idempotent: the first outcome stays.
#[utoipa::path(post, path = "/api/v1/models/{id}/resolution", tag = "training", request_body = ResolveRequest,
    params(("id" = String, Path), ("Kidvault-Signature" = String, Header)),
    responses((status = 200, body = ModelView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<ModelView>> {
    let now = Utc::now();
    let m = state.vault.resolve_model(path_id(&id)?, Some(signature(&headers)?), &body, now).await?;
    Ok(Json(ModelView::new(m, now)))
}

/// Models flagged and not yet retrained or destroyed, oldest flag first, with
/// their deadlines (admin).
#[utoipa::path(get, path = "/api/v1/admin/model-flags", tag = "training", security(("staff" = [])),
    responses((status = 200, body = [ModelView]), (status = 403, body = ErrorBody)))]
pub(crate) async fn flagged(
    State(state): State<AppState>,
    Permitted(s): Permitted<kidvault_service::staff::ManageProcessors>,
) -> ApiResult<Json<Vec<ModelView>>> {
    let now = Utc::now();
    Ok(Json(state.vault.flagged_models(&s).await?.into_iter().map(|m| ModelView::new(m, now)).collect()))
}
