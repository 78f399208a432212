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
use kidvault_domain::ids::{ChildId, DeviceId, GuardianId, HouseholdId};

use crate::principal::{Action, GuardianSession};

/// The policy, built into the binary.
pub const FAMILY_POLICY: &str = include_str!("../policy/family.cedar");
/// What it may talk about.
pub const FAMILY_SCHEMA: &str = include_str!("../policy/family.cedarschema");

/// What a guardian asks to do, as its place in [`GUARDIAN_ACTIONS`]; `None`
/// for actions no guardian takes (collecting, minimising, staff access).
fn guardian_action(action: Action) -> Option<usize> {
    match action {
        Action::ViewChild => Some(0),
        Action::Manage => Some(1),
        Action::ReadItems => Some(2),
        Action::Collect(_) | Action::Minimise | Action::Staff(_) => None,
    }
}

fn uid(type_name: &str, id: &str) -> EntityUid {
    // The type names are this module's own constants, checked by the tests.
    let t = EntityTypeName::from_str(type_name).unwrap_or_else(|e| unreachable!("{type_name}: {e}"));
    EntityUid::from_type_name_and_id(t, EntityId::new(id))
}

/// What a decision can depend on about a child.
#[derive(Clone, Copy)]
struct ChildFacts {
    id: ChildId,
    household: HouseholdId,
    active: bool,
    deleting: bool,
}

impl From<&Child> for ChildFacts {
    fn from(c: &Child) -> Self {
        Self {
            id: c.id,
            household: c.household_id,
            active: c.status == ChildStatus::Active,
            deleting: c.status == ChildStatus::Deleting,
        }
    }
}

/// The guardian actions as the policy names them.
const GUARDIAN_ACTIONS: [&str; 3] = ["view_child", "manage_child", "read_items"];

/// The loaded, validated family policy, with its decisions.
///
/// The policy compares entities (a guardian's household with a child's, a
/// device's child with the child asked about) and reads flags; it never names
/// an entity. So a decision depends only on those comparisons and flags, and
/// each combination is put to Cedar once, when the policy loads; a request
/// looks its answer up (a Cedar evaluation with its entities costs 10-20 us,
/// which on the ingest path, four decisions per recording, cost a fifth of
/// the throughput). `decisions_match_a_fresh_evaluation` checks the tables
/// against Cedar for fresh ids.
pub struct FamilyPolicy {
    policies: PolicySet,
    authorizer: Authorizer,
    /// By action, same household, active, deleting.
    guardian: [bool; 24],
    /// By same child, active, deleting, scope in force.
    device: [bool; 16],
}

fn guardian_slot(action: usize, same: bool, active: bool, deleting: bool) -> usize {
    action * 8 + usize::from(same) * 4 + usize::from(active) * 2 + usize::from(deleting)
}

fn device_slot(same: bool, active: bool, deleting: bool, in_force: bool) -> usize {
    usize::from(same) * 8 + usize::from(active) * 4 + usize::from(deleting) * 2 + usize::from(in_force)
}

const BOTH: [bool; 2] = [false, true];

impl std::fmt::Debug for FamilyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FamilyPolicy").finish_non_exhaustive()
    }
}

static FAMILY: LazyLock<FamilyPolicy> = LazyLock::new(|| {
    FamilyPolicy::load().unwrap_or_else(|e| unreachable!("the built-in family policy is invalid: {e}"))
});

/// The family policy (parsed, validated and tabled once; a test proves it loads).
pub fn family() -> &'static FamilyPolicy {
    &FAMILY
}

impl FamilyPolicy {
    fn load() -> Result<Self, String> {
        let (schema, _) = Schema::from_cedarschema_str(FAMILY_SCHEMA).map_err(|e| e.to_string())?;
        let policies = PolicySet::from_str(FAMILY_POLICY).map_err(|e| e.to_string())?;
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if let Some(e) = result.validation_errors().next() {
            return Err(e.to_string());
        }
        let mut policy = Self { policies, authorizer: Authorizer::new(), guardian: [false; 24], device: [false; 16] };
        let now = chrono::Utc::now();
        let (here, elsewhere) = (HouseholdId::generate(now), HouseholdId::generate(now));
        let g = GuardianSession { guardian_id: GuardianId::generate(now), household_id: here };
        let (device, paired) = (DeviceId::generate(now), ChildId::generate(now));
        for active in BOTH {
            for deleting in BOTH {
                for same in BOTH {
                    let household = if same { here } else { elsewhere };
                    let child = ChildFacts { id: paired, household, active, deleting };
                    for (n, action) in GUARDIAN_ACTIONS.iter().enumerate() {
                        policy.guardian[guardian_slot(n, same, active, deleting)] =
                            policy.guardian_decides(&g, child, action, Some(&schema))?;
                    }
                    let child = ChildFacts { id: if same { paired } else { ChildId::generate(now) }, ..child };
                    for in_force in BOTH {
                        policy.device[device_slot(same, active, deleting, in_force)] =
                            policy.device_decides(device, paired, child, in_force, Some(&schema))?;
                    }
                }
            }
        }
        Ok(policy)
    }

    /// Whether guardian `g` may take `action` on `child`.
    pub fn allows(&self, g: &GuardianSession, child: &Child, action: Action) -> bool {
        let Some(n) = guardian_action(action) else { return false };
        let c = ChildFacts::from(child);
        self.guardian[guardian_slot(n, c.household == g.household_id, c.active, c.deleting)]
    }

    /// Whether `device` (paired to `paired`) may collect for `child`, the
    /// scope its data needs being in force or not. (The device's own id does
    /// not enter the decision: the policy compares its child.)
    pub fn device_may_collect(&self, paired: ChildId, child: &Child, scope_in_force: bool) -> bool {
        let c = ChildFacts::from(child);
        self.device[device_slot(c.id == paired, c.active, c.deleting, scope_in_force)]
    }

    fn guardian_decides(
        &self,
        g: &GuardianSession,
        child: ChildFacts,
        action: &str,
        schema: Option<&Schema>,
    ) -> Result<bool, String> {
        let principal = uid("Family::Guardian", &g.guardian_id.to_string());
        let guardian = entity(&principal, [("household", household(g.household_id))])?;
        self.decide(guardian, child, action, Context::empty(), schema)
    }

    fn device_decides(
        &self,
        device: DeviceId,
        paired: ChildId,
        child: ChildFacts,
        scope_in_force: bool,
        schema: Option<&Schema>,
    ) -> Result<bool, String> {
        let principal = uid("Family::Device", &device.to_string());
        let paired = RestrictedExpression::new_entity_uid(uid("Family::Child", &paired.to_string()));
        let device = entity(&principal, [("child", paired)])?;
        let context =
            Context::from_pairs([("scope_in_force".to_owned(), RestrictedExpression::new_bool(scope_in_force))])
                .map_err(|e| e.to_string())?;
        self.decide(device, child, "collect", context, schema)
    }

    /// Cedar's decision for `principal` (an entity built by this module) on
    /// `child`, the request and entities checked against `schema` when given.
    fn decide(
        &self,
        principal: Entity,
        child: ChildFacts,
        action: &str,
        context: Context,
        schema: Option<&Schema>,
    ) -> Result<bool, String> {
        let resource = uid("Family::Child", &child.id.to_string());
        let child = entity(
            &resource,
            [
                ("household", household(child.household)),
                ("active", RestrictedExpression::new_bool(child.active)),
                ("deleting", RestrictedExpression::new_bool(child.deleting)),
            ],
        )?;
        let request = Request::new(principal.uid(), uid("Family::Action", action), resource, context, schema)
            .map_err(|e| e.to_string())?;
        let entities = Entities::from_entities([principal, child], schema).map_err(|e| e.to_string())?;
        Ok(self.authorizer.is_authorized(&request, &self.policies, &entities).decision() == Decision::Allow)
    }
}

fn household(id: HouseholdId) -> RestrictedExpression {
    RestrictedExpression::new_entity_uid(uid("Family::Household", &id.to_string()))
}

fn entity<const N: usize>(id: &EntityUid, attrs: [(&str, RestrictedExpression); N]) -> Result<Entity, String> {
    let attrs = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<HashMap<_, _>>();
    Entity::new(id.clone(), attrs, HashSet::new()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kidvault_domain::consent::ConsentScope;

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

    /// The policy loads (every request it tables fits the schema, with
    /// entities the schema accepts: a rename in either file fails here, not
    /// as a silent deny), and each tabled decision is what Cedar says for
    /// other, fresh ids.
    #[test]
    fn decisions_match_a_fresh_evaluation() {
        let policy = FamilyPolicy::load().unwrap();
        let now = chrono::Utc::now();
        let g = GuardianSession { guardian_id: GuardianId::generate(now), household_id: HouseholdId::generate(now) };
        let device = DeviceId::generate(now);
        for status in [ChildStatus::PendingConsent, ChildStatus::Active, ChildStatus::Deleting] {
            for household in [g.household_id, HouseholdId::generate(now)] {
                let c = child(household, status);
                for (action, name) in [
                    (Action::ViewChild, "view_child"),
                    (Action::Manage, "manage_child"),
                    (Action::ReadItems, "read_items"),
                ] {
                    let fresh = policy.guardian_decides(&g, ChildFacts::from(&c), name, None).unwrap();
                    assert_eq!(policy.allows(&g, &c, action), fresh, "{name} {status:?}");
                }
                for paired in [c.id, ChildId::generate(now)] {
                    for in_force in BOTH {
                        let fresh =
                            policy.device_decides(device, paired, ChildFacts::from(&c), in_force, None).unwrap();
                        assert_eq!(policy.device_may_collect(paired, &c, in_force), fresh, "collect {status:?}");
                    }
                }
            }
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

    /// A device collects for the child it is paired to, only once consent
    /// made the profile active and while the scope is in force, and never for
    /// another child or one being deleted.
    #[test]
    fn devices_collect_for_their_own_child_under_consent_only() {
        let now = chrono::Utc::now();
        let household = HouseholdId::generate(now);
        let collect = |child: &Child, paired: ChildId, in_force| family().device_may_collect(paired, child, in_force);
        let own = child(household, ChildStatus::Active);
        assert!(collect(&own, own.id, true));
        assert!(!collect(&own, own.id, false), "the scope is not in force");
        let sibling = child(household, ChildStatus::Active);
        assert!(!collect(&sibling, own.id, true), "another child, even of the same household");
        for status in [ChildStatus::PendingConsent, ChildStatus::Deleting] {
            let c = child(household, status);
            assert!(!collect(&c, c.id, true), "{status:?}");
        }
    }
}
