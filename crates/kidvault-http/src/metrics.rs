//! Prometheus metrics: requests by route and status, latency, items ingested by
//! kind. Labels carry routes and kinds only, never ids or content.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kidvault_domain::item::ItemKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    ingested: Family<KindLabels, Counter>,
    ephemeral: Counter,
    flags_open: Gauge,
    flags_overdue: Gauge,
    staff_denied: Gauge,
    reviews_open: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kidvault");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let ingested = Family::<KindLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("items_ingested", "Items stored from devices, by kind", ingested.clone());
        let ephemeral = Counter::default();
        registry.register(
            "ephemeral_audio_answered",
            "Ephemeral audio requests answered (the audio itself is never kept)",
            ephemeral.clone(),
        );
        let (flags_open, flags_overdue) = (Gauge::default(), Gauge::default());
        registry.register(
            "models_flagged",
            "Models trained on data since deleted or withdrawn, not yet retrained or destroyed",
            flags_open.clone(),
        );
        registry.register(
            "models_flagged_overdue",
            "Flagged models past their deadline to be retrained without the data or destroyed",
            flags_overdue.clone(),
        );
        let (staff_denied, reviews_open) = (Gauge::default(), Gauge::default());
        registry.register(
            "staff_access_denied",
            "Staff requests for a child's data the access policy refused, ever (the privacy officer's queue)",
            staff_denied.clone(),
        );
        registry.register(
            "access_reviews_open",
            "Break-glass staff accesses waiting for the privacy officer's decision",
            reviews_open.clone(),
        );
        Self { registry, requests, latency, ingested, ephemeral, flags_open, flags_overdue, staff_denied, reviews_open }
    }
}

impl Metrics {
    pub fn ephemeral_answered(&self) {
        self.ephemeral.inc();
    }

    pub fn ingested(&self, kind: ItemKind) {
        self.ingested.get_or_create(&KindLabels { kind: kind.as_str() }).inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.latency
        .get_or_create(&RouteLabels { method: method.clone(), route: route.clone() })
        .observe(start.elapsed().as_secs_f64());
    m.requests.get_or_create(&RequestLabels { method, route, status: resp.status().as_u16() }).inc();
    if resp.status() == axum::http::StatusCode::INSUFFICIENT_STORAGE {
        // Whatever met the full store (a read recording its access, a deletion):
        // the node enters the full state and releases its space reserve.
        state.vault.storage_full(chrono::Utc::now());
    }
    if let Some(crate::error::StoreDamaged(detail)) = resp.extensions().get() {
        state.vault.store_damaged(chrono::Utc::now(), detail);
    }
    resp
}

pub(crate) async fn serve(State(state): State<AppState>) -> Response {
    // Read at scrape time: the store is the truth, and every node agrees.
    match state.vault.flagged_model_counts(chrono::Utc::now()).await {
        Ok((open, overdue)) => {
            state.metrics.flags_open.set(open as i64);
            state.metrics.flags_overdue.set(overdue as i64);
        }
        Err(e) => tracing::warn!(error = %e, "could not count flagged models for /metrics"),
    }
    match state.vault.staff_access_counts().await {
        Ok((denied, open)) => {
            state.metrics.staff_denied.set(denied as i64);
            state.metrics.reviews_open.set(open as i64);
        }
        Err(e) => tracing::warn!(error = %e, "could not count staff denials for /metrics"),
    }
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}
