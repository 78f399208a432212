//! Child profiles and verifiable parental consent.
//!
//! A child starts in `pending_consent`; nothing is collected until a consent is
//! recorded. Scopes are granted together but withdrawn one at a time, effective on
//! the next device request (devices re-read consent on every request).

use chrono::Datelike;
use kidvault_domain::consent::{scopes_in_force, Consent, ConsentMethod, ConsentRequest, ConsentScope, ScopeGrant};
use kidvault_domain::entities::{Child, ChildProfile, ChildStatus};
use kidvault_domain::ids::{ChildId, ConsentId};
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::EntryKind;
use kidvault_store::{ChildRecord, ConfirmOutcome, PendingConsent};

use crate::access::{Action, Actor, Grant, GuardianSession};
use crate::tokens::{new_token, token_hash, CONFIRM_PREFIX};
use crate::{Result, ServiceError, Vault};

/// What giving consent did.
#[derive(Clone, Debug)]
pub enum ConsentGiven {
    Recorded(Consent),
    /// E-mail-plus: a confirmation link was sent; nothing counts until it is followed.
    AwaitingConfirmation {
        expires_at: Timestamp,
    },
}

fn consent_entry(grant: &Grant, consent: &Consent, now: Timestamp) -> kidvault_ledger::entry::NewEntry {
    let mut entry = crate::ledger::entry(EntryKind::ConsentGranted, now, grant.actor(), &grant.child().child);
    entry.subjects = vec![consent.id.to_string()];
    entry.detail.insert("method".into(), consent.method.as_str().into());
    entry.detail.insert("notice_version".into(), consent.notice_version.clone());
    entry.detail.insert("scopes".into(), consent.scopes.iter().map(|g| g.scope.as_str()).collect::<Vec<_>>().join(","));
    entry
}

/// The e-mail-plus confirmation: the permissions asked for and the link. The
/// child is a marker (named in the portal's mailbox, "your child" in e-mail).
fn confirmation_notice(consent: &Consent, token: &str, expires_at: Timestamp) -> NewNotice {
    use kidvault_i18n::mark;
    let scopes: Vec<String> =
        consent.scopes.iter().map(|g| mark("scope-name", &[("scope", g.scope.as_str())])).collect();
    NewNotice {
        kind: NoticeKind::ConsentConfirmation,
        subject: mark("notice-consent-subject", &[]),
        body: mark(
            "notice-consent-body",
            &[
                ("notice", &consent.notice_version),
                ("child", &kidvault_domain::notice::mark_child(consent.child_id)),
                ("scopes", &scopes.join(", ")),
                ("until", &kidvault_domain::localtime::mark_at(expires_at)),
                ("token", token),
            ],
        ),
    }
}

/// A child as a guardian sees it.
#[derive(Clone, Debug)]
pub struct ChildView {
    pub child: Child,
    pub profile: ChildProfile,
    /// Scopes in force under the current notice.
    pub scopes: Vec<ConsentScope>,
    /// True when consent was given, but only to an older notice: renewal needed.
    pub consent_renewal_required: bool,
}

impl Vault {
    pub async fn create_child(
        &self,
        g: &GuardianSession,
        display_name: &str,
        birth_year: i32,
        now: Timestamp,
    ) -> Result<ChildView> {
        let profile = ChildProfile::parse(display_name, birth_year, now.year())
            .map_err(|e| ServiceError::invalid("invalid_child", e))?;
        let id = ChildId::generate(now);
        let key = self.keys.create(id, now).await?;
        let plaintext = serde_json::to_vec(&profile).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let (wrapped_key, ciphertext) = key.seal_new(id.as_bytes(), &plaintext)?;
        let child = Child {
            id,
            household_id: g.household_id,
            status: ChildStatus::PendingConsent,
            created_at: now,
            last_active_at: None,
            keep_recordings_days: None,
        };
        let record = ChildRecord {
            child: child.clone(),
            profile: kidvault_store::Sealed { epoch: key.epoch(), wrapped_key, ciphertext },
        };
        if let Err(e) = self.store.create_child(&record).await {
            self.keys.destroy(id).await?; // the key of a child that never was
            return Err(match e {
                kidvault_store::StoreError::Conflict(_) => ServiceError::Conflict {
                    code: "household_closing",
                    message: "the account is being closed: no child can be added".into(),
                },
                e => e.into(),
            });
        }
        Ok(ChildView { child, profile, scopes: Vec::new(), consent_renewal_required: false })
    }

    pub async fn list_children(&self, g: &GuardianSession, now: Timestamp) -> Result<Vec<ChildView>> {
        let mut out = Vec::new();
        for record in self.store.children_of(g.household_id).await? {
            if record.child.status == ChildStatus::Deleting {
                continue;
            }
            let grant = self.authorize_loaded(g, record, Action::ViewChild)?;
            out.push(self.child_view(&grant, now).await?);
        }
        Ok(out)
    }

    pub async fn get_child(&self, g: &GuardianSession, child: ChildId, now: Timestamp) -> Result<ChildView> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        self.child_view(&grant, now).await
    }

    async fn child_view(&self, grant: &Grant, now: Timestamp) -> Result<ChildView> {
        let record = grant.child();
        let id = record.child.id;
        let plaintext = self.open(grant, id.as_bytes(), None, "profile.read", &record.profile, now).await?;
        let profile: ChildProfile =
            serde_json::from_slice(&plaintext).map_err(|e| ServiceError::Internal(format!("child profile: {e}")))?;
        let consents = self.store.consents_of(id).await?;
        let scopes = scopes_in_force(&consents, &self.notice_in_force);
        let consent_renewal_required = !consents.is_empty()
            && scopes.is_empty()
            && consents.iter().all(|c| c.notice_version != self.notice_in_force);
        Ok(ChildView { child: record.child.clone(), profile, scopes, consent_renewal_required })
    }

    /// Records a verifiable parental consent. E-mail-plus consent is not
    /// recorded yet: a confirmation link goes to the guardian through the
    /// notice outbox, and the consent counts once it is followed
    /// ([`Vault::confirm_consent`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn grant_consent(
        &self,
        g: &GuardianSession,
        child: ChildId,
        method: &str,
        evidence_ref: &str,
        notice_version: &str,
        scopes: &[String],
        now: Timestamp,
    ) -> Result<ConsentGiven> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let req = ConsentRequest::parse(method, evidence_ref, notice_version, scopes, &self.notice_in_force).map_err(
            |e| {
                use kidvault_domain::consent::ConsentError as E;
                let code = match e {
                    E::UnknownMethod(_) => "unknown_consent_method",
                    E::UnknownScope(_) => "unknown_scope",
                    E::NoScopes => "no_scopes",
                    E::EvidenceRef => "invalid_evidence_ref",
                    E::EmailPlusThirdParty => "method_not_allowed_for_scope",
                    E::StaleNotice { .. } => "stale_notice_version",
                };
                ServiceError::invalid(code, e)
            },
        )?;
        let consent = Consent {
            id: ConsentId::generate(now),
            child_id: grant.child_id(),
            guardian_id: g.guardian_id,
            method: req.method,
            evidence_ref: req.evidence_ref,
            notice_version: req.notice_version,
            granted_at: now,
            scopes: req.scopes.into_iter().map(|scope| ScopeGrant { scope, withdrawn_at: None }).collect(),
        };
        if consent.method == ConsentMethod::EmailPlus {
            let token = new_token(CONFIRM_PREFIX)?;
            let expires_at = now + chrono::Duration::hours(48);
            let pending = PendingConsent {
                token_hash: token_hash(&token),
                household_id: g.household_id,
                consent,
                created_at: now,
                expires_at,
            };
            let notice = confirmation_notice(&pending.consent, &token, expires_at);
            self.store.request_consent_confirmation(&pending, &notice).await?;
            return Ok(ConsentGiven::AwaitingConfirmation { expires_at });
        }
        let entry = consent_entry(&grant, &consent, now);
        self.store.record_consent(&consent, &entry).await?;
        Ok(ConsentGiven::Recorded(consent))
    }

    /// Follows an e-mail-plus confirmation link: the signed-in guardian who gave
    /// the consent confirms it, and it is recorded now. Unknown, another
    /// guardian's, used or expired links change nothing.
    pub async fn confirm_consent(&self, g: &GuardianSession, token: &str, now: Timestamp) -> Result<Consent> {
        let hash = token_hash(token);
        // The entry names the child, known only once the link is looked up: the
        // store checks the link, the service builds the entry from its consent.
        let pending = self.store.pending_consent(&hash).await?.ok_or(ServiceError::NotFound)?;
        let grant = self.authorize(Actor::Guardian(g), pending.child_id, Action::Manage).await?;
        let entry = consent_entry(&grant, &pending, now);
        match self.store.confirm_consent(&hash, g.guardian_id, now, &entry).await? {
            ConfirmOutcome::Confirmed(c) => Ok(c),
            ConfirmOutcome::Unknown => Err(ServiceError::NotFound),
            ConfirmOutcome::Used => Err(ServiceError::Conflict {
                code: "confirmation_used",
                message: "this consent was already confirmed".into(),
            }),
            ConfirmOutcome::Expired => Err(ServiceError::invalid(
                "confirmation_expired",
                "this confirmation link has expired; give consent again",
            )),
        }
    }

    /// Withdraws one scope, effective on the next device request and the next
    /// disclosure; what processors received under it is recalled. Returns the
    /// scopes still in force.
    pub async fn withdraw_scope(
        &self,
        g: &GuardianSession,
        child: ChildId,
        scope: &str,
        now: Timestamp,
    ) -> Result<Vec<ConsentScope>> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let scope = ConsentScope::parse(scope)
            .ok_or_else(|| ServiceError::invalid("unknown_scope", format!("unknown consent scope {scope:?}")))?;
        let mut entry = crate::ledger::entry(EntryKind::ConsentWithdrawn, now, grant.actor(), &grant.child().child);
        entry.detail.insert("scope".into(), scope.as_str().into());
        self.store.withdraw_scope(grant.child_id(), scope, now, &entry).await?;
        // What processors received under the scope is recalled now; if this
        // fails, the periodic run recalls it (the withdrawal is what counts).
        if let Err(e) = self.recall_withdrawn(now).await {
            tracing::warn!(error = %e, "recall after a withdrawal failed; the periodic run will retry");
        }
        let consents = self.store.consents_of(grant.child_id()).await?;
        Ok(scopes_in_force(&consents, &self.notice_in_force))
    }

    /// The child's consent history, oldest first.
    pub async fn consents(&self, g: &GuardianSession, child: ChildId) -> Result<Vec<Consent>> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ViewChild).await?;
        Ok(self.store.consents_of(grant.child_id()).await?)
    }
}
