//! The one authorization point.
//!
//! Every operation on a child's data asks [`Vault::authorize`] for a [`Grant`]:
//! who is acting, on which child, for which purpose. A `Grant` cannot be built
//! outside this module, and the only ways to plaintext child content
//! ([`Vault::open`]) take one and append the access record in the same call. The
//! rules:
//! - a guardian may act on the children of their own household, and nothing else
//!   (decided by the built-in Cedar family policy, [`crate::family_policy`]);
//! - staff act under the operator's Cedar access policy ([`crate::staff`]);
//! - a device may only collect, only for the child it is paired to, only while the
//!   scope the data needs is in force under the current notice (the same
//!   built-in policy).
//!
//! Anything the caller may not see is reported as `NotFound`, never `Forbidden`.

use kidvault_domain::consent::scopes_in_force;
use kidvault_domain::entities::ChildStatus;
use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{Entry, EntryKind, NewEntry};
use kidvault_store::{ChildRecord, Sealed};

pub use crate::principal::{Action, Actor, DeviceSession, GuardianSession};
use crate::{Result, ServiceError, Vault};

/// Proof that a bulk read's access record was written; only
/// [`Vault::record_bulk_read`] mints it.
#[derive(Debug)]
pub(crate) struct Recorded {
    child: ChildId,
}

/// Proof that an authorization check passed. Only [`Vault::authorize`] (and,
/// for staff, the access policy's decision in [`crate::staff`]) mints it; it
/// names the action it was issued for.
#[derive(Debug)]
pub struct Grant {
    pub(crate) child: ChildRecord,
    pub(crate) actor: String,
    pub(crate) action: Action,
    /// For a staff read: why (purpose, ticket, on what basis), recorded with each access.
    pub(crate) staff: Option<crate::staff::StaffBasis>,
}

impl Grant {
    pub fn child(&self) -> &ChildRecord {
        &self.child
    }
    pub fn child_id(&self) -> ChildId {
        self.child.child.id
    }
    pub fn actor(&self) -> &str {
        &self.actor
    }
}

/// `Forbidden` unless the grant was issued for an action that reads content.
fn may_open(grant: &Grant) -> Result<()> {
    if grant.action.opens_content() {
        return Ok(());
    }
    Err(ServiceError::Internal(format!("a grant for {:?} cannot open content", grant.action)))
}

/// The access record of a read under `grant`: who, why, what.
fn access_entry(grant: &Grant, what: &str, now: Timestamp) -> NewEntry {
    let mut entry = crate::ledger::entry(EntryKind::AccessRead, now, &grant.actor, &grant.child.child);
    entry.purpose = Some(grant.action.purpose().to_owned());
    entry.detail.insert("what".into(), what.to_owned());
    if let Some(basis) = &grant.staff {
        basis.describe(&mut entry);
    }
    entry
}

impl Vault {
    /// Decides whether `actor` may perform `action` on `child_id`.
    pub async fn authorize(&self, actor: Actor<'_>, child_id: ChildId, action: Action) -> Result<Grant> {
        match actor {
            Actor::Guardian(g) => {
                let child = self.store.child(child_id).await?.ok_or(ServiceError::NotFound)?;
                self.authorize_loaded(g, child, action)
            }
            Actor::Retention => {
                let child = self.store.child(child_id).await?.ok_or(ServiceError::NotFound)?;
                if action != Action::Minimise || child.child.status == ChildStatus::Deleting {
                    return Err(ServiceError::NotFound);
                }
                Ok(Grant { child, actor: "system:retention".into(), action, staff: None })
            }
            Actor::Device(d) => {
                let ctx = &d.ctx;
                // Which refusal: another child's id, or one being deleted, is not
                // found; any other denial of the policy below is the consent's.
                if ctx.child.child.id != child_id || ctx.child.child.status == ChildStatus::Deleting {
                    return Err(ServiceError::NotFound);
                }
                let Action::Collect(scope) = action else {
                    return Err(ServiceError::NotFound);
                };
                let scope_in_force = scopes_in_force(&ctx.consents, &self.notice_in_force).contains(&scope);
                let family = crate::family_policy::family();
                if !family.device_may_collect(ctx.child.child.id, &ctx.child.child, scope_in_force) {
                    return Err(ServiceError::Forbidden {
                        code: "consent_required",
                        message: format!(
                            "no verifiable parental consent for the {} scope is in force for this child \
                             under notice {}",
                            scope.as_str(),
                            self.notice_in_force
                        ),
                    });
                }
                let actor = format!("device:{}", ctx.device.device.id);
                Ok(Grant { child: ctx.child.clone(), actor, action, staff: None })
            }
        }
    }

    /// The guardian rule (the built-in Cedar family policy,
    /// [`crate::family_policy`]), for a child record already loaded (e.g. by a
    /// household listing).
    pub(crate) fn authorize_loaded(&self, g: &GuardianSession, child: ChildRecord, action: Action) -> Result<Grant> {
        if !crate::family_policy::family().allows(g, &child.child, action) {
            return Err(ServiceError::NotFound);
        }
        Ok(Grant { child, actor: format!("guardian:{}", g.guardian_id), action, staff: None })
    }

    /// Opens sealed child content under `grant`, appending the access record first:
    /// no record, no plaintext.
    pub(crate) async fn open(
        &self,
        grant: &Grant,
        data_id: &[u8; 16],
        item: Option<ItemId>,
        what: &str,
        sealed: &Sealed,
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        may_open(grant)?;
        self.record_access(grant, item, what, now).await?;
        self.keys.open(grant.child_id(), data_id, sealed).await
    }

    /// Records one access for a bulk read of a child's data (an export), with
    /// its counts; the items are then opened under the returned proof without
    /// further records.
    pub(crate) async fn record_bulk_read(
        &self,
        grant: &Grant,
        what: &str,
        counts: &[(&str, u64)],
        now: Timestamp,
    ) -> Result<Recorded> {
        may_open(grant)?;
        let mut entry = access_entry(grant, what, now);
        for (k, n) in counts {
            entry.counts.insert((*k).to_owned(), *n);
        }
        self.append_recorded(grant, entry, now).await?;
        Ok(Recorded { child: grant.child_id() })
    }

    /// Decrypts one item of the child whose bulk read was recorded.
    pub(crate) async fn open_recorded(
        &self,
        grant: &Grant,
        recorded: &Recorded,
        data_id: &[u8; 16],
        sealed: &Sealed,
    ) -> Result<Vec<u8>> {
        if recorded.child != grant.child_id() {
            return Err(ServiceError::Internal("a recorded read of another child".into()));
        }
        self.keys.open(grant.child_id(), data_id, sealed).await
    }

    /// Opens several sealed values of one child for one read (a page of the
    /// timeline, the device list): one access record naming every id, then each
    /// is decrypted (each sealed under its id).
    pub(crate) async fn open_many(
        &self,
        grant: &Grant,
        sealed: &[(&[u8; 16], &Sealed)],
        what: &str,
        now: Timestamp,
    ) -> Result<Vec<Vec<u8>>> {
        if sealed.is_empty() {
            return Ok(Vec::new());
        }
        may_open(grant)?;
        let ids: Vec<String> = sealed.iter().map(|(id, _)| uuid::Uuid::from_bytes(**id).to_string()).collect();
        self.append_access(grant, ids, what, now).await?;
        let mut out = Vec::with_capacity(sealed.len());
        for (id, s) in sealed {
            out.push(self.keys.open(grant.child_id(), id, s).await?);
        }
        Ok(out)
    }

    /// Appends the access record for a read made under `grant`: an `access.read`
    /// entry in the ledger, which the guardian can see and anyone can verify.
    pub(crate) async fn record_access(
        &self,
        grant: &Grant,
        item: Option<ItemId>,
        what: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.append_access(grant, item.iter().map(ItemId::to_string).collect(), what, now).await
    }

    async fn append_access(&self, grant: &Grant, subjects: Vec<String>, what: &str, now: Timestamp) -> Result<()> {
        let mut entry = access_entry(grant, what, now);
        entry.subjects = subjects;
        self.append_recorded(grant, entry, now).await
    }

    /// Appends an access record; a staff read that broke the glass also opens
    /// its review and tells the guardians, in the same transaction.
    async fn append_recorded(&self, grant: &Grant, entry: NewEntry, now: Timestamp) -> Result<()> {
        match grant.staff.as_ref().and_then(|b| b.break_glass.as_ref()) {
            None => {
                self.store.append_entries(&[entry]).await?;
            }
            Some(glass) => self.break_glass(grant, glass, &entry, now).await?,
        }
        Ok(())
    }

    /// Seals new child content that is not an item (a profile, a device name)
    /// under the child's current key, its data key wrapped beside it: it lives
    /// and dies with the child. Items use [`crate::keyring::KeyRing::seal_item`].
    pub(crate) async fn seal(&self, grant: &Grant, data_id: &[u8; 16], plaintext: &[u8]) -> Result<Sealed> {
        let key = self.keys.current(grant.child_id()).await?;
        let (wrapped_key, ciphertext) = key.seal_new(data_id, plaintext)?;
        Ok(Sealed { epoch: key.epoch(), wrapped_key, ciphertext })
    }

    /// The access log of a child: who read what, when, and why (ledger entries).
    pub async fn access_log(&self, g: &GuardianSession, child: ChildId) -> Result<Vec<Entry>> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        crate::ledger::parse_all(self.store.child_entries(grant.child_id(), Some(EntryKind::AccessRead)).await?)
    }
}
