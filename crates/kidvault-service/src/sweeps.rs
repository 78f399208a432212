//! The retention and dormancy sweeps: the written policy, enforced.
//!
//! Each runs for a given `now` (the scheduler passes the clock, tests and
//! `kidvault sweep --as-of` pass a date), reads only what is due through
//! indexes, in batches, and catches up on everything due after any downtime.
//! Every expiry is a deletion through the deletion pipeline (reason `retention`
//! or `dormancy`), with its receipt.

use kidvault_domain::deletion::{DeletionReason, DeletionScope};
use kidvault_domain::ids::{ChildId, DeletionId, HouseholdId};
use kidvault_domain::item::ItemKind;
use kidvault_domain::localtime::mark_on;
use kidvault_domain::notice::mark_child;
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::EntryKind;
use kidvault_store::{ChildRetention, DormancyMark, Sealed, StoredContent};
use serde::Serialize;

use crate::principal::{Action, Actor, GuardianSession};
use crate::{Result, Vault};

/// Children (or items) a sweep takes at a time: whole-child deletions of a
/// batch share two transactions, so larger batches pay fewer commits (10,000
/// dormant profiles deleted: 0.57 s in batches of 500, 0.34 s of 2,000).
const BATCH: u32 = 2000;
/// Runs the work of a batch's children ([`crate::batch`]); the results in the
/// batch's order, or the first error. Each child's work counts for the
/// fault hook (test builds: a crash between children).
async fn at_once<T, Fut>(work: Vec<Fut>) -> Result<Vec<T>>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    crate::batch::try_at_once(work.into_iter().map(|w| async {
        let done = w.await?;
        crate::fault::after_sweep_writes(1);
        Ok(done)
    }))
    .await
}

/// A dry run lists at most this many of each.
const DRY_RUN_LIMIT: u32 = 100_000;

/// What a sweep did (or, dry, would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SweepReport {
    pub as_of: String,
    pub dry_run: bool,
    /// Children whose items of a kind passed their period: one deletion each.
    pub expired: Vec<Expired>,
    /// Profiles never consented for, past the limit: deleted.
    pub abandoned: Vec<ChildId>,
    /// Profiles that became dormant (guardians told).
    pub dormant: Vec<ChildId>,
    /// Dormant profiles whose guardians were reminded.
    pub reminded: Vec<ChildId>,
    /// Dormant profiles deleted at the end of their grace period.
    pub dormancy_deleted: Vec<ChildId>,
    /// The deletions started.
    pub deletions: Vec<DeletionId>,
    /// Precise locations past their period, made approximate in place.
    pub coarsened: usize,
    /// Children whose recordings passed their parents' auto-delete choice.
    pub auto_deleted: Vec<ChildId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Expired {
    pub child: ChildId,
    pub kind: ItemKind,
}

/// A child's activity state, as a guardian sees it.
#[derive(Clone, Debug, Serialize)]
pub struct RetentionView {
    /// `active`, `dormant` (deletion pending) or `kept` (kept even when dormant).
    pub state: &'static str,
    pub last_active_at: Option<Timestamp>,
    /// When the profile becomes dormant if it stays unused (not when kept).
    pub dormant_from: Option<Timestamp>,
    pub dormant_at: Option<Timestamp>,
    /// When a dormant profile will be deleted.
    pub deletion_at: Option<Timestamp>,
    pub keep_when_dormant: bool,
    pub kept_at: Option<Timestamp>,
}

fn days(n: u32) -> chrono::Duration {
    chrono::Duration::days(i64::from(n))
}

fn dormancy_notice(child: ChildId, last: Option<Timestamp>, delete_at: Timestamp, inactive_days: u32) -> NewNotice {
    use kidvault_i18n::mark;
    let since = last.map_or_else(|| mark("notice-since-created", &[]), mark_on);
    NewNotice {
        kind: NoticeKind::DormancyNotice,
        subject: mark("notice-dormant-subject", &[]),
        body: mark(
            "notice-dormant-body",
            &[
                ("name", &mark_child(child)),
                ("days", &inactive_days.to_string()),
                ("since", &since),
                ("date", &mark_on(delete_at)),
            ],
        ),
    }
}

fn reminder_notice(child: ChildId, delete_at: Timestamp) -> NewNotice {
    use kidvault_i18n::mark;
    NewNotice {
        kind: NoticeKind::DormancyReminder,
        subject: mark("notice-reminder-subject", &[]),
        body: mark("notice-reminder-body", &[("name", &mark_child(child)), ("date", &mark_on(delete_at))]),
    }
}

impl Vault {
    /// Both sweeps, then (unless dry) the deletions they started run.
    pub async fn sweep(&self, now: Timestamp, dry_run: bool) -> Result<SweepReport> {
        let mut report = SweepReport { as_of: now.to_rfc3339(), dry_run, ..Default::default() };
        self.retention_sweep(now, &mut report).await?;
        self.dormancy_sweep(now, &mut report).await?;
        if !dry_run {
            // Failed sign-ins of keys that never failed again since the window.
            self.store.prune_sign_in_failures(now - self.config.sign_in_limits.window).await?;
            // Pairing codes a day past their expiry (used or not) serve no one.
            self.store.prune_device_codes(now - chrono::Duration::days(1)).await?;
            // So are sign-up links a day past theirs.
            self.store.prune_sign_ups(now - chrono::Duration::days(1)).await?;
        }
        Ok(report)
    }

    /// Items past their kind's period, and abandoned sign-ups.
    pub async fn retention_sweep(&self, now: Timestamp, report: &mut SweepReport) -> Result<()> {
        let policy = &self.config.retention;
        let limit = if report.dry_run { DRY_RUN_LIMIT } else { BATCH };
        for rule in &policy.items {
            let before = now - days(rule.keep_days);
            loop {
                let due = self.store.expired_items(rule.kind, before, limit).await?;
                report.expired.extend(due.iter().map(|(child, _)| Expired { child: *child, kind: rule.kind }));
                if !report.dry_run {
                    let ids = at_once(
                        due.iter()
                            .map(|&(child, household)| {
                                let scope = DeletionScope::Items {
                                    kinds: vec![rule.kind],
                                    from: None,
                                    to: Some(before),
                                    device: None,
                                };
                                self.system_deletion(child, household, scope, DeletionReason::Retention, now)
                            })
                            .collect(),
                    )
                    .await?;
                    report.deletions.extend(ids);
                }
                if report.dry_run || (due.len() as u32) < limit {
                    break;
                }
            }
        }
        self.auto_delete_sweep(now, report).await?;
        self.coarsen_locations(now, report).await?;
        let before = now - days(policy.abandoned_signup.delete_after_days);
        loop {
            let due = self.store.abandoned_children(before, limit).await?;
            report.abandoned.extend(due.iter().map(|(child, _)| *child));
            if !report.dry_run {
                let ids = self.delete_children(&due, DeletionReason::Retention, now).await?;
                report.deletions.extend(ids);
            }
            if report.dry_run || (due.len() as u32) < limit {
                break;
            }
        }
        Ok(())
    }

    /// Profiles unused for the policy's period become dormant (guardians told),
    /// are reminded before the grace period ends, and are deleted at its end
    /// unless kept or used again.
    pub async fn dormancy_sweep(&self, now: Timestamp, report: &mut SweepReport) -> Result<()> {
        let rule = &self.config.retention.dormancy;
        let limit = if report.dry_run { DRY_RUN_LIMIT } else { BATCH };
        // Deletions first: a profile due today must not be re-noticed instead.
        loop {
            let due = self.store.dormant_due(now, limit).await?;
            report.dormancy_deleted.extend(due.iter().map(|(child, _)| *child));
            if !report.dry_run {
                let ids = self.delete_children(&due, DeletionReason::Dormancy, now).await?;
                report.deletions.extend(ids);
            }
            if report.dry_run || (due.len() as u32) < limit {
                break;
            }
        }
        let inactive_before = now - days(rule.inactive_after_days);
        loop {
            let due = self.store.inactive_children(inactive_before, limit).await?;
            if report.dry_run {
                report.dormant.extend(due.iter().map(|d| d.child));
                break;
            }
            // Each notice says when its child was last active (the query read
            // it); the whole batch is then marked in one transaction.
            let delete_at = now + days(rule.grace_days);
            let marks: Vec<DormancyMark> = due
                .iter()
                .map(|d| {
                    let mut entry = crate::ledger::entry_about(
                        EntryKind::DormancyNotice,
                        now,
                        "system:dormancy",
                        d.child,
                        d.household,
                    );
                    entry.detail.insert("deletion_at".into(), delete_at.to_rfc3339());
                    let notice = dormancy_notice(d.child, d.last_active_at, delete_at, rule.inactive_after_days);
                    DormancyMark { child: d.child, household: d.household, entry, notice }
                })
                .collect();
            let marked_now = self.store.mark_dormant(&marks, inactive_before, now, delete_at).await?;
            crate::fault::after_sweep_writes(marked_now.len());
            let marked = marked_now.len();
            report.dormant.extend(marked_now);
            if (due.len() as u32) < limit || marked == 0 {
                break;
            }
        }
        let remind_by = now + days(rule.reminder_days_before);
        loop {
            let due = self.store.dormant_to_remind(remind_by, limit).await?;
            if report.dry_run {
                report.reminded.extend(due.iter().map(|d| d.child));
                break;
            }
            // The query read each deletion date; the batch is one transaction.
            let reminders: Vec<_> = due.iter().map(|d| (d.child, reminder_notice(d.child, d.deletion_at))).collect();
            let reminded = self.store.mark_reminded(&reminders, now).await?;
            crate::fault::after_sweep_writes(reminded.len());
            let marked = reminded.len();
            report.reminded.extend(reminded);
            if (due.len() as u32) < limit || marked == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Precise locations older than the policy's period become the centre of
    /// their cell, re-sealed under a new data key (the precise ciphertext is
    /// overwritten in place). Each is a read of child data, so each leaves an
    /// access record (actor `system:retention`, purpose `retention_minimisation`).
    async fn coarsen_locations(&self, now: Timestamp, report: &mut SweepReport) -> Result<()> {
        let rule = &self.config.retention.location;
        let before = now - chrono::Duration::hours(i64::from(rule.precise_for_hours));
        let limit = if report.dry_run { DRY_RUN_LIMIT } else { BATCH };
        loop {
            let due = self.store.precise_locations(before, limit).await?;
            let mut done = 0;
            for item in &due {
                if report.dry_run {
                    report.coarsened += 1;
                    continue;
                }
                let grant = match self.authorize(Actor::Retention, item.meta.child_id, Action::Minimise).await {
                    Ok(g) => g,
                    Err(crate::ServiceError::NotFound) => continue, // being deleted
                    Err(e) => return Err(e),
                };
                let StoredContent::Inline(ciphertext) = &item.content else { continue };
                let sealed = Sealed {
                    epoch: item.key_epoch,
                    wrapped_key: item.wrapped_key.clone(),
                    ciphertext: ciphertext.clone(),
                };
                let plain = match self
                    .open(&grant, item.meta.id.as_bytes(), Some(item.meta.id), "location.coarsen", &sealed, now)
                    .await
                {
                    Ok(plain) => plain,
                    // Its key was destroyed meanwhile (a deletion): nothing to coarsen.
                    Err(crate::ServiceError::NotFound) => continue,
                    Err(e) => return Err(e),
                };
                let point: kidvault_domain::location::Point = serde_json::from_slice(&plain)
                    .map_err(|e| crate::ServiceError::Internal(format!("stored location: {e}")))?;
                let coarse = serde_json::to_vec(&point.coarsen(rule.coarse_precision))
                    .map_err(|e| crate::ServiceError::Internal(e.to_string()))?;
                // A new data key for the coarse point: the precise one is
                // destroyed (replaced in the keystore), so no copy of the precise
                // ciphertext opens again. Until the keystore holds the new key,
                // the data store keeps it beside the ciphertext (a crash there is
                // finished by the move of such keys at start).
                let (resealed, key) = self.keys.seal_item(item.meta.child_id, item.meta.id, &coarse).await?;
                let mut updated = item.clone();
                updated.meta.category = kidvault_domain::item::DataCategory::LocationImprecise;
                updated.meta.size = coarse.len() as u64;
                updated.key_epoch = resealed.epoch;
                updated.wrapped_key = key.wrapped.clone();
                updated.content = StoredContent::Inline(resealed.ciphertext);
                match self.store.coarsen_location(&updated).await {
                    Ok(true) => {
                        self.keys.put_item_key(key.clone()).await?;
                        self.store.clear_legacy_item_keys(&[key]).await?;
                        report.coarsened += 1;
                        done += 1;
                    }
                    Ok(false) => {}
                    Err(kidvault_store::StoreError::StaleKeyEpoch) => self.keys.forget(item.meta.child_id),
                    Err(e) => return Err(e.into()),
                }
            }
            if done > 0 {
                // The precise points' keys and ciphertext leave no copy behind.
                self.keys.scrub().await?;
                self.store.scrub().await?;
            }
            if report.dry_run || (due.len() as u32) < limit || done == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Deletes each child of `due` whole, the batch at once: every deletion
    /// recorded and resolved in one transaction (each child `deleting`, its
    /// items no longer served), then every key of every child destroyed in one
    /// keystore transaction. A crash between the two leaves resolved deletions,
    /// whose keys the deletion runner destroys; the next sweep finds none of
    /// these children due again.
    async fn delete_children(
        &self,
        due: &[(ChildId, HouseholdId)],
        reason: DeletionReason,
        now: Timestamp,
    ) -> Result<Vec<DeletionId>> {
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<_> = due
            .iter()
            .map(|&(child, household)| {
                let by = format!("system:{}", reason.as_str());
                kidvault_store::DeletionRecord::requested(child, household, by, reason, DeletionScope::Child, now)
            })
            .collect();
        self.store.record_resolved_deletions(&records).await?;
        crate::fault::after_sweep_writes(records.len());
        let children: Vec<ChildId> = due.iter().map(|(child, _)| *child).collect();
        self.keys.destroy_many(&children).await?;
        Ok(records.into_iter().map(|d| d.id).collect())
    }

    /// A deletion the policy starts: recorded and resolved at once (its items
    /// are no longer live, so the next sweep does not start it again); a whole
    /// child's keys are destroyed at once, as when a guardian deletes it.
    pub(crate) async fn system_deletion(
        &self,
        child: ChildId,
        household: HouseholdId,
        scope: DeletionScope,
        reason: DeletionReason,
        now: Timestamp,
    ) -> Result<DeletionId> {
        let whole = scope.is_child();
        let id =
            self.record_deletion(child, household, format!("system:{}", reason.as_str()), reason, scope, now).await?;
        self.store.resolve_deletion(id, now).await?;
        if whole {
            self.keys.destroy(child).await?;
        }
        Ok(id)
    }

    /// The child's standing under the dormancy rule.
    pub async fn retention_state(&self, g: &GuardianSession, child: ChildId) -> Result<RetentionView> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        let r = self.store.child_retention(grant.child_id()).await?.ok_or(crate::ServiceError::NotFound)?;
        Ok(self.view(&r))
    }

    fn view(&self, r: &ChildRetention) -> RetentionView {
        let rule = &self.config.retention.dormancy;
        let state = if r.kept_at.is_some() {
            "kept"
        } else if r.dormant_at.is_some() {
            "dormant"
        } else {
            "active"
        };
        RetentionView {
            state,
            last_active_at: r.last_active_at,
            dormant_from: (r.kept_at.is_none() && r.dormant_at.is_none())
                .then(|| r.last_active_at.unwrap_or(r.created_at) + days(rule.inactive_after_days)),
            dormant_at: r.dormant_at,
            deletion_at: r.deletion_at,
            keep_when_dormant: r.kept_at.is_some(),
            kept_at: r.kept_at,
        }
    }

    /// A guardian keeps the profile even when unused (ending any dormancy), or
    /// stops keeping it. Recorded with its time, in the ledger.
    pub async fn set_keep_when_dormant(
        &self,
        g: &GuardianSession,
        child: ChildId,
        keep: bool,
        now: Timestamp,
    ) -> Result<RetentionView> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let mut entry = crate::ledger::entry(EntryKind::RetentionChoice, now, grant.actor(), &grant.child().child);
        entry.detail.insert("keep_when_dormant".into(), keep.to_string());
        self.store.set_keep_when_dormant(grant.child_id(), keep, now, &entry).await?;
        let r = self.store.child_retention(grant.child_id()).await?.ok_or(crate::ServiceError::NotFound)?;
        Ok(self.view(&r))
    }
}
