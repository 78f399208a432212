//! The family policy: what a guardian may do with a child's data, decided by
//! Cedar like the staff policy ([`crate::access_policy`]), with guardians and
//! children as entities (`policy/family.cedar`, `policy/family.cedarschema`).
//! Unlike the staff policy it is built in and cannot be replaced: parents'
//! rights over their own children's data are not a setting.
//!
//! The decision is pure (the guardian's household, the child's household and
//! whether its deletion was requested, the action); [`crate::access`] asks it
//! for every guardian request and answers a denial as `NotFound`.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use kidvault_domain::entities::{Child, ChildStatus};

use crate::principal::{Action, GuardianSession};

/// The policy, built into the binary.
pub const FAMILY_POLICY: &str = include_str!("../policy/family.cedar");
/// What it may talk about.
pub const FAMILY_SCHEMA: &str = include_str!("../policy/family.cedarschema");

/// What a guardian asks to do, as the policy names it; `None` for actions no
/// guardian takes (collecting, minimising, staff access).
fn family_action(action: Action) -> Option<&'static str> {
    match action {
        Action::ViewChild => Some("view_child"),
        Action::Manage => Some("manage_child"),
        Action::ReadItems => Some("read_items"),
        Action::Collect(_) | Action::Minimise | Action::Staff(_) => None,
    }
}

fn uid(type_name: &str, id: &str) -> EntityUid {
    // The type names are this module's own constants, checked by the tests.
    let t = EntityTypeName::from_str(type_name).unwrap_or_else(|e| unreachable!("{type_name}: {e}"));
    EntityUid::from_type_name_and_id(t, EntityId::new(id))
}

/// The loaded, validated family policy.
pub struct FamilyPolicy {
    policies: PolicySet,
    authorizer: Authorizer,
}

impl std::fmt::Debug for FamilyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FamilyPolicy").finish_non_exhaustive()
    }
}

static FAMILY: LazyLock<FamilyPolicy> = LazyLock::new(|| {
    FamilyPolicy::load().unwrap_or_else(|e| unreachable!("the built-in family policy is invalid: {e}"))
});

/// The family policy (parsed and validated once; a test proves it loads).
pub fn family() -> &'static FamilyPolicy {
    &FAMILY
}

impl FamilyPolicy {
    fn load() -> Result<Self, String> {
        let (schema, _) = Schema::from_cedarschema_str(FAMILY_SCHEMA).map_err(|e| e.to_string())?;
        let policies = PolicySet::from_str(FAMILY_POLICY).map_err(|e| e.to_string())?;
        let result = Validator::new(schema).validate(&policies, ValidationMode::Strict);
        if let Some(e) = result.validation_errors().next() {
            return Err(e.to_string());
        }
        Ok(Self { policies, authorizer: Authorizer::new() })
    }

    /// Whether guardian `g` may take `action` on `child`.
    pub fn allows(&self, g: &GuardianSession, child: &Child, action: Action) -> bool {
        let Some(action) = family_action(action) else { return false };
        self.decide(g, child, action, None).unwrap_or(false)
    }

    /// The request and its entities (checked against `schema` when given: the
    /// tests do, decisions need not, as this module alone builds them).
    fn decide(
        &self,
        g: &GuardianSession,
        child: &Child,
        action: &str,
        schema: Option<&Schema>,
    ) -> Result<bool, String> {
        let household = |id: String| RestrictedExpression::new_entity_uid(uid("Family::Household", &id));
        let principal = uid("Family::Guardian", &g.guardian_id.to_string());
        let resource = uid("Family::Child", &child.id.to_string());
        let guardian = Entity::new(
            principal.clone(),
            HashMap::from([("household".to_owned(), household(g.household_id.to_string()))]),
            HashSet::new(),
        )
        .map_err(|e| e.to_string())?;
        let deleting = child.status == ChildStatus::Deleting;
        let child = Entity::new(
            resource.clone(),
            HashMap::from([
                ("household".to_owned(), household(child.household_id.to_string())),
                ("deleting".to_owned(), RestrictedExpression::new_bool(deleting)),
            ]),
            HashSet::new(),
        )
        .map_err(|e| e.to_string())?;
        let entities = Entities::from_entities([guardian, child], schema).map_err(|e| e.to_string())?;
        let request = Request::new(principal, uid("Family::Action", action), resource, Context::empty(), schema)
            .map_err(|e| e.to_string())?;
        Ok(self.authorizer.is_authorized(&request, &self.policies, &entities).decision() == Decision::Allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kidvault_domain::consent::ConsentScope;
    use kidvault_domain::ids::{ChildId, GuardianId, HouseholdId};

    fn child(household: HouseholdId, status: ChildStatus) -> Child {
        let now = chrono::Utc::now();
        Child {
            id: ChildId::generate(now),
            household_id: household,
            status,
            created_at: now,
            last_active_at: None,
            keep_recordings_days: None,
        }
    }

    /// Every request the service makes is one the schema accepts, with
    /// entities the schema accepts: a rename in either file fails here, not as
    /// a silent deny in production.
    #[test]
    fn the_policy_loads_and_its_requests_fit_the_schema() {
        let (schema, _) = Schema::from_cedarschema_str(FAMILY_SCHEMA).unwrap();
        let now = chrono::Utc::now();
        let g = GuardianSession { guardian_id: GuardianId::generate(now), household_id: HouseholdId::generate(now) };
        let c = child(g.household_id, ChildStatus::Active);
        for action in [Action::ViewChild, Action::Manage, Action::ReadItems] {
            let name = family_action(action).unwrap();
            assert_eq!(family().decide(&g, &c, name, Some(&schema)), Ok(true), "{name}");
        }
    }

    /// A guardian acts on the children of their household, on none other, on
    /// none whose deletion was requested, and never collects or minimises.
    #[test]
    fn guardians_act_on_their_own_household_only() {
        let now = chrono::Utc::now();
        let g = GuardianSession { guardian_id: GuardianId::generate(now), household_id: HouseholdId::generate(now) };
        let own = child(g.household_id, ChildStatus::Active);
        let pending = child(g.household_id, ChildStatus::PendingConsent);
        let other = child(HouseholdId::generate(now), ChildStatus::Active);
        let deleting = child(g.household_id, ChildStatus::Deleting);
        for action in [Action::ViewChild, Action::Manage, Action::ReadItems] {
            assert!(family().allows(&g, &own, action), "{action:?} on their own child");
            assert!(family().allows(&g, &pending, action), "{action:?} before consent");
            assert!(!family().allows(&g, &other, action), "{action:?} on another household's child");
            assert!(!family().allows(&g, &deleting, action), "{action:?} once deletion is requested");
        }
        for action in [Action::Collect(ConsentScope::Voice), Action::Minimise] {
            assert!(!family().allows(&g, &own, action), "{action:?} is not a guardian's");
        }
    }
}
