//! Re-sealing the keystore under the seal chain's next generation, and
//! forgetting old generations: what makes a destroyed key's remnants in files
//! kidvault cannot scrub (PostgreSQL's dead rows and WAL segments, archived WAL,
//! base backups) stop opening on a known date.
//!
//! The schedule, with `every` the re-seal interval and `W` the backup window:
//! - every `every`, one node (the one holding the sweeps lease) begins the next
//!   generation and seals every row under it again, in pages, each page
//!   replaced only where the row still holds what was read;
//! - a generation is forgotten (its keystore record deleted, then every node's
//!   chain file stepped past it, overwritten in place) once a newer one has been
//!   complete for `W - 2 × every`. A key destroyed at `T` has its last copies
//!   sealed under the generation current at `T`; the next one begins by
//!   `T + every` (plus a sweep tick) and completes soon after, so they open
//!   from nothing after `T + W - every` plus two ticks, within `T + W`: the
//!   date receipts already give for backups (with ticks of an hour, as long
//!   as `every` is longer than a few hours);
//! - every node follows the keystore's record each tick: the generation new
//!   rows are sealed under, and stepping its own file past forgotten ones.
//!
//! Until a generation is forgotten, backups of the database made under it
//! still open (a restore within the window keeps working).

use std::sync::atomic::Ordering;

use kidvault_domain::Timestamp;
use kidvault_store::{KeyRowId, Resealed, SealGeneration};

use crate::keyring::KeyRing;
use crate::{Result, ServiceError, Vault};

/// Rows re-sealed per keystore transaction.
const PAGE: u32 = 500;

/// What one re-seal run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResealReport {
    /// The generation begun, if one was.
    pub began: Option<u32>,
    /// Rows sealed again under the newest generation.
    pub resealed: u64,
    /// The oldest generation kept, if older ones were forgotten.
    pub forgot_before: Option<u32>,
}

impl KeyRing {
    /// Joins the keystore's seal chain at start: registers this chain's
    /// generation in a keystore that has none (new, or from before the chain),
    /// or checks that the chain file is the one the keystore's rows are sealed
    /// with and follows it. Refuses a file that is not, or that has forgotten a
    /// generation the keystore still uses (a keystore restored from a backup
    /// older than the chain file allows).
    pub async fn join_chain(&self, now: Timestamp, created: bool) -> Result<()> {
        let gens = self.keystore().seal_generations().await?;
        if gens.is_empty() {
            let g = self.chain.oldest();
            let first = SealGeneration {
                generation: g,
                fingerprint: self.chain.fingerprint(g)?,
                began_at: now,
                completed_at: None,
            };
            self.keystore().begin_seal_generation(&first).await?;
        }
        match self.follow_chain().await {
            Err(_) if created && !gens.is_empty() => {
                // The file was made by this start over a keystore that has a
                // chain: it holds nothing anyone used; take it away again.
                let _ = std::fs::remove_file(self.chain.path());
                Err(ServiceError::Conflict {
                    code: "wrong_deployment",
                    message: format!(
                        "the keystore's rows are sealed under a seal chain, but its file {} is missing: copy it \
                         from another node of this deployment (or restore the key directory); kidvault never makes \
                         a new one over sealed rows",
                        self.chain.path().display()
                    ),
                })
            }
            other => other,
        }
    }

    /// Reads the keystore's generations and follows them: new rows are sealed
    /// under the newest; this node's chain file steps past forgotten ones.
    pub async fn follow_chain(&self) -> Result<()> {
        let gens = self.keystore().seal_generations().await?;
        let (Some(oldest), Some(newest)) = (gens.first(), gens.last()) else { return Ok(()) };
        let refuse = |message: String| Err(ServiceError::Conflict { code: "wrong_deployment", message });
        let file = self.chain.path().display();
        if self.chain.oldest() > oldest.generation {
            return refuse(format!(
                "the seal chain file {file} has stepped past generation {}, which the keystore still uses: the \
                 keystore was restored from before the chain forgot it, and its rows open nowhere",
                oldest.generation
            ));
        }
        for g in &gens {
            if self.chain.fingerprint(g.generation)? != g.fingerprint {
                return refuse(format!(
                    "the seal chain file {file} is not the one this keystore's rows are sealed with (generation {} \
                     differs): copy it from another node of this deployment",
                    g.generation
                ));
            }
        }
        self.chain.forget_before(oldest.generation)?;
        self.generation.fetch_max(newest.generation, Ordering::AcqRel);
        Ok(())
    }

    /// Seals every row below `generation` under it; returns how many.
    async fn reseal_below(&self, generation: u32) -> Result<u64> {
        let prefix = kidvault_crypto::chain::prefix_of(generation);
        let mut after: Option<KeyRowId> = None;
        let mut n = 0;
        loop {
            let rows = self.keystore().key_rows_below(&prefix, after, PAGE).await?;
            let Some(last) = rows.last() else { return Ok(n) };
            after = Some(last.id);
            let mut resealed = Vec::with_capacity(rows.len());
            for row in rows {
                let inner = self.open_row(row.id, &row.wrapped)?;
                let new = self.chain.seal(generation, &crate::keyring::row_context(row.id), &inner)?;
                resealed.push(Resealed { id: row.id, old: row.wrapped, new });
            }
            n += self.keystore().reseal_key_rows(&resealed).await?;
        }
    }
}

impl Vault {
    /// Every node, each tick: follows the keystore's seal chain.
    pub async fn follow_seal_chain(&self) -> Result<()> {
        self.keys.follow_chain().await
    }

    /// One node (holding the sweeps lease): finishes a generation begun,
    /// begins the next when `every` has passed since the newest began, and
    /// forgets generations complete-and-replaced for longer than the backup
    /// window less `every`. With no interval configured it only finishes what
    /// was begun (rows from before the chain are sealed on the first run).
    pub async fn reseal_keys(&self, now: Timestamp) -> Result<ResealReport> {
        let keys = &self.keys;
        let mut report = ResealReport::default();
        keys.follow_chain().await?;
        let gens = keys.keystore().seal_generations().await?;
        let Some(mut newest) = gens.last().cloned() else { return Ok(report) };
        if newest.completed_at.is_none() {
            // Begun and not finished (by a node that stopped, or the first
            // generation of a keystore from before the chain): finish it.
            report.resealed += keys.reseal_below(newest.generation).await?;
            keys.keystore().complete_seal_generation(newest.generation, now).await?;
        }
        let every = self.config.reseal_every;
        if every.is_some_and(|e| now - newest.began_at >= e) {
            let next = SealGeneration {
                generation: newest.generation + 1,
                fingerprint: keys.chain.fingerprint(newest.generation + 1)?,
                began_at: now,
                completed_at: None,
            };
            if keys.keystore().begin_seal_generation(&next).await? {
                report.began = Some(next.generation);
            }
            keys.follow_chain().await?;
            report.resealed += keys.reseal_below(next.generation).await?;
            keys.keystore().complete_seal_generation(next.generation, now).await?;
            newest = next;
        }
        let target = newest.generation;
        if let Some(every) = every {
            let keep = (self.config.backup_window - every - every).max(chrono::Duration::zero());
            let gens = keys.keystore().seal_generations().await?;
            let oldest = gens.first().map_or(0, |g| g.generation);
            let forget_before = gens
                .iter()
                .filter(|g| g.completed_at.is_some_and(|c| c <= now - keep))
                .map(|g| g.generation)
                .max()
                .filter(|g| *g > oldest);
            if let Some(g) = forget_before {
                // A node that sealed a row under an older generation since the
                // last run (it had not followed yet) is caught here.
                report.resealed += keys.reseal_below(target).await?;
                keys.keystore().forget_seal_generations_before(g).await?;
                keys.follow_chain().await?;
                report.forgot_before = Some(g);
            }
        }
        Ok(report)
    }
}
