//! Use controls: when a child's data may leave kidvault, to whom, and under which
//! consent (COPPA 312.5(a)(2): disclosure to third parties needs its own consent;
//! the 2025 rule: training models is not integral to the service).
//!
//! Every downstream processor is registered for one [`Purpose`]. Data of a child
//! goes to it only while [`disclosure_basis`] names a consent in force that allows
//! it; what a processor received for a purpose the parent later withdrew is
//! recalled ([`must_recall`]). The store selects candidates with the same rule in
//! SQL, built from [`collection_scopes`] and [`Purpose::consent_scope`], and the
//! service checks every candidate again with [`disclosure_basis`] before anything
//! is sent: the two must agree, and a property test holds them to it.

use serde::{Deserialize, Serialize};

use crate::consent::{Consent, ConsentScope};
use crate::ids::ConsentId;
use crate::item::DataCategory;
use crate::Timestamp;

/// Why a processor receives children's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Operating the service itself (speech to text, hosting): covered by the
    /// consent to collect, no separate consent.
    Integral,
    /// A separate company the parent allowed us to share with (`third_party` scope).
    ThirdParty,
    /// Training or improving models (`training` scope).
    Training,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Purpose::Integral, Purpose::ThirdParty, Purpose::Training];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Integral => "integral",
            Purpose::ThirdParty => "third_party",
            Purpose::Training => "training",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The separate consent scope this purpose needs, beyond the consent to collect.
    pub fn consent_scope(self) -> Option<ConsentScope> {
        match self {
            Purpose::Integral => None,
            Purpose::ThirdParty => Some(ConsentScope::ThirdParty),
            Purpose::Training => Some(ConsentScope::Training),
        }
    }

    /// The purpose in a parent's words.
    pub fn plain(self) -> &'static str {
        match self {
            Purpose::Integral => "helps run the service",
            Purpose::ThirdParty => "a separate company, only if you allow sharing",
            Purpose::Training => "trains or improves models, only if you allow it",
        }
    }
}

/// The scopes under which data of `category` is collected. Data leaves kidvault
/// only while one of them is in force: what a parent stopped us collecting is not
/// passed on either.
pub fn collection_scopes(category: DataCategory) -> &'static [ConsentScope] {
    use ConsentScope::*;
    match category {
        DataCategory::BiometricVoice | DataCategory::Content => &[Voice],
        DataCategory::LocationPrecise => &[PreciseLocation],
        DataCategory::LocationImprecise => &[PreciseLocation, ApproximateLocation],
        DataCategory::Childrens => &[Voice, PreciseLocation, ApproximateLocation],
    }
}

fn in_force<'a>(consents: &'a [Consent], notice: &'a str) -> impl Iterator<Item = (&'a Consent, ConsentScope)> + 'a {
    consents
        .iter()
        .filter(move |c| c.notice_version == notice)
        .flat_map(|c| c.scopes.iter().filter(|g| g.withdrawn_at.is_none()).map(move |g| (c, g.scope)))
}

/// The consent under which data of `category` may go to a processor registered
/// for `purpose` at `registered_at`, or `None` if it may not:
/// - a scope that collects the category is in force under the current notice;
/// - for `third_party` and `training`, the purpose's own scope is in force under
///   the current notice, granted by a consent given *after* the processor was
///   registered: a recipient added later was not on the notice the parent agreed
///   to, and gets nothing until the parent gives consent again.
///
/// The basis is the newest consent granting the purpose's scope (for `integral`,
/// the newest granting a collection scope).
pub fn disclosure_basis(
    purpose: Purpose,
    category: DataCategory,
    registered_at: Timestamp,
    consents: &[Consent],
    notice: &str,
) -> Option<ConsentId> {
    let collecting = collection_scopes(category);
    let newest = |want: &dyn Fn(&Consent, ConsentScope) -> bool| {
        in_force(consents, notice)
            .filter(|(c, s)| want(c, *s))
            .max_by_key(|(c, _)| (c.granted_at, c.id))
            .map(|(c, _)| c.id)
    };
    let collected = newest(&|_, s| collecting.contains(&s))?;
    match purpose.consent_scope() {
        None => Some(collected),
        Some(scope) => newest(&|c, s| s == scope && c.granted_at >= registered_at),
    }
}

/// Whether what a processor received for `purpose` must be recalled: the parent
/// has withdrawn the purpose's scope (no grant of it is left unwithdrawn). A
/// notice change alone pauses new disclosures until consent is renewed; it does
/// not recall.
pub fn must_recall(purpose: Purpose, consents: &[Consent]) -> bool {
    let Some(scope) = purpose.consent_scope() else { return false };
    !consents.iter().flat_map(|c| &c.scopes).any(|g| g.scope == scope && g.withdrawn_at.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{ConsentMethod, ScopeGrant};
    use crate::ids::{ChildId, GuardianId};
    use chrono::TimeZone;

    fn at(day: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 5, day, 12, 0, 0).unwrap()
    }

    fn consent(day: u32, notice: &str, scopes: &[(ConsentScope, Option<u32>)]) -> Consent {
        Consent {
            id: ConsentId::generate(at(day)),
            child_id: ChildId::generate(at(1)),
            guardian_id: GuardianId::generate(at(1)),
            method: ConsentMethod::SignedForm,
            evidence_ref: "form".into(),
            notice_version: notice.into(),
            granted_at: at(day),
            scopes: scopes.iter().map(|(scope, w)| ScopeGrant { scope: *scope, withdrawn_at: w.map(at) }).collect(),
        }
    }

    use ConsentScope::*;
    use DataCategory::*;

    #[test]
    fn purposes_round_trip_and_name_their_scope() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(Purpose::parse("marketing"), None);
        assert_eq!(Purpose::Integral.consent_scope(), None);
        assert_eq!(Purpose::Training.consent_scope(), Some(Training));
        assert_eq!(Purpose::ThirdParty.consent_scope(), Some(ThirdParty));
    }

    #[test]
    fn integral_processors_need_only_the_consent_to_collect() {
        let c = consent(2, "v1", &[(Voice, None)]);
        assert_eq!(
            disclosure_basis(Purpose::Integral, BiometricVoice, at(20), std::slice::from_ref(&c), "v1"),
            Some(c.id)
        );
        assert_eq!(disclosure_basis(Purpose::Integral, LocationPrecise, at(1), std::slice::from_ref(&c), "v1"), None);
        assert_eq!(disclosure_basis(Purpose::Integral, Content, at(1), &[c], "v2"), None, "stale notice");
        let withdrawn = consent(2, "v1", &[(Voice, Some(3))]);
        assert_eq!(disclosure_basis(Purpose::Integral, Content, at(1), &[withdrawn], "v1"), None);
    }

    #[test]
    fn training_and_third_parties_need_their_own_scope_given_after_registration() {
        let voice_only = consent(2, "v1", &[(Voice, None)]);
        assert_eq!(disclosure_basis(Purpose::Training, Content, at(1), std::slice::from_ref(&voice_only), "v1"), None);
        let both = consent(5, "v1", &[(Voice, None), (Training, None)]);
        assert_eq!(
            disclosure_basis(Purpose::Training, Content, at(4), std::slice::from_ref(&both), "v1"),
            Some(both.id)
        );
        // Registered after the parent agreed: nothing until consent is given again.
        assert_eq!(disclosure_basis(Purpose::Training, Content, at(6), std::slice::from_ref(&both), "v1"), None);
        let renewed = consent(7, "v1", &[(Training, None)]);
        let history = [both.clone(), renewed.clone()];
        assert_eq!(disclosure_basis(Purpose::Training, Content, at(6), &history, "v1"), Some(renewed.id));
        // Training alone is not enough: the category must still be collected.
        assert_eq!(disclosure_basis(Purpose::Training, Content, at(6), &[renewed], "v1"), None);
        assert_eq!(disclosure_basis(Purpose::ThirdParty, Content, at(4), &[both], "v1"), None);
    }

    #[test]
    fn only_a_withdrawal_recalls() {
        let granted = consent(2, "v1", &[(Voice, None), (ThirdParty, None)]);
        assert!(!must_recall(Purpose::ThirdParty, std::slice::from_ref(&granted)));
        assert!(!must_recall(Purpose::Integral, &[]));
        let withdrawn = consent(2, "v1", &[(Voice, None), (ThirdParty, Some(4))]);
        assert!(must_recall(Purpose::ThirdParty, std::slice::from_ref(&withdrawn)));
        let regranted = consent(5, "v1", &[(ThirdParty, None)]);
        assert!(!must_recall(Purpose::ThirdParty, &[withdrawn, regranted]));
    }

    #[test]
    fn every_category_is_collected_under_some_scope() {
        for c in DataCategory::ALL {
            assert!(!collection_scopes(c).is_empty());
        }
    }
}
