//! Deletion requests: what a deletion covers and the steps it goes through.
//!
//! A deletion is a durable state machine. Each step is recorded before the next
//! begins, so a process killed between any two steps resumes where it stopped:
//!
//! ```text
//! requested → resolved (scope → items, through lineage; items stop being served)
//!           → shredded (child: every key epoch destroyed; items: wrapped keys destroyed)
//!           → rotated  (items: child key moved to a new epoch, old epoch destroyed)
//!           → purged   (rows and blobs removed)
//!           → dispatched (a task for every downstream processor concerned)
//!           → acknowledged (every processor confirmed; waits here until then)
//!           → completed (ledger entries appended; receipt available)
//! ```

use serde::{Deserialize, Serialize};

use crate::ids::ItemId;
use crate::item::ItemKind;
use crate::Timestamp;

/// What a deletion covers. Every scope also takes everything derived, transitively.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeletionScope {
    /// One item and everything derived from it.
    Item { item: ItemId },
    /// The child's items of these kinds (all kinds if empty) recorded in
    /// `[from, to)`, and everything derived from them.
    Items {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kinds: Vec<ItemKind>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Timestamp>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Timestamp>,
        /// Only what this device sent (and everything derived from it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<crate::ids::DeviceId>,
    },
    /// The child's profile, keys, consents, devices and all its data.
    Child,
}

impl DeletionScope {
    pub fn is_child(&self) -> bool {
        matches!(self, DeletionScope::Child)
    }
}

/// Why data is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionReason {
    Guardian,
    Retention,
    Dormancy,
    /// Done again after a restore: the data store came back from a backup taken
    /// before the deletion, whose keys the live keystore no longer has.
    Restore,
    /// A parent's auto-delete choice for the child's recordings.
    AutoDelete,
}

impl DeletionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionReason::Guardian => "guardian",
            DeletionReason::Retention => "retention",
            DeletionReason::Dormancy => "dormancy",
            DeletionReason::Restore => "restore",
            DeletionReason::AutoDelete => "auto_delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DeletionReason::Guardian,
            DeletionReason::Retention,
            DeletionReason::Dormancy,
            DeletionReason::Restore,
            DeletionReason::AutoDelete,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The steps of a deletion, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletionStep {
    Requested,
    Resolved,
    Shredded,
    Rotated,
    Purged,
    Dispatched,
    Acknowledged,
    Completed,
}

impl DeletionStep {
    pub const ALL: [DeletionStep; 8] = [
        DeletionStep::Requested,
        DeletionStep::Resolved,
        DeletionStep::Shredded,
        DeletionStep::Rotated,
        DeletionStep::Purged,
        DeletionStep::Dispatched,
        DeletionStep::Acknowledged,
        DeletionStep::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeletionStep::Requested => "requested",
            DeletionStep::Resolved => "resolved",
            DeletionStep::Shredded => "shredded",
            DeletionStep::Rotated => "rotated",
            DeletionStep::Purged => "purged",
            DeletionStep::Dispatched => "dispatched",
            DeletionStep::Acknowledged => "acknowledged",
            DeletionStep::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The step after this one (`None` when completed).
    pub fn next(self) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s > self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_in_order_and_scopes_serialize_tagged() {
        let mut s = DeletionStep::Requested;
        let mut seen = vec![s];
        while let Some(n) = s.next() {
            s = n;
            seen.push(s);
        }
        assert_eq!(seen, DeletionStep::ALL);
        for st in DeletionStep::ALL {
            assert_eq!(DeletionStep::parse(st.as_str()), Some(st));
        }
        let scope = DeletionScope::Items { kinds: vec![ItemKind::Location], from: None, to: None, device: None };
        let json = serde_json::to_string(&scope).unwrap();
        assert_eq!(json, r#"{"type":"items","kinds":["location"]}"#);
        assert_eq!(serde_json::from_str::<DeletionScope>(&json).unwrap(), scope);
        assert!(DeletionScope::Child.is_child());
    }
}
