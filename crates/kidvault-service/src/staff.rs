//! Staff: accounts with two-factor sign-in and short-lived sessions, and their
//! purpose-bound access to a child's data.
//!
//! A staff member reaches child data only through the calls here, each of
//! which asks the access policy ([`crate::access_policy`]) with the request's
//! purpose and ticket and whether a guardian's support grant is active. An
//! allowed read yields a [`Grant`] that names the action it was issued for
//! (a metadata grant cannot open content) and records every read in the
//! ledger, where the child's guardians see it. A refused one is recorded as a
//! denial for the privacy officer. Break-glass (an override with a written
//! justification) is allowed only where the policy allows it, and its first
//! read tells the guardians and opens a review, in the same transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kidvault_crypto::{totp, SecretKey};
use kidvault_domain::deletion::DeletionScope;
use kidvault_domain::entities::ChildStatus;
use kidvault_domain::ids::{ChildId, DenialId, ItemId, ReviewId, StaffId, SupportGrantId};
use kidvault_domain::item::{ContentShape, ItemMeta, ItemState};
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::staff::{AccessPurpose, StaffRole};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};
pub use kidvault_store::{AccessDenial, AccessReview, StaffRecord, SupportGrant};
use kidvault_store::{Sealed, StaffSessionRecord};

use crate::access::Grant;
use crate::access_policy::{AccessFacts, AccessPolicy, StaffAction};
use crate::principal::{Action, Actor, GuardianSession, StaffRequest, StaffSession};
use crate::review::{ItemPage, PageQuery};
use crate::tokens::{new_token, token_hash, STAFF_KEY_PREFIX, STAFF_PREFIX};
use crate::{Result, ServiceError, Vault};

/// The longest a guardian's support grant may last, and its default.
pub const MAX_GRANT_HOURS: u32 = 7 * 24;
pub const DEFAULT_GRANT_HOURS: u32 = 24;
/// An item of a staff content page: what it is, and what it holds (the
/// words as a string; an object or a place as JSON).
#[derive(Clone, Debug)]
pub struct StaffContentItem {
    pub meta: ItemMeta,
    pub content: serde_json::Value,
}

/// A page of one kind of a child's content, newest first.
#[derive(Clone, Debug)]
pub struct StaffContentPage {
    pub items: Vec<StaffContentItem>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A break-glass review as the privacy officer reads it.
#[derive(Clone, Debug)]
pub struct OpenedReview {
    pub review: AccessReview,
    /// What the staff member wrote; `None` once the child's data is deleted.
    pub justification: Option<String>,
}

/// The longest justification a break-glass request may carry.
const MAX_JUSTIFICATION: usize = 2000;

/// Why a staff grant was given: recorded with every read made under it.
#[derive(Clone, Debug)]
pub(crate) struct StaffBasis {
    pub staff_id: StaffId,
    pub role: StaffRole,
    pub purpose: AccessPurpose,
    pub ticket: String,
    /// The guardian's grant in force, if the policy needed one.
    pub guardian_grant_until: Option<Timestamp>,
    /// The justification, when the read overrides a denial.
    pub break_glass: Option<String>,
    pub policy_digest: String,
}

impl StaffBasis {
    /// Writes who, why and on what basis into an access record.
    pub fn describe(&self, entry: &mut NewEntry) {
        entry.purpose = Some(self.purpose.as_str().to_owned());
        entry.detail.insert("role".into(), self.role.as_str().to_owned());
        entry.detail.insert("ticket".into(), self.ticket.clone());
        let basis = match (&self.break_glass, self.guardian_grant_until) {
            (Some(_), _) => "break_glass".to_owned(),
            (None, Some(until)) => {
                entry.detail.insert("grant_until".into(), crate::ledger::timestamp(until));
                "guardian_grant".to_owned()
            }
            (None, None) => "policy".to_owned(),
        };
        entry.detail.insert("basis".into(), basis);
        entry.hashes.insert("policy".into(), self.policy_digest.clone());
    }
}

/// A new staff account's credentials, shown once.
#[derive(Clone)]
pub struct StaffEnrolment {
    pub staff_id: StaffId,
    pub role: StaffRole,
    /// The sign-in key (first factor).
    pub key: String,
    /// The TOTP secret, base32 (second factor), and its `otpauth://` link.
    pub totp_secret: String,
    pub totp_uri: String,
}

impl std::fmt::Debug for StaffEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaffEnrolment({} {}, <secrets>)", self.role.as_str(), self.staff_id)
    }
}

/// A staff session token, shown once.
#[derive(Clone)]
pub struct StaffToken {
    pub token: String,
    pub expires_at: Timestamp,
    pub role: StaffRole,
}

impl std::fmt::Debug for StaffToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaffToken({}, until {})", self.role.as_str(), self.expires_at)
    }
}

/// What staff see of a child: counts, dates and kinds, never content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildMetadata {
    pub child_id: ChildId,
    pub status: ChildStatus,
    pub created_at: Timestamp,
    pub last_active_at: Option<Timestamp>,
    /// Live items per kind.
    pub counts: BTreeMap<String, u64>,
}

/// A guardian's view of support access to one child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportAccess {
    pub active: Option<SupportGrant>,
    /// The latest grants, newest first (including the active one).
    pub recent: Vec<SupportGrant>,
}

/// An operation staff do that concerns no one child, as a type.
pub trait Operation {
    const ACTION: StaffAction;
}

/// Registering processors, watching their tasks and models, reloading the policy.
#[derive(Debug)]
pub struct ManageProcessors;
/// Reading ledger entries and their proofs (ids, counts, hashes).
#[derive(Debug)]
pub struct ReadLedger;
/// The break-glass review queue and the refusals.
#[derive(Debug)]
pub struct ReviewAccess;

impl Operation for ManageProcessors {
    const ACTION: StaffAction = StaffAction::ManageProcessors;
}
impl Operation for ReadLedger {
    const ACTION: StaffAction = StaffAction::ReadLedger;
}
impl Operation for ReviewAccess {
    const ACTION: StaffAction = StaffAction::ReviewAccess;
}

/// Proof that the access policy let a staff member do operation `O`. Only
/// [`Vault::permit`] makes one; each operation takes the permit for itself.
#[derive(Debug)]
pub struct Permit<O> {
    staff: StaffSession,
    operation: std::marker::PhantomData<O>,
}

impl<O> Permit<O> {
    pub fn staff(&self) -> &StaffSession {
        &self.staff
    }
}

fn totp_context(id: StaffId) -> Vec<u8> {
    [b"kidvault staff totp v1".as_slice(), id.as_bytes()].concat()
}

fn forbidden(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Forbidden { code, message: message.into() }
}

impl Vault {
    /// The access policy in force.
    pub fn access_policy(&self) -> Arc<AccessPolicy> {
        self.access_policy.read().map(|p| Arc::clone(&p)).unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// Records the policy in force at start as a `policy.changed` entry when it
    /// is not the one the ledger last recorded (a policy edited while the server
    /// was down is a change like any other). Returns whether it recorded one.
    pub async fn record_policy_in_force(&self, now: Timestamp) -> Result<bool> {
        let digest = self.access_policy().digest().to_owned();
        let last = self.store.latest_global_entry(EntryKind::PolicyChanged).await?;
        let recorded = last
            .and_then(|e| kidvault_ledger::entry::Entry::from_canonical(&e.body).ok())
            .and_then(|e| e.hashes.get("policy").cloned());
        if recorded.as_deref() == Some(digest.as_str()) {
            return Ok(false);
        }
        let mut entry = crate::ledger::global_entry(EntryKind::PolicyChanged, now, "operator:start");
        entry.hashes.insert("policy".into(), digest);
        self.store.append_entries(&[entry]).await?;
        Ok(true)
    }

    /// Replaces the access policy (a reload); records the change in the ledger
    /// when its text differs. Returns the digest in force.
    pub async fn set_access_policy(&self, policy: AccessPolicy, actor: &str, now: Timestamp) -> Result<String> {
        let digest = policy.digest().to_owned();
        if self.access_policy().digest() == digest {
            return Ok(digest);
        }
        let mut entry = crate::ledger::global_entry(EntryKind::PolicyChanged, now, actor);
        entry.hashes.insert("policy".into(), digest.clone());
        self.store.append_entries(&[entry]).await?;
        match self.access_policy.write() {
            Ok(mut p) => *p = Arc::new(policy),
            Err(p) => *p.into_inner() = Arc::new(policy),
        }
        tracing::info!(digest = %digest, "staff access policy changed");
        Ok(digest)
    }

    /// A permit for operation `O` if the access policy lets the staff member
    /// do it (`Forbidden`, with the policy's reason, if not). Operations that
    /// concern no one child take the permit for themselves: a handle obtained
    /// from the decision, not a check each must remember.
    pub fn permit<O: Operation>(&self, s: &StaffSession) -> Result<Permit<O>> {
        let policy = self.access_policy();
        if policy.allows(s.role, O::ACTION, &AccessFacts::default()) {
            return Ok(Permit { staff: s.clone(), operation: std::marker::PhantomData });
        }
        let (code, message) = policy.why_denied(s.role, O::ACTION, &AccessFacts::default());
        Err(forbidden(code, message))
    }

    /// Creates a staff account (from the CLI); its credentials are shown once.
    pub async fn create_staff(&self, role: StaffRole, name: &str, now: Timestamp) -> Result<StaffEnrolment> {
        let name = kidvault_domain::entities::parse_label(name, 100)
            .ok_or_else(|| ServiceError::invalid("invalid_name", "a name of 1 to 100 characters is required"))?;
        let key = new_token(STAFF_KEY_PREFIX)?;
        let id = StaffId::generate(now);
        let secret = SecretKey::generate()?;
        let totp_wrapped = self.keys.wrap_other(&totp_context(id), &secret)?;
        let record = StaffRecord {
            id,
            role,
            name: name.clone(),
            token_hash: token_hash(&key),
            totp_wrapped,
            last_step: None,
            created_at: now,
            disabled_at: None,
        };
        self.store.create_staff(&record).await?;
        let totp_secret = totp::base32(&secret.expose()[..20]);
        let totp_uri =
            format!("otpauth://totp/kidvault-staff:{id}?secret={totp_secret}&issuer=kidvault&digits=6&period=30");
        Ok(StaffEnrolment { staff_id: id, role, key, totp_secret, totp_uri })
    }

    /// Signs a staff member in with both factors; returns a short-lived session.
    /// Failures are limited like guardians' (per key, per key and address, per
    /// address): a stolen key cannot be used to guess the code.
    pub async fn staff_sign_in(
        &self,
        key: &str,
        code: &str,
        from: Option<std::net::IpAddr>,
        now: Timestamp,
    ) -> Result<StaffToken> {
        let limits = &self.config.sign_in_limits;
        let account = format!("staff-key:{}", hex::encode(token_hash(key)));
        if let Some(retry_after) = crate::ratelimit::check(&*self.store, limits, &account, from, now).await? {
            return Err(ServiceError::RateLimited { retry_after, reason: "too many failed attempts" });
        }
        match self.staff_session_for(key, code, now).await {
            Ok(token) => {
                crate::ratelimit::succeeded(&*self.store, &account, from).await?;
                Ok(token)
            }
            Err(e @ ServiceError::Unauthenticated(_)) => {
                crate::ratelimit::failed(&*self.store, limits, &account, from, now).await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn staff_session_for(&self, key: &str, code: &str, now: Timestamp) -> Result<StaffToken> {
        let bad = || ServiceError::Unauthenticated("the sign-in key or the code is not right".into());
        if !key.starts_with(STAFF_KEY_PREFIX) {
            return Err(bad());
        }
        let staff = self.store.staff_by_key(&token_hash(key)).await?.ok_or_else(bad)?;
        let secret = self.keys.unwrap_other(&totp_context(staff.id), &staff.totp_wrapped)?;
        let step =
            totp::verify(&secret.expose()[..20], code.trim(), now.timestamp(), staff.last_step).ok_or_else(bad)?;
        let token = new_token(STAFF_PREFIX)?;
        let expires_at = now + self.config.staff_session_ttl;
        let session =
            StaffSessionRecord { token_hash: token_hash(&token), staff_id: staff.id, created_at: now, expires_at };
        if !self.store.staff_sign_in(step, &session).await? {
            return Err(bad());
        }
        Ok(StaffToken { token, expires_at, role: staff.role })
    }

    /// Resolves a staff session token: unexpired, of an enabled account.
    pub async fn authenticate_staff(&self, token: &str, now: Timestamp) -> Result<StaffSession> {
        let bad = || ServiceError::Unauthenticated("a valid, unexpired staff session token is required".into());
        if !token.starts_with(STAFF_PREFIX) {
            return Err(bad());
        }
        let s = self.store.staff_session(&token_hash(token), now).await?.ok_or_else(bad)?;
        Ok(StaffSession { staff_id: s.id, role: s.role, name: s.name })
    }

    /// Ends every session of a staff account; with `disable`, the account too.
    pub async fn end_staff_sessions(&self, id: StaffId, disable: bool, now: Timestamp) -> Result<u64> {
        Ok(self.store.end_staff_sessions(id, disable.then_some(now)).await?)
    }

    /// Signs a staff member out: the session presenting `token` ends now.
    pub async fn staff_sign_out(&self, token: &str) -> Result<()> {
        self.store.end_staff_session(&token_hash(token)).await?;
        Ok(())
    }

    pub async fn list_staff(&self) -> Result<Vec<StaffRecord>> {
        Ok(self.store.list_staff().await?)
    }

    /// Decides a staff read of one child's data, recording a refusal. `None`
    /// (an item that does not exist) is decided as a child without a guardian's
    /// grant, then not found: a refusal is the same whether the data exists.
    async fn authorize_staff(
        &self,
        s: &StaffSession,
        child_id: Option<ChildId>,
        action: StaffAction,
        req: &StaffRequest,
        now: Timestamp,
    ) -> Result<Grant> {
        let child = match child_id {
            Some(id) => self.store.child(id).await?.filter(|c| c.child.status != ChildStatus::Deleting),
            None => None,
        };
        let child_id = child.as_ref().map(|c| c.child.id);
        let grant_until = match child_id {
            Some(id) => {
                self.store.support_grants(id, 1).await?.into_iter().find(|g| g.active(now)).map(|g| g.expires_at)
            }
            None => None,
        };
        let policy = self.access_policy();
        let purpose = match req.purpose.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => match AccessPurpose::parse(p) {
                Some(p) => Some(p),
                None => {
                    let known: Vec<&str> = AccessPurpose::ALL.iter().map(|p| p.as_str()).collect();
                    let message = format!("unknown purpose {p:?}: one of {}", known.join(", "));
                    return Err(self.deny(s, child_id, action, req, "purpose_unknown", message, now).await);
                }
            },
        };
        if req.ticket.chars().count() > 100 || req.ticket.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "invalid_ticket",
                "a ticket reference of at most 100 printable characters",
            ));
        }
        let mut facts = AccessFacts {
            purpose,
            ticket: req.ticket.clone(),
            guardian_grant: grant_until.is_some(),
            break_glass: false,
        };
        let justification = req.break_glass.as_deref().map(str::trim).filter(|j| !j.is_empty());
        if justification.is_some_and(|j| j.chars().count() > MAX_JUSTIFICATION) {
            return Err(ServiceError::invalid(
                "invalid_justification",
                format!("a justification of at most {MAX_JUSTIFICATION} characters"),
            ));
        }
        let mut glass = None;
        if !policy.allows(s.role, action, &facts) {
            let overridable = justification.is_some() && {
                facts.break_glass = true;
                policy.allows(s.role, action, &facts)
            };
            if !overridable {
                facts.break_glass = false;
                let (code, message) = policy.why_denied(s.role, action, &facts);
                return Err(self.deny(s, child_id, action, req, code, message, now).await);
            }
            glass = justification.map(str::to_owned);
        }
        // Decided as for a child without a guardian's grant before saying the
        // child does not exist: a refusal looks the same whether it does or not.
        let child = child.ok_or(ServiceError::NotFound)?;
        let purpose = purpose.ok_or_else(|| ServiceError::Internal("allowed without a purpose".into()))?;
        let basis = StaffBasis {
            staff_id: s.staff_id,
            role: s.role,
            purpose,
            ticket: req.ticket.clone(),
            guardian_grant_until: grant_until.filter(|_| glass.is_none()),
            break_glass: glass,
            policy_digest: policy.digest().to_owned(),
        };
        Ok(Grant { child, actor: s.actor(), action: Action::Staff(action), staff: Some(basis) })
    }

    /// Records a refusal for the privacy officer and returns the error to give.
    #[allow(clippy::too_many_arguments)]
    async fn deny(
        &self,
        s: &StaffSession,
        child_id: Option<ChildId>,
        action: StaffAction,
        req: &StaffRequest,
        code: &'static str,
        message: String,
        now: Timestamp,
    ) -> ServiceError {
        let denial = AccessDenial {
            id: DenialId::generate(now),
            staff_id: s.staff_id,
            role: s.role,
            child_id,
            action: action.as_str().into(),
            purpose: req.purpose.clone(),
            ticket: req.ticket.clone(),
            code: code.into(),
            at: now,
        };
        if let Err(e) = self.store.record_denial(&denial).await {
            return e.into();
        }
        tracing::info!(staff = %s.staff_id, code, "staff access refused");
        forbidden(code, message)
    }

    /// Reads the configured policy file again (the shipped policy when none is
    /// configured) and puts it in force; an invalid file changes nothing.
    pub async fn reload_access_policy(&self, actor: &str, now: Timestamp) -> Result<String> {
        let policy = match &self.config.access_policy_file {
            None => AccessPolicy::shipped(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ServiceError::Internal(format!("reading {}: {e}", path.display())))?;
                AccessPolicy::parse(&text).map_err(|e| ServiceError::Invalid {
                    code: "invalid_policy",
                    message: format!("{}: {e}; the policy in force is unchanged", path.display()),
                })?
            }
        };
        self.set_access_policy(policy, actor, now).await
    }

    /// A reload asked for by a staff member the policy lets operate kidvault.
    pub async fn reload_policy_as(&self, p: &Permit<ManageProcessors>, now: Timestamp) -> Result<String> {
        self.reload_access_policy(&p.staff.actor(), now).await
    }

    /// The break-glass part of recording a read: the entry, the review and the
    /// guardians' notices, together.
    pub(crate) async fn break_glass(
        &self,
        grant: &Grant,
        justification: &str,
        entry: &NewEntry,
        now: Timestamp,
    ) -> Result<()> {
        let basis = grant.staff.as_ref().ok_or_else(|| ServiceError::Internal("break-glass without staff".into()))?;
        let id = ReviewId::generate(now);
        // What the staff member wrote may describe the child: sealed under the
        // child's key, it is shredded with the child's data.
        let sealed = self.seal(grant, id.as_bytes(), justification.as_bytes()).await?;
        let review = AccessReview {
            id,
            staff_id: basis.staff_id,
            role: basis.role,
            child_id: grant.child_id(),
            action: match grant.action {
                Action::Staff(a) => a.as_str().into(),
                _ => "read".into(),
            },
            purpose: basis.purpose.as_str().into(),
            ticket: basis.ticket.clone(),
            justification: Some(sealed),
            ledger_index: 0,
            created_at: now,
            decided_at: None,
            decided_by: None,
            decision: None,
            note: None,
        };
        let notice = NewNotice {
            kind: NoticeKind::StaffAccess,
            subject: kidvault_i18n::mark("notice-staff-subject", &[]),
            body: kidvault_i18n::mark(
                "notice-staff-body",
                &[
                    ("role", &kidvault_i18n::mark("staff-role", &[("role", basis.role.as_str())])),
                    ("child", &kidvault_domain::notice::mark_child(grant.child_id())),
                    ("purpose", &kidvault_i18n::mark("staff-purpose", &[("purpose", basis.purpose.as_str())])),
                    ("ticket", &basis.ticket),
                    ("at", &kidvault_domain::localtime::mark_at(now)),
                ],
            ),
        };
        let household = grant.child().child.household_id;
        self.store.break_glass(&review, entry, household, &[notice]).await?;
        Ok(())
    }

    /// Counts, dates and kinds of one child's data (a recorded read).
    pub async fn staff_child(
        &self,
        s: &StaffSession,
        child: ChildId,
        req: &StaffRequest,
        now: Timestamp,
    ) -> Result<ChildMetadata> {
        let grant = self.authorize_staff(s, Some(child), StaffAction::ReadMetadata, req, now).await?;
        let counts = self.store.preview_deletion(child, &DeletionScope::Child).await?;
        self.record_access(&grant, None, "child.metadata", now).await?;
        let c = &grant.child().child;
        Ok(ChildMetadata {
            child_id: c.id,
            status: c.status,
            created_at: c.created_at,
            last_active_at: c.last_active_at,
            counts: counts.into_iter().map(|(k, n)| (k.as_str().to_owned(), n)).collect(),
        })
    }

    /// A page of one child's items, metadata only (a recorded read).
    pub async fn staff_items(
        &self,
        s: &StaffSession,
        child: ChildId,
        q: &PageQuery<'_>,
        req: &StaffRequest,
        now: Timestamp,
    ) -> Result<ItemPage> {
        let grant = self.authorize_staff(s, Some(child), StaffAction::ReadMetadata, req, now).await?;
        let filter = crate::review::page_filter(q)?;
        self.record_access(&grant, None, "items.list", now).await?;
        self.page(&grant, &filter).await
    }

    /// One item's content (audio, words, a place): a recorded read.
    pub async fn staff_item_content(
        &self,
        s: &StaffSession,
        id: ItemId,
        req: &StaffRequest,
        now: Timestamp,
    ) -> Result<(&'static str, Bytes)> {
        let record = self.store.item(id).await?.filter(|r| r.meta.state == ItemState::Live);
        let Some(record) = record else {
            // Decided as for no child, so that a refusal for an unknown item
            // is the refusal for a known one.
            self.authorize_staff(s, None, StaffAction::ReadContent, req, now).await?;
            return Err(ServiceError::NotFound);
        };
        let grant = self.authorize_staff(s, Some(record.meta.child_id), StaffAction::ReadContent, req, now).await?;
        let what = format!("{}.content", record.meta.kind.as_str());
        let bytes = self.decrypt(&grant, &record, &what, now).await?;
        Ok((record.meta.kind.spec().media_type, Bytes::from(bytes)))
    }

    /// A page of one kind of a child's content, read at once (the words of
    /// the recordings a ticket is about): one decision and one access record
    /// naming every item read, which the guardians see as one line ("read 12
    /// of what Mia said"). Only what reads as text or JSON is paged; a
    /// recording is listened to one at a time ([`Self::staff_item_content`]).
    pub async fn staff_content_page(
        &self,
        s: &StaffSession,
        child: ChildId,
        q: &PageQuery<'_>,
        req: &StaffRequest,
        now: Timestamp,
    ) -> Result<StaffContentPage> {
        let filter = crate::review::page_filter(q)?;
        let kind = filter.kind.ok_or_else(|| {
            ServiceError::invalid("kind_required", "name the kind of content to read, e.g. kind=transcript")
        })?;
        let shape = kind.spec().shape;
        if !crate::review::reads_inline(shape) {
            return Err(ServiceError::invalid(
                "kind_not_pageable",
                format!(
                    "{} content is read one item at a time, from /api/v1/staff/items/{{id}}/content",
                    kind.as_str()
                ),
            ));
        }
        let grant = self.authorize_staff(s, Some(child), StaffAction::ReadContent, req, now).await?;
        let page = self.page(&grant, &filter).await?;
        let mut opened = self.open_page(&grant, &page, &format!("{}.content", kind.as_str()), now).await?;
        let mut items = Vec::with_capacity(opened.len());
        for meta in page.items {
            let Some(bytes) = opened.remove(&meta.id) else { continue };
            let content = match shape {
                ContentShape::Text => serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                _ => serde_json::from_slice(&bytes).map_err(|e| ServiceError::Internal(e.to_string()))?,
            };
            items.push(StaffContentItem { meta, content });
        }
        Ok(StaffContentPage { items, next_cursor: page.next_cursor })
    }

    /// Break-glass reviews for the privacy officer (`open`: undecided only),
    /// each with its justification opened.
    pub async fn access_reviews(&self, _: &Permit<ReviewAccess>, open: bool) -> Result<Vec<OpenedReview>> {
        let mut out = Vec::new();
        for review in self.store.access_reviews(open, 500).await? {
            out.push(self.open_review(review).await?);
        }
        Ok(out)
    }

    /// A review with its justification in words (`None` once the child's keys
    /// are destroyed). Not an access record: the text is the staff member's own.
    async fn open_review(&self, review: AccessReview) -> Result<OpenedReview> {
        let justification = match &review.justification {
            None => None,
            Some(sealed) => match self.keys.open(review.child_id, review.id.as_bytes(), sealed).await {
                Ok(text) => Some(String::from_utf8_lossy(&text).into_owned()),
                Err(ServiceError::NotFound) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(OpenedReview { review, justification })
    }

    /// Seals justifications an earlier version stored in plaintext (at start);
    /// returns how many. A child without keys (being deleted) loses the text.
    pub async fn seal_plain_justifications(&self) -> Result<u64> {
        let mut done = 0;
        loop {
            let batch = self.store.plain_justifications(100).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            for (id, child, text) in batch {
                let sealed = match self.keys.current_if_any(child).await? {
                    None => None,
                    Some(key) => {
                        let (wrapped_key, ciphertext) = key.seal_new(id.as_bytes(), text.as_bytes())?;
                        Some(Sealed { epoch: key.epoch(), wrapped_key, ciphertext })
                    }
                };
                self.store.seal_justification(id, sealed.as_ref()).await?;
                done += 1;
            }
        }
    }

    /// Closes a review: `justified` or `not_justified`, with a note. The
    /// child's guardians see the decision in the ledger.
    pub async fn decide_review(
        &self,
        p: &Permit<ReviewAccess>,
        id: ReviewId,
        justified: bool,
        note: &str,
        now: Timestamp,
    ) -> Result<OpenedReview> {
        let s = &p.staff;
        let note = note.trim();
        if note.is_empty() || note.chars().count() > MAX_JUSTIFICATION {
            return Err(ServiceError::invalid(
                "invalid_note",
                format!("a note of 1 to {MAX_JUSTIFICATION} characters on why is required"),
            ));
        }
        let review = self.store.access_review(id).await?.ok_or(ServiceError::NotFound)?;
        let decision = if justified { "justified" } else { "not_justified" };
        let decided = AccessReview {
            decided_at: Some(now),
            decided_by: Some(s.staff_id),
            decision: Some(decision.into()),
            note: Some(note.into()),
            ..review
        };
        let entry = self.store.child(decided.child_id).await?.map(|c| {
            let mut e = crate::ledger::entry(EntryKind::AccessReviewed, now, &s.actor(), &c.child);
            e.subjects = vec![decided.ledger_index.to_string()];
            e.detail.insert("decision".into(), decision.into());
            e.detail.insert("role".into(), decided.role.as_str().into());
            e.detail.insert("ticket".into(), decided.ticket.clone());
            e
        });
        if !self.store.decide_review(&decided, entry.as_ref()).await? {
            return Err(ServiceError::Conflict {
                code: "review_closed",
                message: "this review is already decided".into(),
            });
        }
        self.open_review(decided).await
    }

    /// The latest refused staff requests and how many there have been.
    pub async fn access_denials(&self, _: &Permit<ReviewAccess>, limit: u32) -> Result<(Vec<AccessDenial>, u64)> {
        Ok(self.store.access_denials(limit.clamp(1, 500)).await?)
    }

    /// How many staff requests have been refused, ever, and how many
    /// break-glass reviews are open (for `/metrics`).
    pub async fn staff_access_counts(&self) -> Result<(u64, u64)> {
        Ok(self.store.staff_access_counts().await?)
    }

    /// A guardian lets support see one child's data for `hours` (1 to 168).
    pub async fn grant_support(
        &self,
        g: &GuardianSession,
        child: ChildId,
        hours: u32,
        now: Timestamp,
    ) -> Result<SupportGrant> {
        if !(1..=MAX_GRANT_HOURS).contains(&hours) {
            return Err(ServiceError::invalid(
                "invalid_duration",
                format!("support access lasts 1 to {MAX_GRANT_HOURS} hours (7 days)"),
            ));
        }
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let record = SupportGrant {
            id: SupportGrantId::generate(now),
            child_id: child,
            guardian_id: g.guardian_id,
            created_at: now,
            expires_at: now + chrono::Duration::hours(i64::from(hours)),
            revoked_at: None,
        };
        let mut entry = crate::ledger::entry(EntryKind::SupportGranted, now, grant.actor(), &grant.child().child);
        entry.detail.insert("until".into(), crate::ledger::timestamp(record.expires_at));
        self.store.grant_support(&record, &entry).await?;
        Ok(record)
    }

    /// A guardian ends support's access now. `false` if none was active.
    pub async fn revoke_support(&self, g: &GuardianSession, child: ChildId, now: Timestamp) -> Result<bool> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let entry = crate::ledger::entry(EntryKind::SupportRevoked, now, grant.actor(), &grant.child().child);
        Ok(self.store.revoke_support(child, now, &entry).await?.is_some())
    }

    /// Whether support may see the child's data now, and the latest grants.
    pub async fn support_access(&self, g: &GuardianSession, child: ChildId, now: Timestamp) -> Result<SupportAccess> {
        self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        let recent = self.store.support_grants(child, 10).await?;
        Ok(SupportAccess { active: recent.iter().find(|g| g.active(now)).cloned(), recent })
    }
}
