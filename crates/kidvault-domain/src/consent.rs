//! Verifiable parental consent (COPPA 16 CFR 312.5).
//!
//! A consent records *how* a guardian was verified (method + evidence reference),
//! *what notice* they saw (notice version) and *which scopes* they granted. Scopes
//! are separate and separately revocable; a scope is in force only if some consent
//! given under the current notice version granted it and it has not been withdrawn
//! since. A material change of notice therefore stops collection until renewed.

use serde::{Deserialize, Serialize};

use crate::ids::{ChildId, ConsentId, GuardianId};
use crate::Timestamp;

/// A recognised verification method, recorded by name (312.5(b)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    SignedForm,
    PaymentCard,
    TollFreeCall,
    VideoCall,
    /// The ID itself is deleted once checked; only a reference is kept.
    GovernmentId,
    KnowledgeBased,
    FaceMatch,
    TextPlus,
    /// Only where nothing is disclosed to third parties.
    EmailPlus,
}

impl ConsentMethod {
    pub const ALL: [ConsentMethod; 9] = [
        ConsentMethod::SignedForm,
        ConsentMethod::PaymentCard,
        ConsentMethod::TollFreeCall,
        ConsentMethod::VideoCall,
        ConsentMethod::GovernmentId,
        ConsentMethod::KnowledgeBased,
        ConsentMethod::FaceMatch,
        ConsentMethod::TextPlus,
        ConsentMethod::EmailPlus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::SignedForm => "signed_form",
            ConsentMethod::PaymentCard => "payment_card",
            ConsentMethod::TollFreeCall => "toll_free_call",
            ConsentMethod::VideoCall => "video_call",
            ConsentMethod::GovernmentId => "government_id",
            ConsentMethod::KnowledgeBased => "knowledge_based",
            ConsentMethod::FaceMatch => "face_match",
            ConsentMethod::TextPlus => "text_plus",
            ConsentMethod::EmailPlus => "email_plus",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What a consent allows. Each scope is granted and withdrawn on its own (C3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Collect the child's voice, and keep what is derived from it.
    Voice,
    /// Collect precise geolocation.
    PreciseLocation,
    /// Collect geolocation made approximate (a cell of a few km) before it is stored.
    ApproximateLocation,
    /// Use the child's data to train or improve models.
    Training,
    /// Disclose the child's data to third parties.
    ThirdParty,
}

impl ConsentScope {
    pub const ALL: [ConsentScope; 5] = [
        ConsentScope::Voice,
        ConsentScope::PreciseLocation,
        ConsentScope::ApproximateLocation,
        ConsentScope::Training,
        ConsentScope::ThirdParty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentScope::Voice => "voice",
            ConsentScope::PreciseLocation => "precise_location",
            ConsentScope::ApproximateLocation => "approximate_location",
            ConsentScope::Training => "training",
            ConsentScope::ThirdParty => "third_party",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One scope of one consent, and when (if ever) it was withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeGrant {
    pub scope: ConsentScope,
    pub withdrawn_at: Option<Timestamp>,
}

/// A recorded act of verifiable parental consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: ConsentId,
    pub child_id: ChildId,
    pub guardian_id: GuardianId,
    pub method: ConsentMethod,
    /// A reference to the verification evidence kept elsewhere (form id, call id,
    /// transaction id). Never the evidence itself (e.g. never an ID scan).
    pub evidence_ref: String,
    pub notice_version: String,
    pub granted_at: Timestamp,
    pub scopes: Vec<ScopeGrant>,
}

/// Why a consent request is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsentError {
    #[error("unknown consent method {0:?}")]
    UnknownMethod(String),
    #[error("unknown consent scope {0:?}")]
    UnknownScope(String),
    #[error("at least one scope must be granted")]
    NoScopes,
    #[error("evidence_ref must be 1 to 200 printable characters")]
    EvidenceRef,
    #[error("email-plus consent cannot cover disclosure to third parties")]
    EmailPlusThirdParty,
    #[error("consent must be given to the current notice (version {current}), not {given}")]
    StaleNotice { current: String, given: String },
}

/// A consent request that passed every rule; becomes a [`Consent`] when recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRequest {
    pub method: ConsentMethod,
    pub evidence_ref: String,
    pub notice_version: String,
    pub scopes: Vec<ConsentScope>,
}

impl ConsentRequest {
    /// Parses untrusted input. `current_notice` is the notice version in force: a
    /// consent to an older notice is not consent to what we do now (C4).
    pub fn parse(
        method: &str,
        evidence_ref: &str,
        notice_version: &str,
        scopes: &[String],
        current_notice: &str,
    ) -> Result<Self, ConsentError> {
        let method = ConsentMethod::parse(method).ok_or_else(|| ConsentError::UnknownMethod(method.into()))?;
        let evidence_ref = evidence_ref.trim();
        if evidence_ref.is_empty() || evidence_ref.chars().count() > 200 || evidence_ref.chars().any(char::is_control) {
            return Err(ConsentError::EvidenceRef);
        }
        if notice_version != current_notice {
            return Err(ConsentError::StaleNotice { current: current_notice.into(), given: notice_version.into() });
        }
        let mut parsed = Vec::with_capacity(scopes.len());
        for s in scopes {
            let scope = ConsentScope::parse(s).ok_or_else(|| ConsentError::UnknownScope(s.clone()))?;
            if !parsed.contains(&scope) {
                parsed.push(scope);
            }
        }
        if parsed.is_empty() {
            return Err(ConsentError::NoScopes);
        }
        if method == ConsentMethod::EmailPlus && parsed.contains(&ConsentScope::ThirdParty) {
            return Err(ConsentError::EmailPlusThirdParty);
        }
        parsed.sort();
        Ok(Self {
            method,
            evidence_ref: evidence_ref.to_owned(),
            notice_version: notice_version.to_owned(),
            scopes: parsed,
        })
    }
}

/// The scopes in force for a child, given its consent history and the current
/// notice version.
pub fn scopes_in_force(consents: &[Consent], current_notice: &str) -> Vec<ConsentScope> {
    let mut scopes: Vec<ConsentScope> = consents
        .iter()
        .filter(|c| c.notice_version == current_notice)
        .flat_map(|c| c.scopes.iter())
        .filter(|g| g.withdrawn_at.is_none())
        .map(|g| g.scope)
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;
    use chrono::TimeZone;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn every_method_round_trips_by_name() {
        for m in ConsentMethod::ALL {
            assert_eq!(ConsentMethod::parse(m.as_str()), Some(m));
        }
        for sc in ConsentScope::ALL {
            assert_eq!(ConsentScope::parse(sc.as_str()), Some(sc));
        }
    }

    #[test]
    fn requests_are_checked() {
        let ok =
            ConsentRequest::parse("signed_form", "form-1", "v1", &s(&["voice", "voice", "training"]), "v1").unwrap();
        assert_eq!(ok.scopes, vec![ConsentScope::Voice, ConsentScope::Training]);
        assert_eq!(
            ConsentRequest::parse("carrier_pigeon", "x", "v1", &s(&["voice"]), "v1"),
            Err(ConsentError::UnknownMethod("carrier_pigeon".into()))
        );
        assert_eq!(ConsentRequest::parse("signed_form", "x", "v1", &s(&[]), "v1"), Err(ConsentError::NoScopes));
        assert_eq!(
            ConsentRequest::parse("signed_form", " ", "v1", &s(&["voice"]), "v1"),
            Err(ConsentError::EvidenceRef)
        );
        assert_eq!(
            ConsentRequest::parse("email_plus", "x", "v1", &s(&["voice", "third_party"]), "v1"),
            Err(ConsentError::EmailPlusThirdParty)
        );
        assert!(matches!(
            ConsentRequest::parse("signed_form", "x", "v0", &s(&["voice"]), "v1"),
            Err(ConsentError::StaleNotice { .. })
        ));
    }

    #[test]
    fn withdrawn_scopes_and_stale_notices_are_not_in_force() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let consent = |notice: &str, grants: Vec<ScopeGrant>| Consent {
            id: ConsentId::generate(t),
            child_id: ChildId::generate(t),
            guardian_id: GuardianId::generate(t),
            method: ConsentMethod::SignedForm,
            evidence_ref: "f".into(),
            notice_version: notice.into(),
            granted_at: t,
            scopes: grants,
        };
        let g = |scope, withdrawn_at| ScopeGrant { scope, withdrawn_at };
        let history = vec![
            consent("v1", vec![g(ConsentScope::Voice, None), g(ConsentScope::Training, Some(t))]),
            consent("v0", vec![g(ConsentScope::PreciseLocation, None)]),
        ];
        assert_eq!(scopes_in_force(&history, "v1"), vec![ConsentScope::Voice]);
        assert_eq!(scopes_in_force(&history, "v2"), vec![]);
    }
}
