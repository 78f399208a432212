//! Notices to guardians: consent confirmations, dormancy warnings, deletion
//! confirmations. A notice is written to the durable outbox in the same store
//! transaction as the event that causes it and delivered afterwards by a worker,
//! so an event never happens without its notice and a crash in between delays
//! the notice, never loses it.
//!
//! A notice names records by id and counts; it never carries child content
//! (recordings, transcripts, locations, a child's name).

use serde::{Deserialize, Serialize};

/// What a notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A deletion the guardian (or the retention policy) asked for has completed.
    DeletionCompleted,
    /// E-mail-plus consent: follow the link to confirm.
    ConsentConfirmation,
    /// A child profile became dormant: what will be deleted, when, how to keep it.
    DormancyNotice,
    /// The grace period of a dormant profile ends soon.
    DormancyReminder,
    /// A staff member overrode the access policy to see a child's data.
    StaffAccess,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 5] = [
        NoticeKind::DeletionCompleted,
        NoticeKind::ConsentConfirmation,
        NoticeKind::DormancyNotice,
        NoticeKind::DormancyReminder,
        NoticeKind::StaffAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::DeletionCompleted => "deletion_completed",
            NoticeKind::ConsentConfirmation => "consent_confirmation",
            NoticeKind::DormancyNotice => "dormancy_notice",
            NoticeKind::DormancyReminder => "dormancy_reminder",
            NoticeKind::StaffAccess => "staff_access",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A notice to every guardian of a household, as the event that causes it writes
/// it. The store fans it out to one outbox row per guardian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotice {
    pub kind: NoticeKind,
    pub subject: String,
    /// Plain text.
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(NoticeKind::parse("deletion"), None);
    }
}
