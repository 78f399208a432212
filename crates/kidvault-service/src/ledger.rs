//! The ledger as the service offers it: entries written with each action (built
//! by [`entry`]), signed checkpoints, and proofs.
//!
//! A guardian sees the entries about their own household and nothing else (other
//! indexes answer 404); a staff principal with the auditor role sees every entry. Checkpoints and consistency proofs are public: they hold
//! only sizes and hashes.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use kidvault_domain::entities::Child;
use kidvault_domain::ids::ChildId;
use kidvault_domain::Timestamp;
use kidvault_ledger::checkpoint::{Checkpoint, Verifier};
use kidvault_ledger::entry::{Entry, EntryKind, NewEntry};
use kidvault_ledger::receipt::EntryProof;
use kidvault_ledger::Hash;
use kidvault_store::StoredEntry;

use crate::principal::{Action, Actor, GuardianSession};
use crate::{Result, ServiceError, Vault};

/// A new entry about `child`, by `actor`, at `now`.
pub(crate) fn entry(kind: EntryKind, now: Timestamp, actor: &str, child: &Child) -> NewEntry {
    entry_about(kind, now, actor, child.id, child.household_id)
}

/// A time as ledger entries spell it (RFC 3339, UTC, microseconds).
pub(crate) fn timestamp(now: Timestamp) -> String {
    now.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An entry about the deployment, not about one household.
pub(crate) fn global_entry(kind: EntryKind, now: Timestamp, actor: &str) -> NewEntry {
    NewEntry {
        kind,
        at: timestamp(now),
        actor: actor.to_owned(),
        household: None,
        child: None,
        subjects: Vec::new(),
        purpose: None,
        detail: BTreeMap::new(),
        counts: BTreeMap::new(),
        hashes: BTreeMap::new(),
    }
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
        at: timestamp(now),
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
    /// Staff the access policy lets read the ledger.
    Auditor(&'a crate::staff::Permit<crate::staff::ReadLedger>),
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
    /// Nothing is signed unless the log extends the anchored checkpoint.
    async fn checkpoint_at(&self, size: u64, now: Timestamp) -> Result<String> {
        if let Some(note) = self.store.checkpoint_at(size).await? {
            return Ok(note);
        }
        self.check_anchor().await?;
        let root = self.store.ledger_root(size).await?;
        let note = self.signer.sign(size, root, u64::try_from(now.timestamp()).unwrap_or(0));
        self.store.save_checkpoint(size, now, &note).await?;
        // Another node or request may have saved one first: serve the kept one.
        let note = self.store.checkpoint_at(size).await?.unwrap_or(note);
        self.anchor(&note)?;
        Ok(note)
    }

    /// The anchored checkpoint: the latest this deployment signed, read from
    /// beside the keys and verified with its own key.
    fn anchored(&self) -> Result<Option<Checkpoint>> {
        let Some(path) = &self.config.checkpoint_anchor else { return Ok(None) };
        let note = match std::fs::read_to_string(path) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ServiceError::Internal(format!("reading {}: {e}", path.display()))),
        };
        let verifier = Verifier::parse(&self.signer.verifier_key())
            .map_err(|e| ServiceError::Internal(format!("the ledger's own verifier key: {e}")))?;
        verifier.verify(&note).map(Some).map_err(|e| {
            ServiceError::Internal(format!(
                "{} is not a checkpoint signed by this deployment's ledger key: {e}",
                path.display()
            ))
        })
    }

    /// Keeps `note` as the anchor if it is larger than the one kept (written
    /// to a temporary file, synced, renamed over the old one).
    fn anchor(&self, note: &str) -> Result<()> {
        let Some(path) = &self.config.checkpoint_anchor else { return Ok(()) };
        let size = |n: &str| n.lines().nth(1).and_then(|l| l.parse::<u64>().ok());
        let _one_writer = self.anchor_writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some(old), Some(new)) = (self.anchored()?, size(note)) {
            if old.size >= new {
                return Ok(());
            }
        }
        let io = |e: std::io::Error| ServiceError::Internal(format!("writing {}: {e}", path.display()));
        let tmp = path.with_extension(format!("tmp-{}", self.node));
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        std::io::Write::write_all(&mut f, note.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }

    /// Whether the log in the data store extends `cp`: it has at least as many
    /// entries and the tree of `cp.size` entries has `cp.root`.
    pub async fn extends(&self, cp: &Checkpoint) -> Result<bool> {
        Ok(self.store.ledger_size().await? >= cp.size && self.store.ledger_root(cp.size).await? == cp.root)
    }

    /// Refuses (`ledger_fork`) when the data store's log does not extend the
    /// anchored checkpoint: the data store was restored from a backup, or is
    /// another deployment's.
    pub async fn check_anchor(&self) -> Result<()> {
        let Some(cp) = self.anchored()? else { return Ok(()) };
        if self.extends(&cp).await? {
            return Ok(());
        }
        let path = self.config.checkpoint_anchor.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
        Err(ServiceError::Conflict {
            code: "ledger_fork",
            message: format!(
                "the ledger in the data store ({} entries) does not extend the last checkpoint this deployment \
                 signed ({} entries, kept in {path}): the data store was restored from a backup or replaced. \
                 If that restore is intended, run `kidvault ledger accept-rollback --reason TEXT`, which records \
                 the rollback in the ledger for everyone to see",
                self.store.ledger_size().await?,
                cp.size
            ),
        })
    }

    /// The explicit step after restoring a data store: appends a
    /// `ledger.rollback` entry naming the checkpoint the log no longer extends
    /// and why, signs a checkpoint over it and anchors that. Returns the entry's
    /// index. Refused when the log does extend the anchor (nothing to accept).
    pub async fn accept_rollback(&self, reason: &str, now: Timestamp) -> Result<u64> {
        let Some(cp) = self.anchored()? else {
            return Err(ServiceError::invalid("no_rollback", "no checkpoint is anchored: nothing to accept"));
        };
        if self.extends(&cp).await? {
            return Err(ServiceError::invalid("no_rollback", "the ledger extends the anchored checkpoint"));
        }
        let size = self.store.ledger_size().await?;
        let mut entry = global_entry(EntryKind::LedgerRollback, now, "operator");
        entry.detail.insert("reason".into(), reason.to_owned());
        entry.counts.insert("lost_checkpoint_size".into(), cp.size);
        entry.counts.insert("restored_size".into(), size);
        entry.hashes.insert("lost_checkpoint_root".into(), kidvault_ledger::hash::to_hex(&cp.root));
        self.store.append_entries(&[entry]).await?;
        let size = self.store.ledger_size().await?;
        let root = self.store.ledger_root(size).await?;
        let note = self.signer.sign(size, root, u64::try_from(now.timestamp()).unwrap_or(0));
        self.store.save_checkpoint(size, now, &note).await?;
        // The anchor moves to the new tree even though it is smaller.
        if let Some(path) = &self.config.checkpoint_anchor {
            let _ = std::fs::remove_file(path);
        }
        self.anchor(&note)?;
        Ok(size - 1)
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
            LedgerReader::Auditor(_) => {}
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
