use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use chrono::Utc;
use kidvault_ledger::entry::Entry;
use kidvault_ledger::receipt::EntryProof;
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{path_id, ApiQuery, GuardianAuth, PersonAuth};
use crate::AppState;

fn text(body: String) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// The latest signed checkpoint (C2SP signed note), signed now if the log grew.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, description = "C2SP checkpoint note", content_type = "text/plain")))]
pub(crate) async fn checkpoint(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(text(state.vault.checkpoint(Utc::now()).await?.1))
}

/// The verifier key for checkpoints, in the C2SP note format `name+keyhash+base64`.
#[utoipa::path(get, path = "/api/v1/ledger/public-key", tag = "ledger",
    responses((status = 200, description = "verifier key", content_type = "text/plain")))]
pub(crate) async fn public_key(State(state): State<AppState>) -> Response {
    text(format!("{}\n", state.vault.verifier_key()))
}

/// A ledger entry in its canonical JSON: for a guardian, one about their
/// household; for an auditor, any.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{index}", tag = "ledger", security(("guardian" = []), ("staff" = [])),
    params(("index" = u64, Path)), responses((status = 200, description = "the entry"), (status = 404, body = ErrorBody)))]
pub(crate) async fn entry(
    State(state): State<AppState>,
    who: PersonAuth,
    ApiPath(index): ApiPath<String>,
) -> ApiResult<Response> {
    let (_, body) = state.vault.ledger_entry(who.ledger_reader(), path_id(&index)?).await?;
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProofQuery {
    /// Prove against the tree of this many entries (default: the latest checkpoint).
    tree_size: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = EntryProof)]
pub(crate) struct EntryProofDoc {
    /// The entry's canonical JSON (its exact bytes are the Merkle leaf).
    entry: String,
    index: u64,
    tree_size: u64,
    /// Base64 hashes, leaf side first.
    inclusion_proof: Vec<String>,
    /// The signed checkpoint for `tree_size`.
    checkpoint: String,
}

/// The entry with its inclusion proof and signed checkpoint: verifiable offline
/// with `kidvault verify-receipt` and the public key alone.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{index}/proof", tag = "ledger", security(("guardian" = []), ("staff" = [])),
    params(("index" = u64, Path), ProofQuery),
    responses((status = 200, body = EntryProofDoc), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn proof(
    State(state): State<AppState>,
    who: PersonAuth,
    ApiPath(index): ApiPath<String>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> ApiResult<Json<EntryProof>> {
    Ok(Json(state.vault.entry_proof(who.ledger_reader(), path_id(&index)?, q.tree_size, Utc::now()).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyQuery {
    from: u64,
    to: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConsistencyProof {
    from: u64,
    to: u64,
    /// Base64 hashes (RFC 6962 §2.1.2).
    proof: Vec<String>,
}

/// Proof that the log at size `to` extends the log at size `from`.
#[utoipa::path(get, path = "/api/v1/ledger/consistency", tag = "ledger", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 422, body = ErrorBody)))]
pub(crate) async fn consistency(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProof>> {
    let proof = state.vault.consistency(q.from, q.to).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Json(ConsistencyProof { from: q.from, to: q.to, proof: proof.iter().map(|h| b64.encode(h)).collect() }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ActivityEntry {
    index: u64,
    /// `consent.granted`, `consent.withdrawn`, `access.read`, ...
    kind: String,
    at: String,
    actor: String,
    purpose: Option<String>,
    subjects: Vec<String>,
    #[schema(value_type = Object)]
    detail: std::collections::BTreeMap<String, String>,
    /// Counts (items deleted by kind, items exported by kind, ...).
    #[schema(value_type = Object)]
    counts: std::collections::BTreeMap<String, u64>,
    /// Where to fetch this entry's proof.
    proof_url: String,
}

impl From<Entry> for ActivityEntry {
    fn from(e: Entry) -> Self {
        Self {
            index: e.index,
            kind: e.kind.as_str().to_owned(),
            at: e.at,
            actor: e.actor,
            purpose: e.purpose,
            subjects: e.subjects,
            detail: e.detail,
            counts: e.counts,
            proof_url: format!("/api/v1/ledger/entries/{}/proof", e.index),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Activity {
    entries: Vec<ActivityEntry>,
}

impl From<Vec<Entry>> for Activity {
    fn from(entries: Vec<Entry>) -> Self {
        Self { entries: entries.into_iter().map(Into::into).collect() }
    }
}

/// Everything the ledger holds about a child, oldest first, each with its proof link.
#[utoipa::path(get, path = "/api/v1/children/{id}/activity", tag = "ledger", security(("guardian" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Activity), (status = 404, body = ErrorBody)))]
pub(crate) async fn activity(
    State(state): State<AppState>,
    GuardianAuth(g, _): GuardianAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Activity>> {
    let entries = state.vault.activity(&g, path_id(&id)?).await?;
    Ok(Json(Activity::from(entries)))
}
