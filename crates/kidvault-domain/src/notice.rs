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

/// A marker for "the child's name" in notice text (`{{child:<id>}}`). The
/// text is stored with the marker, never the name (a child's name is sealed
/// child data); the portal's mailbox shows the name to a guardian who may see
/// it, and e-mail says "your child", so no name travels through mail servers.
pub fn mark_child(child: crate::ids::ChildId) -> String {
    format!("{{{{child:{child}}}}}")
}

/// What a deleted child's markers become in stored notices, as (marker,
/// replacement) pairs: the marker as it stands in text, and as it stands
/// escaped inside a message's value. Both become "your child", written in
/// each reader's language (`notice-your-child`), and the child's id is gone.
pub fn forget_child(child: crate::ids::ChildId) -> [(String, String); 2] {
    let marker = mark_child(child);
    let replacement = "{{msg:notice-your-child}}".to_owned();
    [(crate::markers::escape(&marker), crate::markers::escape(&replacement)), (marker, replacement)]
}

/// The children a text's markers name, in order, each once.
pub fn marked_children(text: &str) -> Vec<crate::ids::ChildId> {
    let mut out = Vec::new();
    crate::markers::each(text, |kind, id| {
        if let (true, Ok(id)) = (kind == "child", id.parse()) {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    });
    out
}

/// Replaces each child marker with `name(id)`.
pub fn name_children(text: &str, name: impl Fn(crate::ids::ChildId) -> String) -> String {
    crate::markers::render(text, |kind, id| if kind == "child" { id.parse().ok().map(&name) } else { None })
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

    #[test]
    fn child_markers_are_named_or_left_unnamed() {
        let mia = crate::ids::ChildId(uuid::Uuid::now_v7());
        let text = format!("{}'s profile. Keep {}'s data? {{{{child:nope}}}}", mark_child(mia), mark_child(mia));
        assert_eq!(marked_children(&text), vec![mia]);
        assert_eq!(name_children(&text, |_| "Mia".into()), "Mia's profile. Keep Mia's data? {{child:nope}}");
        assert_eq!(
            name_children(&text, |_| "your child".into()),
            "your child's profile. Keep your child's data? {{child:nope}}"
        );
    }
}
