//! The notice outbox's worker and the guardian's mailbox.
//!
//! Events write their notices in their own store transaction
//! ([`kidvault_domain::notice`]); [`Vault::deliver_notices`] claims the due ones
//! with a lease, delivers each, and records the outcome. In the embedded default
//! there is no mail relay: delivery puts the notice in the portal's mailbox. A
//! notice is never lost to a crash: one claimed and not recorded is due again
//! when its lease runs out.

use kidvault_domain::deletion::DeletionScope;
use kidvault_domain::downstream::backoff;
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::Timestamp;
pub use kidvault_store::NoticeRecord;
use kidvault_store::{DeletionRecord, NoticeDelivery};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::access::GuardianSession;
use crate::{Result, Vault};

/// How long a claimed notice is reserved for its claimant.
const LEASE: chrono::Duration = chrono::Duration::minutes(2);
const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_CAP: Duration = Duration::from_secs(3600);

impl Vault {
    /// Delivers every notice due at `now` (a batch); returns how many were delivered.
    pub async fn deliver_notices(&self, now: Timestamp) -> Result<usize> {
        let due = self.store.claim_due_notices(now, now + LEASE, 64).await?;
        let mut delivered = 0;
        for n in &due {
            let outcome = match self.send_notice(n).await {
                Ok(via) => NoticeDelivery::Delivered { via: via.into() },
                Err(error) => {
                    tracing::warn!(notice = %n.id, attempt = n.attempts, error, "notice delivery failed");
                    let wait = backoff(n.attempts, RETRY_BASE, RETRY_CAP, crate::downstream::unit_random());
                    let retry_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                    NoticeDelivery::Failed { error, retry_at }
                }
            };
            delivered += usize::from(matches!(outcome, NoticeDelivery::Delivered { .. }));
            self.store.record_notice_delivery(n.id, now, &outcome).await?;
        }
        Ok(delivered)
    }

    /// Hands one notice to its channel; returns the channel's name.
    async fn send_notice(&self, _n: &NoticeRecord) -> std::result::Result<&'static str, String> {
        // No relay configured: the portal's mailbox is the channel, and the row
        // the event wrote is already in it.
        Ok("mailbox")
    }

    /// The signed-in guardian's notices, newest first.
    pub async fn mailbox(&self, g: &GuardianSession, limit: u32) -> Result<Vec<NoticeRecord>> {
        Ok(self.store.notices_for(g.guardian_id, limit.clamp(1, 200)).await?)
    }
}

/// The "deletion completed" notice: what went, by kind, and where the receipt is.
/// Ids and counts only; no child content.
pub(crate) fn deletion_completed(d: &DeletionRecord, kinds: &BTreeMap<&'static str, u64>, items: usize) -> NewNotice {
    let what = match &d.scope {
        DeletionScope::Item { .. } => "an item and everything derived from it".to_owned(),
        DeletionScope::Items { .. } => "a selection of a child's data".to_owned(),
        DeletionScope::Child => "a child's profile, keys and all of its data".to_owned(),
    };
    let mut body = format!(
        "The deletion you asked for is complete: {what}.\n\n\
         Deletion: {id}\nReason: {reason}\nRequested: {requested}\nItems deleted: {items}\n",
        id = d.id,
        reason = d.reason.as_str(),
        requested = d.requested_at.format("%Y-%m-%d %H:%M UTC"),
    );
    for (kind, n) in kinds {
        body.push_str(&format!("  {kind}: {n}\n"));
    }
    body.push_str(
        "\nThe data keys were destroyed, the encrypted data erased, and every service that held a copy \
         confirmed its deletion. The signed receipt, which anyone can verify with `kidvault verify-receipt`, \
         is on the Deletions page of the portal and at ",
    );
    body.push_str(&format!("/api/v1/deletions/{}/receipt.\n", d.id));
    NewNotice { kind: NoticeKind::DeletionCompleted, subject: "Your deletion is complete".into(), body }
}
