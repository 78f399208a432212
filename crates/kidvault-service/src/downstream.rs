//! Downstream processors and their deletion tasks (see `kidvault_domain::downstream`).
//!
//! An admin registers processors; kidvault generates each one's webhook secret and
//! shows it once (stored wrapped under the root key). When a deletion has purged
//! its rows and blobs, [`Vault::dispatch`] creates a task for every enabled
//! processor holding a category the deletion touched; [`Vault::deliver_due`] claims
//! due tasks and sends each as a signed webhook; the processor acknowledges in its
//! response (`{"acknowledged": true}`) or later at `POST /processor-tasks/{id}/ack`,
//! signed with the same secret. A failure is retried with exponential backoff and
//! jitter; past its deadline an unacknowledged task is overdue, shown to the
//! guardian and the admin. The deletion completes when every task is acknowledged.

use std::time::Duration;

use kidvault_crypto::SecretKey;
use kidvault_domain::deletion::DeletionScope;
use kidvault_domain::disclosure::Purpose;
use kidvault_domain::downstream::{backoff, concerns, fresh, parse_signature_header, signature_header, signed_message};
use kidvault_domain::entities::parse_label;
use kidvault_domain::ids::{DeletionId, ItemId, ProcessorId, TaskId};
use kidvault_domain::item::DataCategory;
use kidvault_domain::Timestamp;
use kidvault_store::{DeletionItem, DeletionRecord, Delivery};
pub use kidvault_store::{ProcessorRecord, TaskRecord};
use serde::Serialize;

use crate::principal::GuardianSession;
use crate::staff::{ManageProcessors, Permit};
use crate::{Result, ServiceError, Vault};

/// Delivery settings.
#[derive(Clone, Debug)]
pub struct DownstreamConfig {
    /// First retry waits about this long; each further one twice as long.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How long a processor has to acknowledge before its task is overdue.
    pub deadline: chrono::Duration,
    /// One delivery attempt's time limit.
    pub timeout: Duration,
}

impl Default for DownstreamConfig {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(3600),
            deadline: chrono::Duration::hours(72),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What an admin registers.
#[derive(Clone, Debug)]
pub struct NewProcessor {
    pub name: String,
    pub url: String,
    /// `integral`, `third_party` or `training` (see `kidvault_domain::disclosure`).
    pub purpose: String,
    pub categories: Vec<String>,
}

/// The webhook body. Ids, categories and dates; never content.
#[derive(Serialize)]
struct Notice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    task_id: TaskId,
    deletion_id: DeletionId,
    household_id: String,
    child_id: String,
    reason: &'static str,
    scope: &'a DeletionScope,
    /// The whole child is deleted: erase everything you hold about them.
    whole_child: bool,
    categories: Vec<&'static str>,
    item_ids: Vec<String>,
    requested_at: Timestamp,
    deadline: Timestamp,
    ack_path: String,
}

const SECRET_PREFIX: &str = "kvwh_";
const MAX_RESPONSE: usize = 64 * 1024;

fn secret_context(id: ProcessorId) -> Vec<u8> {
    let mut ctx = b"kidvault/processor-secret/v1\0".to_vec();
    ctx.extend_from_slice(id.as_bytes());
    ctx
}

fn secret_string(key: &SecretKey) -> String {
    let hex: String = key.expose().iter().map(|b| format!("{b:02x}")).collect();
    format!("{SECRET_PREFIX}{hex}")
}

/// A random number in `[0, 1)` for jitter.
pub(crate) fn unit_random() -> f64 {
    let mut b = [0u8; 4];
    match kidvault_crypto::random_bytes(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

fn parse_url(raw: &str) -> Result<String> {
    let bad = || ServiceError::invalid("invalid_url", "the webhook URL must be an absolute http:// or https:// URL");
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !url.username().is_empty() {
        return Err(bad());
    }
    Ok(url.to_string())
}

impl Vault {
    pub(crate) fn processor_secret(&self, p: &ProcessorRecord) -> Result<String> {
        Ok(secret_string(&self.keys.unwrap_other(&secret_context(p.id), &p.secret_wrapped)?))
    }

    /// Checks a `Kidvault-Signature` header over `signed` under the processor's
    /// secret, made within five minutes of `now` (acknowledgements, the feed,
    /// datasets and models all sign this way).
    pub(crate) fn verify_signature(
        &self,
        p: &ProcessorRecord,
        signature: Option<&str>,
        signed: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let bad = |why: &str| ServiceError::Unauthenticated(format!("Kidvault-Signature: {why}"));
        let (at, tag) = signature.and_then(parse_signature_header).ok_or_else(|| bad("missing or malformed"))?;
        if !kidvault_crypto::hmac_sha256_verify(self.processor_secret(p)?.as_bytes(), &signed_message(at, signed), &tag)
        {
            return Err(bad("does not match this processor"));
        }
        if !fresh(at, now) {
            return Err(bad("timestamp is more than five minutes from now"));
        }
        Ok(())
    }

    /// Registers a processor; returns it and its webhook secret (shown only now).
    pub async fn register_processor(
        &self,
        _: &Permit<ManageProcessors>,
        req: NewProcessor,
        now: Timestamp,
    ) -> Result<(ProcessorRecord, String)> {
        let name = parse_label(&req.name, 100)
            .ok_or_else(|| ServiceError::invalid("invalid_name", "a name of 1 to 100 characters is required"))?;
        let url = parse_url(&req.url)?;
        let purpose = Purpose::parse(&req.purpose).ok_or_else(|| {
            let known: Vec<_> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
            ServiceError::invalid(
                "unknown_purpose",
                format!("unknown purpose {:?}; known: {}", req.purpose, known.join(", ")),
            )
        })?;
        let mut categories = Vec::new();
        for c in &req.categories {
            let c = DataCategory::parse(c).ok_or_else(|| {
                let known: Vec<_> = DataCategory::ALL.iter().map(|c| c.as_str()).collect();
                ServiceError::invalid(
                    "unknown_category",
                    format!("unknown category {c:?}; known: {}", known.join(", ")),
                )
            })?;
            if !categories.contains(&c) {
                categories.push(c);
            }
        }
        if categories.is_empty() {
            return Err(ServiceError::invalid("invalid_categories", "name at least one data category it holds"));
        }
        let id = ProcessorId::generate(now);
        let key = SecretKey::generate()?;
        let p = ProcessorRecord {
            id,
            name,
            url,
            purpose,
            categories,
            secret_wrapped: self.keys.wrap_other(&secret_context(id), &key)?,
            created_at: now,
            disabled_at: None,
        };
        self.store.create_processor(&p).await.map_err(|e| match e {
            kidvault_store::StoreError::Conflict(m) => ServiceError::Conflict { code: "name_taken", message: m },
            e => e.into(),
        })?;
        Ok((p, secret_string(&key)))
    }

    pub async fn processors(&self, _: &Permit<ManageProcessors>) -> Result<Vec<ProcessorRecord>> {
        Ok(self.store.processors().await?)
    }

    /// Stops telling a processor of new deletions; its open tasks stay open.
    pub async fn disable_processor(&self, _: &Permit<ManageProcessors>, id: ProcessorId, now: Timestamp) -> Result<()> {
        self.store.processor(id).await?.ok_or(ServiceError::NotFound)?;
        self.store.disable_processor(id, now).await?;
        Ok(())
    }

    /// Unacknowledged tasks, earliest deadline first.
    pub async fn open_tasks(&self, _: &Permit<ManageProcessors>) -> Result<Vec<TaskRecord>> {
        Ok(self.store.open_tasks(1000).await?)
    }

    /// The processors a guardian's deletion waits for (or waited for).
    pub async fn deletion_tasks(&self, g: &GuardianSession, id: DeletionId) -> Result<Vec<TaskRecord>> {
        self.deletion(g, id).await?;
        Ok(self.store.deletion_tasks(id).await?)
    }

    /// Step `purged → dispatched` of `d`, which covered `items`: a task for
    /// each of `processors` (the enabled ones) concerned.
    pub(crate) async fn dispatch(
        &self,
        d: &DeletionRecord,
        items: &[DeletionItem],
        processors: &[ProcessorRecord],
        now: Timestamp,
    ) -> Result<()> {
        let mut deleted: Vec<DataCategory> = Vec::new();
        for i in items {
            if !deleted.contains(&i.category) {
                deleted.push(i.category);
            }
        }
        // A processor that needs the parent's consent (training, a third party)
        // holds only what the register says it received: it hears of this
        // child only if it received some of what goes (all of it, for a whole
        // child), and of nothing else, so a company the parent never let in
        // does not even learn the child's id.
        let received: Vec<(ProcessorId, ItemId)> = if processors.iter().any(|p| p.purpose != Purpose::Integral) {
            self.store.child_disclosed_items(d.child_id).await?
        } else {
            Vec::new()
        };
        let deleted_ids: std::collections::HashSet<ItemId> = items.iter().map(|i| i.item_id).collect();
        let mut tasks = Vec::new();
        for p in processors {
            let mut item_ids: Vec<String> = if p.purpose == Purpose::Integral {
                if !concerns(&p.categories, &deleted, d.scope.is_child()) {
                    continue;
                }
                items.iter().filter(|i| p.categories.contains(&i.category)).map(|i| i.item_id.to_string()).collect()
            } else {
                let held: Vec<String> = received
                    .iter()
                    .filter(|(by, item)| *by == p.id && (d.scope.is_child() || deleted_ids.contains(item)))
                    .map(|(_, item)| item.to_string())
                    .collect();
                if held.is_empty() {
                    continue;
                }
                held
            };
            item_ids.sort();
            let id = TaskId::generate(now);
            let deadline = now + self.config.downstream.deadline;
            let notice = Notice {
                kind: "kidvault.deletion.v1",
                task_id: id,
                deletion_id: d.id,
                household_id: d.household_id.to_string(),
                child_id: d.child_id.to_string(),
                reason: d.reason.as_str(),
                scope: &d.scope,
                whole_child: d.scope.is_child(),
                categories: p.categories.iter().filter(|c| deleted.contains(c)).map(|c| c.as_str()).collect(),
                item_ids,
                requested_at: d.requested_at,
                deadline,
                ack_path: format!("/api/v1/processor-tasks/{id}/ack"),
            };
            tasks.push(TaskRecord::pending(
                id,
                Some(d.id),
                d.child_id,
                p,
                serde_json::to_string(&notice).map_err(|e| ServiceError::Internal(e.to_string()))?,
                now,
                deadline,
            ));
        }
        self.store.dispatch_deletion(d.id, now, &tasks).await?;
        Ok(())
    }

    /// Delivers every task due at `now` (up to a batch), concurrently. Returns how
    /// many were acknowledged in their response.
    pub async fn deliver_due(&self, now: Timestamp) -> Result<usize> {
        let cfg = &self.config.downstream;
        // The lease outlasts an attempt, so nobody else retries it meanwhile.
        let lease = now + chrono::Duration::from_std(cfg.timeout * 3).unwrap_or(chrono::Duration::minutes(1));
        let tasks = self.store.claim_due_tasks(now, lease, 64).await?;
        let outcomes = futures::future::join_all(tasks.iter().map(|t| self.deliver(t, now))).await;
        let mut acked = 0;
        for (t, outcome) in tasks.iter().zip(outcomes) {
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(task = %t.id, error = %e, "could not attempt delivery");
                    continue; // due again when the lease runs out
                }
            };
            if let Delivery::Failed { error, .. } = &outcome {
                tracing::warn!(task = %t.id, processor = %t.processor_name, attempt = t.attempts, error, "delivery failed");
            }
            acked += usize::from(matches!(outcome, Delivery::Acknowledged));
            self.store.record_delivery(t.id, now, &outcome).await?;
        }
        Ok(acked)
    }

    async fn deliver(&self, t: &TaskRecord, now: Timestamp) -> Result<Delivery> {
        let p = self.store.processor(t.processor_id).await?.ok_or(ServiceError::NotFound)?;
        let secret = self.processor_secret(&p)?;
        let at = now.timestamp();
        let tag = kidvault_crypto::hmac_sha256(secret.as_bytes(), &signed_message(at, t.payload.as_bytes()));
        let cfg = &self.config.downstream;
        let retry_at = now
            + chrono::Duration::from_std(backoff(t.attempts, cfg.retry_base, cfg.retry_cap, unit_random()))
                .unwrap_or(chrono::Duration::hours(1));
        let sent = self
            .http
            .post(&p.url)
            .timeout(cfg.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Kidvault-Signature", signature_header(at, &tag))
            .header("Kidvault-Task", t.id.to_string())
            .header("Kidvault-Attempt", t.attempts.to_string())
            .body(t.payload.clone())
            .send()
            .await;
        let failed = |error: String| Ok(Delivery::Failed { error, retry_at });
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return failed("timed out".into()),
            Err(e) if e.is_connect() => return failed("could not connect".into()),
            Err(_) => return failed("request failed".into()),
        };
        if !resp.status().is_success() {
            return failed(format!("HTTP {}", resp.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE {
                break;
            }
        }
        let acked = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("acknowledged").and_then(serde_json::Value::as_bool))
            .unwrap_or(false);
        Ok(if acked { Delivery::Acknowledged } else { Delivery::Delivered })
    }

    /// A processor's acknowledgement, signed with its secret (`Kidvault-Signature`
    /// over the request body). Idempotent.
    pub async fn acknowledge_task(
        &self,
        id: TaskId,
        signature: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<TaskRecord> {
        let task = self.store.task(id).await?.ok_or(ServiceError::NotFound)?;
        let p = self.store.processor(task.processor_id).await?.ok_or(ServiceError::NotFound)?;
        self.verify_signature(&p, signature, body, now)?;
        self.store.acknowledge_task(id, now, "endpoint").await?;
        self.store.task(id).await?.ok_or(ServiceError::NotFound)
    }
}
