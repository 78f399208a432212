//! The deletion runner: every open deletion is taken through its steps, and
//! the deletions at one step take it together. Each step's reads are set reads
//! (one statement for up to 500 deletions: their items, tasks, flagged models)
//! and its writes are issued together, so on PostgreSQL the writer merges them
//! into a few set-based statements and one commit per batch
//! (`kidvault_store::sql::deletion_steps`). The order of the steps, and each
//! step recorded before the next, are those of [`super`]; only how many
//! deletions share a round trip changed.

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use std::collections::{HashMap, HashSet};

use kidvault_domain::deletion::DeletionStep;
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::{DeletionId, ItemId};
use kidvault_domain::Timestamp;
use kidvault_store::{DeletionRecord, ModelRecord, TaskRecord};

use crate::{Result, ServiceError, Vault};

/// Deletions a step takes at once (and between renewals of the lease).
const CHUNK: usize = 500;

impl Vault {
    /// Drives every open deletion to completion (or to waiting for downstream
    /// processors); returns how many completed. One runner at a time; a
    /// deletion that fails stays at its step and is retried on the next run.
    /// The deletions at each step take it together (a chunk at a time), in
    /// step order: all are made unreadable (shredded, one scrub of the
    /// keystore per chunk), then purged (one scrub of the data store per
    /// chunk), dispatched, and completed.
    pub async fn run_deletions(&self, now: Timestamp) -> Result<usize> {
        let _guard = self.deletion_runner.lock().await;
        // Across nodes: only the holder of the lease runs deletions, renewing it
        // as the run goes (see [`Lease`]); if it is lost (a stall past the
        // lease), the run stops.
        let mut lease = Lease::new(now, self.config.lease_ttl);
        if !lease.held(self).await? {
            return Ok(0);
        }
        let clock = std::time::Instant::now();
        let mut phases = Vec::new();
        let mut open = self.store.open_deletions().await?;
        let mut done = 0;
        // In step order: a deletion that takes one is taken on by the next.
        for step in DeletionStep::ALL.into_iter().filter(|s| *s != DeletionStep::Completed) {
            let at: Vec<DeletionRecord> = open.iter().filter(|d| d.step == step).cloned().collect();
            if at.is_empty() {
                continue;
            }
            // A chunk at a time: what a step reads for its deletions stays
            // bounded, and shredding and purging scrub once per chunk.
            for part in at.chunks(CHUNK) {
                if !lease.held(self).await? {
                    return Ok(done);
                }
                if let Err(e) = self.take(step, part, now).await {
                    tracing::error!(step = step.as_str(), error = %e, "deletion step failed; will retry");
                }
            }
            let now_at: HashMap<DeletionId, DeletionRecord> =
                self.deletions_now(&at).await?.into_iter().map(|d| (d.id, d)).collect();
            for d in now_at.values().filter(|d| d.step != step) {
                crate::fault::after_step(d.step);
            }
            done += now_at.values().filter(|d| d.step == DeletionStep::Completed).count();
            open = open
                .into_iter()
                .filter_map(|d| if d.step == step { now_at.get(&d.id).cloned() } else { Some(d) })
                .filter(|d| d.step != DeletionStep::Completed)
                .collect();
            phases.push((step.as_str(), clock.elapsed().as_millis()));
        }
        tracing::debug!(completed = done, phases = ?phases, "deletion run: milliseconds since its start once the deletions at each step had taken it");
        if let Err(e) = self.purge_closed_households(now).await {
            tracing::error!(error = %e, "purging closed households failed; will retry");
        }
        Ok(done)
    }

    /// Performs exactly one step of a deletion and returns the step it reached.
    /// (Tests and `bench erase` use it to stop at every boundary.)
    pub async fn step_deletion(&self, id: DeletionId, now: Timestamp) -> Result<DeletionStep> {
        let _guard = self.deletion_runner.lock().await;
        let d = self.store.deletion(id).await?.ok_or(ServiceError::NotFound)?;
        self.take(d.step, std::slice::from_ref(&d), now).await?;
        let after = self.store.deletion(id).await?.ok_or(ServiceError::NotFound)?;
        if after.step != d.step {
            crate::fault::after_step(after.step);
        }
        Ok(after.step)
    }

    /// The deletions as they are now in the store.
    async fn deletions_now(&self, ds: &[DeletionRecord]) -> Result<Vec<DeletionRecord>> {
        let ids: Vec<DeletionId> = ds.iter().map(|d| d.id).collect();
        Ok(self.store.deletions(&ids).await?)
    }

    /// Takes each of `ds` (every one at `step`) one step on. A deletion whose
    /// step fails stays where it was; the first failure is returned.
    async fn take(&self, step: DeletionStep, ds: &[DeletionRecord], now: Timestamp) -> Result<()> {
        let ids: Vec<DeletionId> = ds.iter().map(|d| d.id).collect();
        match step {
            DeletionStep::Requested => {
                each(steps(ds, |d| async move { Ok(self.store.resolve_deletion(d.id, now).await.map(drop)?) }.boxed()))
                    .await
            }
            DeletionStep::Resolved => self.shred(ds, now).await,
            DeletionStep::Shredded => self.record(ds, DeletionStep::Rotated, now).await,
            DeletionStep::Rotated => self.purge(ds, now).await,
            DeletionStep::Purged => {
                let mut items = self.store.deletions_items(&ids).await?;
                let enabled = self.store.processors().await?.into_iter().filter(|p| p.disabled_at.is_none());
                let processors = std::sync::Arc::new(enabled.collect::<Vec<_>>());
                each(steps(ds, |d| {
                    let (items, processors) = (take_of(&mut items, d.id), processors.clone());
                    async move { self.dispatch(&d, &items, &processors, now).await }.boxed()
                }))
                .await
            }
            DeletionStep::Dispatched => {
                // Every task acknowledged (or none to send): the step is taken.
                let tasks = self.store.deletions_tasks(&ids).await?;
                let waiting: HashSet<DeletionId> =
                    tasks.iter().filter(|t| t.state != TaskState::Acknowledged).filter_map(|t| t.deletion_id).collect();
                let ready: Vec<DeletionRecord> = ds.iter().filter(|d| !waiting.contains(&d.id)).cloned().collect();
                self.record(&ready, DeletionStep::Acknowledged, now).await
            }
            DeletionStep::Acknowledged => self.complete(ds, now).await,
            DeletionStep::Completed => Ok(()),
        }
    }

    /// Records `ds` at `step`, reached by work done elsewhere.
    async fn record(&self, ds: &[DeletionRecord], step: DeletionStep, now: Timestamp) -> Result<()> {
        each(steps(ds, |d| async move { Ok(self.store.set_deletion_step(d.id, step, now).await?) }.boxed())).await
    }

    /// Step `resolved → shredded`: destroys the deletions' keys (the whole
    /// children's: every epoch and every item key, in one keystore
    /// transaction; the items deletions': their data keys, in another), then
    /// scrubs the keystore once, so no file holds a copy of any of them, then
    /// records each shredded. Deletions whose keys could not be destroyed stay
    /// resolved.
    async fn shred(&self, ds: &[DeletionRecord], now: Timestamp) -> Result<()> {
        let (whole, of_items): (Vec<&DeletionRecord>, Vec<&DeletionRecord>) =
            ds.iter().partition(|d| d.scope.is_child());
        let mut destroyed: Vec<DeletionRecord> = Vec::with_capacity(ds.len());
        if !whole.is_empty() {
            let mut children: Vec<_> = whole.iter().map(|d| d.child_id).collect();
            children.sort();
            children.dedup();
            match self.keys.destroy_many(&children).await {
                Ok(_) => destroyed.extend(whole.into_iter().cloned()),
                Err(e) => tracing::error!(children = children.len(), error = %e, "destroying keys failed; will retry"),
            }
        }
        if !of_items.is_empty() {
            let ids: Vec<DeletionId> = of_items.iter().map(|d| d.id).collect();
            let items = self.store.deletions_items(&ids).await?;
            let keys: Vec<ItemId> = items.values().flatten().map(|i| i.item_id).collect();
            match self.keys.destroy_items(&keys).await {
                Ok(_) => destroyed.extend(of_items.into_iter().cloned()),
                Err(e) => tracing::error!(items = keys.len(), error = %e, "destroying keys failed; will retry"),
            }
        }
        if destroyed.is_empty() {
            return Ok(());
        }
        self.keys.scrub().await?;
        each(steps(&destroyed, |d| {
            async move {
                if d.scope.is_child() {
                    self.store.set_deletion_step(d.id, DeletionStep::Shredded, now).await?;
                } else {
                    self.store.shred_deletion_items(d.id, now).await?;
                }
                Ok(())
            }
            .boxed()
        }))
        .await
    }

    /// Step `rotated → purged`: zeroes the deletions' blobs (together: one
    /// sync per blob segment), deletes each one's rows, then scrubs the data
    /// store once for all of them.
    async fn purge(&self, ds: &[DeletionRecord], now: Timestamp) -> Result<()> {
        let ids: Vec<DeletionId> = ds.iter().map(|d| d.id).collect();
        let items = self.store.deletions_items(&ids).await?;
        // Blobs first: zeroing is idempotent, and the rows still name them.
        let blobs: Vec<_> = items.into_values().flatten().filter_map(|i| i.blob).collect();
        self.blobs.delete_many(&blobs).await?;
        let purged = each(steps(ds, |d| async move { Ok(self.store.purge_deletion(d.id, now).await?) }.boxed())).await;
        // A crash before this scrub is covered by the one every start does.
        self.store.scrub().await?;
        purged
    }

    /// Step `acknowledged → completed`: each deletion's receipt, its ledger
    /// entries and the guardians' notices, committed with the step.
    async fn complete(&self, ds: &[DeletionRecord], now: Timestamp) -> Result<()> {
        let ids: Vec<DeletionId> = ds.iter().map(|d| d.id).collect();
        let mut items = self.store.deletions_items(&ids).await?;
        let mut tasks: HashMap<DeletionId, Vec<TaskRecord>> = HashMap::new();
        for t in self.store.deletions_tasks(&ids).await? {
            if let Some(d) = t.deletion_id {
                tasks.entry(d).or_default().push(t);
            }
        }
        let mut models: HashMap<DeletionId, Vec<(ModelRecord, Timestamp)>> = HashMap::new();
        for (d, model, _, first_raised) in self.store.models_flagged_by(&ids).await? {
            models.entry(d).or_default().push((model, first_raised));
        }
        each(steps(ds, |d| {
            let (items, tasks, models) =
                (take_of(&mut items, d.id), take_of(&mut tasks, d.id), take_of(&mut models, d.id));
            async move {
                let c = self.completion(&d, &items, &tasks, &models, now)?;
                self.store.complete_deletion(d.id, now, &c.document, &c.entries, &c.notices).await?;
                Ok(())
            }
            .boxed()
        }))
        .await
    }
}

/// Takes what `map` holds for `id` (nothing, if it holds no entry): each
/// deletion's step owns its share (a step's future must not borrow the
/// run's locals, or it is not `Send` for every lifetime).
fn take_of<T>(map: &mut HashMap<DeletionId, Vec<T>>, id: DeletionId) -> Vec<T> {
    map.remove(&id).unwrap_or_default()
}

/// Each deletion's step, built up front: no closure is held across an await
/// (the runner's future must be `Send` for every lifetime).
fn steps<'a>(
    ds: &[DeletionRecord],
    mut step: impl FnMut(DeletionRecord) -> BoxFuture<'a, Result<()>>,
) -> Vec<(DeletionId, BoxFuture<'a, Result<()>>)> {
    ds.iter().cloned().map(|d| (d.id, step(d))).collect()
}

/// Runs each deletion's step, up to a chunk at once: their writes share
/// commits, and on PostgreSQL a step's writes share statements.
/// Every failure is logged and leaves its deletion where it was; the first is
/// returned once all have run.
async fn each(work: Vec<(DeletionId, BoxFuture<'_, Result<()>>)>) -> Result<()> {
    let (ids, steps): (Vec<DeletionId>, Vec<_>) = work.into_iter().unzip();
    let mut first = None;
    let outcomes: Vec<Result<()>> = futures::stream::iter(steps).buffered(CHUNK).collect().await;
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        if let Err(e) = outcome {
            tracing::error!(deletion = %id, error = %e, "deletion step failed; will retry");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// The deletion runner's lease, renewed as the run goes: at the start, then
/// whenever a quarter of its length has passed since it was last renewed (a
/// renewal is a write; once per deletion it cost a commit each). Each chunk of
/// work between checks is far shorter than the lease.
struct Lease {
    now: Timestamp,
    started: std::time::Instant,
    every: std::time::Duration,
    renewed: Option<std::time::Instant>,
}

impl Lease {
    fn new(now: Timestamp, ttl: chrono::Duration) -> Self {
        let every = ttl.to_std().unwrap_or_default() / 4;
        Self { now, started: std::time::Instant::now(), every, renewed: None }
    }

    /// Whether this node holds the lease (renewing it when due).
    async fn held(&mut self, vault: &Vault) -> Result<bool> {
        if self.renewed.is_some_and(|at| at.elapsed() < self.every) {
            return Ok(true);
        }
        let at = crate::leases::later(self.now, self.started);
        let held = vault.hold_lease(crate::leases::DELETIONS, at).await?;
        self.renewed = held.then(std::time::Instant::now);
        Ok(held)
    }
}
