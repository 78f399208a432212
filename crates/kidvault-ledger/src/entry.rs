//! Ledger entries: canonical, versioned JSON.
//!
//! An entry records *that* something happened — kind, time, actor, subject ids,
//! purpose, counts and hashes — and never the child content it concerns. Its
//! canonical bytes (fixed field order, maps sorted, no insignificant whitespace)
//! are the Merkle leaf. The entry carries its own index, so an entry moved to
//! another position no longer matches its place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::LedgerError;

/// The current entry format version.
pub const VERSION: u8 = 1;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntryKind {
    #[serde(rename = "consent.granted")]
    ConsentGranted,
    #[serde(rename = "consent.withdrawn")]
    ConsentWithdrawn,
    #[serde(rename = "access.read")]
    AccessRead,
    #[serde(rename = "deletion.completed")]
    DeletionCompleted,
    #[serde(rename = "key.destroyed")]
    KeyDestroyed,
    #[serde(rename = "retention.expired")]
    RetentionExpired,
    #[serde(rename = "dormancy.notice")]
    DormancyNotice,
    /// A guardian chose to keep a profile even when dormant, or stopped keeping it.
    RetentionChoice,
    #[serde(rename = "household.closed")]
    HouseholdClosed,
    /// An operator restored the data store from a backup: the entries after the
    /// backup, which signed checkpoints had covered, are gone. Recorded so that
    /// everyone holding an older checkpoint sees why the log no longer extends it.
    #[serde(rename = "ledger.rollback")]
    LedgerRollback,
    /// A child's data was sent to a processor outside kidvault: which one, for
    /// what purpose, under which consent, how many items of each category.
    #[serde(rename = "data.disclosed")]
    DataDisclosed,
    /// A training dataset was snapshot for a processor (totals; the children's
    /// own entries are `data.disclosed`).
    #[serde(rename = "dataset.created")]
    DatasetCreated,
    /// A shard of a training dataset was downloaded.
    #[serde(rename = "dataset.downloaded")]
    DatasetDownloaded,
    /// A model was registered as trained on dataset shards.
    #[serde(rename = "model.registered")]
    ModelRegistered,
    /// A processor acknowledged a flagged model: retrained without the data, or destroyed.
    #[serde(rename = "model.resolved")]
    ModelResolved,
    /// A guardian let support see one child's data until a time.
    #[serde(rename = "support.granted")]
    SupportGranted,
    /// A guardian ended support's access before it expired.
    #[serde(rename = "support.revoked")]
    SupportRevoked,
    /// The privacy officer decided whether a break-glass access was justified.
    #[serde(rename = "access.reviewed")]
    AccessReviewed,
    /// The staff access policy in force changed (its digest).
    #[serde(rename = "policy.changed")]
    PolicyChanged,
}

impl EntryKind {
    pub const ALL: [EntryKind; 19] = [
        EntryKind::ConsentGranted,
        EntryKind::ConsentWithdrawn,
        EntryKind::AccessRead,
        EntryKind::DeletionCompleted,
        EntryKind::KeyDestroyed,
        EntryKind::RetentionExpired,
        EntryKind::DormancyNotice,
        EntryKind::HouseholdClosed,
        EntryKind::RetentionChoice,
        EntryKind::LedgerRollback,
        EntryKind::DataDisclosed,
        EntryKind::DatasetCreated,
        EntryKind::DatasetDownloaded,
        EntryKind::ModelRegistered,
        EntryKind::ModelResolved,
        EntryKind::SupportGranted,
        EntryKind::SupportRevoked,
        EntryKind::AccessReviewed,
        EntryKind::PolicyChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::ConsentGranted => "consent.granted",
            EntryKind::ConsentWithdrawn => "consent.withdrawn",
            EntryKind::AccessRead => "access.read",
            EntryKind::DeletionCompleted => "deletion.completed",
            EntryKind::KeyDestroyed => "key.destroyed",
            EntryKind::RetentionExpired => "retention.expired",
            EntryKind::DormancyNotice => "dormancy.notice",
            EntryKind::RetentionChoice => "retention.choice",
            EntryKind::HouseholdClosed => "household.closed",
            EntryKind::LedgerRollback => "ledger.rollback",
            EntryKind::DataDisclosed => "data.disclosed",
            EntryKind::DatasetCreated => "dataset.created",
            EntryKind::DatasetDownloaded => "dataset.downloaded",
            EntryKind::ModelRegistered => "model.registered",
            EntryKind::ModelResolved => "model.resolved",
            EntryKind::SupportGranted => "support.granted",
            EntryKind::SupportRevoked => "support.revoked",
            EntryKind::AccessReviewed => "access.reviewed",
            EntryKind::PolicyChanged => "policy.changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An entry before it has a place in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub kind: EntryKind,
    /// RFC 3339 UTC with microseconds, e.g. `2026-11-28T00:00:00.000000Z`.
    pub at: String,
    /// `guardian:<id>`, `device:<id>`, `staff:<id>`, `system`.
    pub actor: String,
    pub household: Option<String>,
    pub child: Option<String>,
    /// Other ids the entry is about (items, consents, devices).
    pub subjects: Vec<String>,
    pub purpose: Option<String>,
    /// Small facts: what was read, which scope, ... Never child content.
    pub detail: BTreeMap<String, String>,
    pub counts: BTreeMap<String, u64>,
    pub hashes: BTreeMap<String, String>,
}

/// An entry at its place in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub v: u8,
    pub index: u64,
    pub kind: EntryKind,
    pub at: String,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub household: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub child: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub subjects: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub purpose: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub detail: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub counts: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub hashes: BTreeMap<String, String>,
}

impl Entry {
    pub fn place(new: NewEntry, index: u64) -> Self {
        Self {
            v: VERSION,
            index,
            kind: new.kind,
            at: new.at,
            actor: new.actor,
            household: new.household,
            child: new.child,
            subjects: new.subjects,
            purpose: new.purpose,
            detail: new.detail,
            counts: new.counts,
            hashes: new.hashes,
        }
    }

    /// The canonical bytes: the Merkle leaf input.
    pub fn canonical(&self) -> Vec<u8> {
        // Struct fields serialize in declaration order and maps are BTreeMaps, so
        // the output is deterministic; serde_json never fails on these types.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses canonical bytes, refusing anything that does not re-serialize to
    /// exactly the same bytes.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, LedgerError> {
        let e: Entry = serde_json::from_slice(bytes)
            .map_err(|err| LedgerError::Malformed { what: "entry", why: err.to_string() })?;
        if e.canonical() != bytes {
            return Err(LedgerError::Malformed { what: "entry", why: "not in canonical form".into() });
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_stable_and_strict() {
        let mut detail = BTreeMap::new();
        detail.insert("scope".to_string(), "voice".to_string());
        let e = Entry::place(
            NewEntry {
                kind: EntryKind::ConsentGranted,
                at: "2026-11-28T00:00:00.000000Z".into(),
                actor: "guardian:g".into(),
                household: Some("h".into()),
                child: Some("c".into()),
                subjects: vec!["k".into()],
                purpose: None,
                detail,
                counts: BTreeMap::new(),
                hashes: BTreeMap::new(),
            },
            7,
        );
        let bytes = e.canonical();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":1,"index":7,"kind":"consent.granted","at":"2026-11-28T00:00:00.000000Z","actor":"guardian:g","household":"h","child":"c","subjects":["k"],"detail":{"scope":"voice"}}"#
        );
        assert_eq!(Entry::from_canonical(&bytes).unwrap(), e);
        let spaced = String::from_utf8(bytes).unwrap().replace(',', ", ");
        assert!(Entry::from_canonical(spaced.as_bytes()).is_err());
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::parse(k.as_str()), Some(k));
        }
    }
}
