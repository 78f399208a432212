//! A parent's auto-delete choice for a child's recordings: keep none (the
//! device answers through the ephemeral path and nothing is stored), keep each
//! for a number of days, or as long as the written retention policy allows.
//! Never longer than the policy: a longer choice is refused, and the policy's
//! own sweep still applies. A choice is recorded in the ledger and applies at
//! once to recordings already older than it; afterwards the daily sweep
//! deletes each recording when its time comes (with everything derived from
//! it, through lineage, like any deletion).

use kidvault_domain::deletion::{DeletionReason, DeletionScope};
use kidvault_domain::entities::Child;
use kidvault_domain::ids::{ChildId, DeletionId, HouseholdId};
use kidvault_domain::item::ItemKind;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::EntryKind;

use crate::principal::{Action, Actor, GuardianSession};
use crate::sweeps::SweepReport;
use crate::{Result, ServiceError, Vault};

/// How many children one sweep batch handles.
const BATCH: u32 = 500;

impl Vault {
    /// The longest the written policy keeps a recording, in days.
    pub fn policy_recording_days(&self) -> u32 {
        self.config.retention.rule(ItemKind::VoiceRecording).map_or(0, |r| r.keep_days)
    }

    /// How long this child's recordings are kept, in days: the parent's choice
    /// or the policy's period, whichever is shorter.
    pub fn recording_days(&self, child: &Child) -> u32 {
        let policy = self.policy_recording_days();
        child.keep_recordings_days.map_or(policy, |d| d.min(policy))
    }

    /// When a recording of `child` made at `recorded_at` is deleted
    /// automatically (by the daily sweep on or after this instant).
    pub fn recording_deleted_by(&self, child: &Child, recorded_at: Timestamp) -> Timestamp {
        recorded_at + chrono::Duration::days(i64::from(self.recording_days(child)))
    }

    /// Sets the auto-delete choice for a child's recordings: `None` as long as
    /// the policy allows, `Some(0)` keep none, `Some(n)` keep each `n` days.
    /// Returns the deletion that applies it to recordings already older, if any.
    pub async fn set_auto_delete(
        &self,
        g: &GuardianSession,
        child: ChildId,
        days: Option<u32>,
        now: Timestamp,
    ) -> Result<Option<DeletionId>> {
        let policy = self.policy_recording_days();
        if let Some(d) = days.filter(|d| *d > policy) {
            return Err(ServiceError::invalid(
                "longer_than_policy",
                format!("{d} days is longer than the retention policy keeps recordings ({policy} days)"),
            ));
        }
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let mut entry = crate::ledger::entry(EntryKind::RetentionChoice, now, grant.actor(), &grant.child().child);
        let chosen = match days {
            None => "policy".to_owned(),
            Some(d) => d.to_string(),
        };
        entry.detail.insert("keep_recordings_days".into(), chosen);
        self.store.set_keep_recordings(child, days, &entry).await?;
        match days {
            Some(d) => self.auto_delete(child, grant.child().child.household_id, d, now).await,
            None => Ok(None),
        }
    }

    /// Deletes the child's recordings older than `days` (with what was derived
    /// from them); `None` when there are none.
    async fn auto_delete(
        &self,
        child: ChildId,
        household: HouseholdId,
        days: u32,
        now: Timestamp,
    ) -> Result<Option<DeletionId>> {
        let before = now - chrono::Duration::days(i64::from(days));
        let scope =
            DeletionScope::Items { kinds: vec![ItemKind::VoiceRecording], from: None, to: Some(before), device: None };
        let counts = self.store.preview_deletion(child, &scope).await?;
        if counts.iter().all(|(_, n)| *n == 0) {
            return Ok(None);
        }
        Ok(Some(self.system_deletion(child, household, scope, DeletionReason::AutoDelete, now).await?))
    }

    /// The sweep's part: every child whose parents' choice is shorter than the
    /// policy and who has a recording past it.
    pub(crate) async fn auto_delete_sweep(&self, now: Timestamp, report: &mut SweepReport) -> Result<()> {
        loop {
            let due = self.store.auto_delete_due(now, BATCH).await?;
            let mut started = 0;
            for (child, household, days) in &due {
                report.auto_deleted.push(*child);
                if report.dry_run {
                    continue;
                }
                if let Some(id) = self.auto_delete(*child, *household, *days, now).await? {
                    report.deletions.push(id);
                    started += 1;
                }
            }
            if report.dry_run || (due.len() as u32) < BATCH || started == 0 {
                return Ok(());
            }
        }
    }
}
