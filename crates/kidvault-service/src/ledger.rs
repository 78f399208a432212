//! The ledger as the service offers it: entries written with each action (built
//! by [`entry`]), signed checkpoints, and proofs.
//!
//! A guardian sees the entries about their own household and nothing else (other
//! indexes answer 404); a staff principal with the auditor role sees every entry. Checkpoints and consistency proofs are public: they hold
//! only sizes and hashes.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use kidvault_domain::downstream::StaffRole;
use kidvault_domain::entities::Child;
use kidvault_domain::ids::ChildId;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{Entry, EntryKind, NewEntry};
use kidvault_ledger::receipt::EntryProof;
use kidvault_ledger::Hash;
use kidvault_store::StoredEntry;

use crate::access::{Action, Actor, GuardianSession};
use crate::accounts::StaffSession;
use crate::{Result, ServiceError, Vault};

/// A new entry about `child`, by `actor`, at `now`.
pub(crate) fn entry(kind: EntryKind, now: Timestamp, actor: &str, child: &Child) -> NewEntry {
    entry_about(kind, now, actor, child.id, child.household_id)
}

/// An entry about a child known by its ids.
pub(crate) fn entry_about(
    kind: EntryKind,
    now: Timestamp,
    actor: &str,
    child: kidvault_domain::ids::ChildId,
    household: kidvault_domain::ids::HouseholdId,
) -> NewEntry {
    NewEntry {
        kind,
        at: now.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor: actor.to_owned(),
        household: Some(household.to_string()),
        child: Some(child.to_string()),
        subjects: Vec::new(),
        purpose: None,
        detail: BTreeMap::new(),
        counts: BTreeMap::new(),
        hashes: BTreeMap::new(),
    }
}

pub(crate) fn parse_all(stored: Vec<StoredEntry>) -> Result<Vec<Entry>> {
    stored
        .into_iter()
        .map(|s| {
            Entry::from_canonical(&s.body).map_err(|e| ServiceError::Internal(format!("ledger entry {}: {e}", s.index)))
        })
        .collect()
}

/// Who reads the ledger's entries.
#[derive(Clone, Copy, Debug)]
pub enum LedgerReader<'a> {
    Guardian(&'a GuardianSession),
    /// Needs the auditor role.
    Staff(&'a StaffSession),
}

impl Vault {
    /// The newest signed checkpoint, signing one first if the log has grown since.
    /// Returns (tree size, signed note).
    pub async fn checkpoint(&self, now: Timestamp) -> Result<(u64, String)> {
        let size = self.store.ledger_size().await?;
        if let Some((latest, note)) = self.store.latest_checkpoint().await? {
            if latest >= size {
                return Ok((latest, note));
            }
        }
        self.checkpoint_at(size, now).await.map(|note| (size, note))
    }

    /// The checkpoint for exactly `size` entries (signed now if none was kept).
    async fn checkpoint_at(&self, size: u64, now: Timestamp) -> Result<String> {
        if let Some(note) = self.store.checkpoint_at(size).await? {
            return Ok(note);
        }
        let root = self.store.ledger_root(size).await?;
        let note = self.signer.sign(size, root, u64::try_from(now.timestamp()).unwrap_or(0));
        self.store.save_checkpoint(size, now, &note).await?;
        // Another node or request may have saved one first: serve the kept one.
        Ok(self.store.checkpoint_at(size).await?.unwrap_or(note))
    }

    /// The verifier key (C2SP note format) that checks every checkpoint.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// One entry, if the reader may see it: a guardian the entries about their
    /// household, an auditor every entry.
    pub async fn ledger_entry(&self, who: LedgerReader<'_>, index: u64) -> Result<(Entry, Vec<u8>)> {
        let stored = self.store.ledger_entry(index).await?.ok_or(ServiceError::NotFound)?;
        match who {
            LedgerReader::Guardian(g) if stored.household.as_deref() != Some(g.household_id.to_string().as_str()) => {
                return Err(ServiceError::NotFound)
            }
            LedgerReader::Guardian(_) => {}
            LedgerReader::Staff(s) => s.require(StaffRole::Auditor)?,
        }
        let entry = Entry::from_canonical(&stored.body)
            .map_err(|e| ServiceError::Internal(format!("ledger entry {index}: {e}")))?;
        Ok((entry, stored.body))
    }

    /// An entry with its inclusion proof and the signed checkpoint it is proven
    /// against (the latest, or the tree of `tree_size` entries).
    pub async fn entry_proof(
        &self,
        who: LedgerReader<'_>,
        index: u64,
        tree_size: Option<u64>,
        now: Timestamp,
    ) -> Result<EntryProof> {
        let (_, body) = self.ledger_entry(who, index).await?;
        let (size, note) = match tree_size {
            None => self.checkpoint(now).await?,
            Some(size) => {
                if size <= index || size > self.store.ledger_size().await? {
                    return Err(ServiceError::invalid(
                        "invalid_tree_size",
                        "tree_size must be larger than the entry's index and at most the log's size",
                    ));
                }
                (size, self.checkpoint_at(size, now).await?)
            }
        };
        let proof = self.store.inclusion_proof(index, size).await?;
        Ok(EntryProof::new(&body, index, size, &proof, note))
    }

    /// A consistency proof between two sizes of the log.
    pub async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>> {
        if from == 0 || from > to || to > self.store.ledger_size().await? {
            return Err(ServiceError::invalid("invalid_range", "sizes must satisfy 0 < from <= to <= the log's size"));
        }
        Ok(self.store.consistency_proof(from, to).await?)
    }

    /// Everything the ledger holds about a child: consents, withdrawals, every
    /// access with its purpose (and, as they arrive, deletions and retention).
    pub async fn activity(&self, g: &GuardianSession, child: ChildId) -> Result<Vec<Entry>> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        parse_all(self.store.child_entries(grant.child_id(), None).await?)
    }
}
