//! Lineage out: an OpenLineage (spec 2-0-2) `RunEvent` for every training
//! snapshot (a job whose output is the dataset) and every model registration
//! (a job reading the datasets, writing the model), posted to the configured
//! endpoint (e.g. Marquez's `/api/v1/lineage`). The dataset and model rows are
//! the outbox: each keeps when its event was delivered, so an event is sent at
//! least once whatever crashes in between. Events carry ids and counts, never
//! child content or child ids.

use kidvault_domain::ids::{DatasetId, ModelId};
use kidvault_domain::Timestamp;
use kidvault_store::{DatasetRecord, ModelRecord};
use serde_json::{json, Value};

use crate::{Result, Vault};

/// The producer named in every event and facet.
pub const PRODUCER: &str = "https://github.com/kidvault/kidvault";
const SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const STATS: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";

/// Where lineage goes.
#[derive(Clone, Debug, Default)]
pub struct LineageConfig {
    /// The endpoint events are POSTed to; `None`: kept until one is configured.
    pub url: Option<String>,
    /// The OpenLineage namespace of kidvault's jobs and datasets.
    pub namespace: String,
}

fn time(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The event of a snapshot: job `training-snapshot`, output `datasets/<id>`
/// with its item count.
pub fn snapshot_event(ns: &str, d: &DatasetRecord, processor: &str) -> Value {
    json!({
        "eventType": "COMPLETE",
        "eventTime": time(d.created_at),
        "producer": PRODUCER,
        "schemaURL": SCHEMA,
        "run": {"runId": d.id.to_string()},
        "job": {"namespace": ns, "name": format!("training-snapshot.{processor}")},
        "inputs": [{"namespace": ns, "name": "items"}],
        "outputs": [{
            "namespace": ns,
            "name": format!("datasets/{}", d.id),
            "outputFacets": {"outputStatistics": {"_producer": PRODUCER, "_schemaURL": STATS, "rowCount": d.items, "fileCount": d.shards}},
        }],
    })
}

/// The event of a model registration: job `model-training`, inputs the
/// datasets it was trained on, output `models/<id>`.
pub fn model_event(ns: &str, m: &ModelRecord, inputs: &[(DatasetId, u32)], processor: &str) -> Value {
    let mut datasets: Vec<DatasetId> = inputs.iter().map(|(d, _)| *d).collect();
    datasets.dedup();
    json!({
        "eventType": "COMPLETE",
        "eventTime": time(m.created_at),
        "producer": PRODUCER,
        "schemaURL": SCHEMA,
        "run": {"runId": m.id.to_string()},
        "job": {"namespace": ns, "name": format!("model-training.{processor}.{}", m.name)},
        "inputs": datasets.iter().map(|d| json!({"namespace": ns, "name": format!("datasets/{d}")})).collect::<Vec<_>>(),
        "outputs": [{"namespace": ns, "name": format!("models/{}", m.id)}],
    })
}

impl Vault {
    /// Posts the events not yet delivered, oldest first; stops at the first
    /// failure (tried again at the next tick). Returns how many were delivered.
    pub async fn deliver_lineage(&self, now: Timestamp) -> Result<usize> {
        let Some(url) = self.config.lineage.url.clone() else { return Ok(0) };
        let backlog = self.store.lineage_backlog(100).await?;
        if backlog.datasets.is_empty() && backlog.models.is_empty() {
            return Ok(0); // the usual tick: no processor lookup
        }
        let ns = &self.config.lineage.namespace;
        let mut names = std::collections::HashMap::new();
        for p in self.store.processors().await? {
            names.insert(p.id, p.name);
        }
        let name = |id| names.get(&id).cloned().unwrap_or_else(|| "unknown".into());
        let mut events: Vec<(Option<DatasetId>, Option<ModelId>, Value)> = Vec::new();
        for d in &backlog.datasets {
            events.push((Some(d.id), None, snapshot_event(ns, d, &name(d.processor_id))));
        }
        for (m, inputs) in &backlog.models {
            events.push((None, Some(m.id), model_event(ns, m, inputs, &name(m.processor_id))));
        }
        let mut delivered = 0;
        for (d, m, event) in events {
            let sent = self.http.post(&url).timeout(self.config.downstream.timeout).json(&event).send().await;
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(status = r.status().as_u16(), "lineage endpoint refused an event; will retry");
                    break;
                }
                Err(_) => {
                    tracing::warn!("lineage endpoint unreachable; will retry");
                    break;
                }
            }
            self.store.lineage_sent(d.as_slice(), m.as_slice(), now).await?;
            delivered += 1;
        }
        Ok(delivered)
    }
}
