//! The staff access policy: which role may do what with a child's data, for
//! which purpose. Written in Cedar (`policy/staff-access.cedar`, replaceable
//! by the operator's own file), validated against a fixed schema
//! (`policy/staff-access.cedarschema`) when loaded: a policy that does not
//! parse or names anything the schema does not know is refused, with its line.
//!
//! The decision is pure (role, action, context in; allow or deny out); the
//! service gathers the context (is a guardian's grant active?) and records
//! what was decided.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use kidvault_domain::staff::{AccessPurpose, StaffRole};
use miette::Diagnostic;

/// The policy kidvault ships with.
pub const SHIPPED_POLICY: &str = include_str!("../policy/staff-access.cedar");
/// What a policy may talk about.
pub const SCHEMA: &str = include_str!("../policy/staff-access.cedarschema");

/// What a staff member asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StaffAction {
    /// Counts, dates and kinds of one child's data.
    ReadMetadata,
    /// Audio, transcript text, precise locations of one child.
    ReadContent,
    /// The tamper-evident log.
    ReadLedger,
    /// Processors, their tasks, models.
    ManageProcessors,
    /// The break-glass review queue and the denials.
    ReviewAccess,
}

impl StaffAction {
    pub const ALL: [StaffAction; 5] = [
        StaffAction::ReadMetadata,
        StaffAction::ReadContent,
        StaffAction::ReadLedger,
        StaffAction::ManageProcessors,
        StaffAction::ReviewAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffAction::ReadMetadata => "read_metadata",
            StaffAction::ReadContent => "read_content",
            StaffAction::ReadLedger => "read_ledger",
            StaffAction::ManageProcessors => "manage_processors",
            StaffAction::ReviewAccess => "review_access",
        }
    }

    fn resource_type(self) -> &'static str {
        match self {
            StaffAction::ReadMetadata | StaffAction::ReadContent => "Kidvault::Child",
            StaffAction::ReadLedger => "Kidvault::Ledger",
            StaffAction::ManageProcessors | StaffAction::ReviewAccess => "Kidvault::Operations",
        }
    }
}

/// The facts a decision depends on besides who and what.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessFacts {
    pub purpose: Option<AccessPurpose>,
    /// The ticket or case reference ("" when none).
    pub ticket: String,
    /// A guardian's grant of support access to this child is active.
    pub guardian_grant: bool,
    /// The staff member overrides a denial with a written justification.
    pub break_glass: bool,
}

/// A problem in a policy file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyProblem {
    /// 1-based line and column, when the problem has a place.
    pub line: Option<(usize, usize)>,
    pub message: String,
}

impl std::fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some((l, c)) => write!(f, "line {l}, column {c}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A loaded, validated access policy.
pub struct AccessPolicy {
    policies: PolicySet,
    schema: Schema,
    authorizer: Authorizer,
    /// SHA-256 of the policy text, hex: which policy decided (recorded in the ledger).
    digest: String,
    /// The action entities of the schema, one per action.
    actions: HashMap<StaffAction, EntityUid>,
    /// Each role as a principal with its entity store, built once (checked
    /// against the schema then, not on every decision).
    principals: HashMap<StaffRole, (EntityUid, Entities)>,
    /// The resource of each action's type.
    resources: HashMap<StaffAction, EntityUid>,
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPolicy").field("digest", &self.digest).finish_non_exhaustive()
    }
}

fn locate(src: &str, diag: &dyn Diagnostic) -> Option<(usize, usize)> {
    let offset = diag.labels().and_then(|mut l| l.next()).map(|l| l.offset())?;
    let before = src.get(..offset.min(src.len()))?;
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, col))
}

fn problem(src: &str, diag: &dyn Diagnostic, message: String) -> PolicyProblem {
    let help = diag.help().map(|h| format!(" ({h})")).unwrap_or_default();
    PolicyProblem { line: locate(src, diag), message: format!("{message}{help}") }
}

fn uid(type_name: &str, id: &str) -> EntityUid {
    // The type names are this module's own constants, checked by the tests.
    let t = EntityTypeName::from_str(type_name).unwrap_or_else(|e| unreachable!("{type_name}: {e}"));
    EntityUid::from_type_name_and_id(t, EntityId::new(id))
}

impl AccessPolicy {
    /// The shipped policy.
    pub fn shipped() -> Self {
        Self::parse(SHIPPED_POLICY).unwrap_or_else(|e| unreachable!("the shipped access policy is invalid: {e}"))
    }

    /// Parses `text` and validates it against the schema (strictly: every
    /// attribute, action and context field it uses must exist and be typed right).
    pub fn parse(text: &str) -> Result<Self, PolicyProblem> {
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA)
            .map_err(|e| PolicyProblem { line: None, message: format!("the shipped schema is invalid: {e}") })?;
        let policies = PolicySet::from_str(text).map_err(|e| {
            let first = e.iter().next();
            match first {
                Some(d) => problem(text, d, d.to_string()),
                None => PolicyProblem { line: None, message: e.to_string() },
            }
        })?;
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if let Some(e) = result.validation_errors().next() {
            return Err(problem(text, e, e.to_string()));
        }
        let actions = StaffAction::ALL.into_iter().map(|a| (a, uid("Kidvault::Action", a.as_str()))).collect();
        let resources = StaffAction::ALL.into_iter().map(|a| (a, uid(a.resource_type(), "any"))).collect();
        let mut principals = HashMap::new();
        for role in StaffRole::ALL {
            let principal = uid("Kidvault::Staff", role.as_str());
            let attrs =
                HashMap::from([("role".to_owned(), RestrictedExpression::new_string(role.as_str().to_owned()))]);
            let staff = Entity::new(principal.clone(), attrs, HashSet::new())
                .map_err(|e| PolicyProblem { line: None, message: e.to_string() })?;
            let entities = Entities::from_entities([staff], Some(&schema))
                .map_err(|e| PolicyProblem { line: None, message: e.to_string() })?;
            principals.insert(role, (principal, entities));
        }
        let policy = Self {
            policies,
            schema,
            authorizer: Authorizer::new(),
            digest: hex::encode(kidvault_crypto::sha256(text.as_bytes())),
            actions,
            principals,
            resources,
        };
        // Requests are built by this module alone; one of each action is checked
        // against the schema here, so decisions need not check every request.
        for action in StaffAction::ALL {
            policy.request(StaffRole::Support, action, &AccessFacts::default(), Some(&policy.schema)).map_err(|e| {
                PolicyProblem { line: None, message: format!("the shipped schema refuses a request: {e}") }
            })?;
        }
        Ok(policy)
    }

    fn request(
        &self,
        role: StaffRole,
        action: StaffAction,
        facts: &AccessFacts,
        schema: Option<&Schema>,
    ) -> Result<Request, String> {
        let principal = self.principals.get(&role).map(|(p, _)| p.clone()).ok_or("unknown role")?;
        let context = Context::from_pairs([
            (
                "purpose".to_owned(),
                RestrictedExpression::new_string(facts.purpose.map_or("none", |p| p.as_str()).to_owned()),
            ),
            ("ticket".to_owned(), RestrictedExpression::new_string(facts.ticket.clone())),
            ("guardian_grant".to_owned(), RestrictedExpression::new_bool(facts.guardian_grant)),
            ("break_glass".to_owned(), RestrictedExpression::new_bool(facts.break_glass)),
        ])
        .map_err(|e| e.to_string())?;
        let action_uid = self.actions.get(&action).cloned().ok_or("unknown action")?;
        let resource = self.resources.get(&action).cloned().ok_or("unknown action")?;
        Request::new(principal, action_uid, resource, context, schema).map_err(|e| e.to_string())
    }

    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether the policy allows `role` to do `action` given `facts`.
    pub fn allows(&self, role: StaffRole, action: StaffAction, facts: &AccessFacts) -> bool {
        self.decide(role, action, facts).unwrap_or(false)
    }

    fn decide(&self, role: StaffRole, action: StaffAction, facts: &AccessFacts) -> Result<bool, String> {
        let request = self.request(role, action, facts, None)?;
        let (_, entities) = self.principals.get(&role).ok_or("unknown role")?;
        let response = self.authorizer.is_authorized(&request, &self.policies, entities);
        Ok(response.decision() == Decision::Allow)
    }

    /// Why `role` may not do `action` with `facts`, as a stable code and a
    /// sentence naming what is missing (found by asking the policy what would
    /// have been allowed with one more fact).
    pub fn why_denied(&self, role: StaffRole, action: StaffAction, facts: &AccessFacts) -> (&'static str, String) {
        let with = |f: &dyn Fn(&mut AccessFacts)| {
            let mut more = facts.clone();
            f(&mut more);
            self.allows(role, action, &more)
        };
        let any_purpose = AccessPurpose::ALL.into_iter().find(|p| with(&|m| m.purpose = Some(*p)));
        let about_a_child = matches!(action, StaffAction::ReadMetadata | StaffAction::ReadContent);
        if facts.purpose.is_none() && (about_a_child || any_purpose.is_some()) {
            let hint = any_purpose.map(|p| format!(" (for example {})", p.as_str())).unwrap_or_default();
            return ("purpose_required", format!("name the purpose of this access in Kidvault-Purpose{hint}"));
        }
        if facts.ticket.is_empty() && with(&|m| m.ticket = "ticket".into()) {
            return ("ticket_required", "name the ticket or case in Kidvault-Ticket".into());
        }
        if !facts.guardian_grant && with(&|m| m.guardian_grant = true) {
            return (
                "guardian_grant_required",
                "a guardian of this child has not granted support access, or the grant has ended".into(),
            );
        }
        if !facts.break_glass && with(&|m| m.break_glass = true) {
            return (
                "policy_denied",
                format!(
                    "the access policy does not let {} {} for {}; to override it, give a written \
                     justification in Kidvault-Break-Glass (the guardians are told and the privacy officer reviews it)",
                    role.as_str(),
                    action.as_str(),
                    facts.purpose.map_or("no purpose", |p| p.as_str())
                ),
            );
        }
        if let Some(p) = any_purpose.filter(|p| Some(*p) != facts.purpose) {
            return (
                "purpose_not_allowed",
                format!(
                    "the access policy does not let {} {} for {}; it may for {}",
                    role.as_str(),
                    action.as_str(),
                    facts.purpose.map_or("no purpose", |p| p.as_str()),
                    p.as_str()
                ),
            );
        }
        (
            "policy_denied",
            format!("the access policy does not let {} {}, for any purpose", role.as_str(), action.as_str()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(purpose: Option<AccessPurpose>, ticket: &str, grant: bool, glass: bool) -> AccessFacts {
        AccessFacts { purpose, ticket: ticket.into(), guardian_grant: grant, break_glass: glass }
    }

    #[test]
    fn the_shipped_policy_loads_and_says_what_the_readme_says() {
        use AccessPurpose::*;
        use StaffAction::*;
        use StaffRole::*;
        let p = AccessPolicy::shipped();
        // Support: content only with a guardian's grant and a ticket.
        assert!(p.allows(Support, ReadContent, &facts(Some(SupportTicket), "4821", true, false)));
        assert!(!p.allows(Support, ReadContent, &facts(Some(SupportTicket), "4821", false, false)));
        assert!(!p.allows(Support, ReadContent, &facts(Some(SupportTicket), "", true, false)));
        assert!(p.allows(Support, ReadMetadata, &facts(Some(SupportTicket), "4821", false, false)));
        // Trust and safety: content for a safety report.
        assert!(p.allows(TrustAndSafety, ReadContent, &facts(Some(SafetyReport), "r-1", false, false)));
        assert!(!p.allows(TrustAndSafety, ReadContent, &facts(Some(Debugging), "r-1", false, false)));
        // Engineers, auditors, admins: never content, not even breaking glass.
        for role in [Sre, MlEngineer, Auditor, Admin] {
            for purpose in AccessPurpose::ALL {
                assert!(!p.allows(role, ReadContent, &facts(Some(purpose), "t", true, true)), "{role:?}");
            }
        }
        // Nobody sees content without a purpose.
        for role in StaffRole::ALL {
            assert!(!p.allows(role, ReadContent, &facts(None, "t", true, true)), "{role:?}");
        }
        assert!(p.allows(Auditor, ReadLedger, &facts(None, "", false, false)));
        assert!(!p.allows(Support, ReadLedger, &facts(None, "", false, false)));
        assert!(p.allows(Admin, ManageProcessors, &facts(None, "", false, false)));
        assert!(p.allows(PrivacyOfficer, ReviewAccess, &facts(None, "", false, false)));
        assert!(p.allows(Sre, ReadMetadata, &facts(Some(Debugging), "inc-7", false, false)));
        assert!(!p.allows(MlEngineer, ReadMetadata, &facts(Some(Debugging), "inc-7", false, false)));
    }

    #[test]
    fn a_denial_names_what_is_missing() {
        use AccessPurpose::*;
        use StaffAction::*;
        use StaffRole::*;
        let p = AccessPolicy::shipped();
        let code = |r, a, f: AccessFacts| p.why_denied(r, a, &f).0;
        assert_eq!(code(Support, ReadContent, facts(None, "1", true, false)), "purpose_required");
        assert_eq!(code(Support, ReadContent, facts(Some(SupportTicket), "", true, false)), "ticket_required");
        assert_eq!(
            code(Support, ReadContent, facts(Some(SupportTicket), "1", false, false)),
            "guardian_grant_required"
        );
        assert_eq!(code(TrustAndSafety, ReadContent, facts(Some(Debugging), "1", false, false)), "policy_denied");
        assert_eq!(code(Sre, ReadContent, facts(Some(Debugging), "1", false, false)), "policy_denied");
        assert_eq!(code(Sre, ReadMetadata, facts(Some(Audit), "1", false, false)), "purpose_not_allowed");
        assert_eq!(code(Support, ReviewAccess, AccessFacts::default()), "policy_denied");
        assert_eq!(code(MlEngineer, ReadContent, facts(None, "", false, false)), "purpose_required");
    }

    #[test]
    fn a_bad_policy_is_refused_with_its_line() {
        let typo = "permit (principal, action, resource);\npermit (principal is Kidvault::Staff, action == Kidvault::Action::\"read_content\", resource)\nwhen { principal.rolee == \"support\" };\n";
        let e = AccessPolicy::parse(typo).unwrap_err();
        assert_eq!(e.line.map(|l| l.0), Some(3), "{e}");
        let syntax = "permit (principal, action, resource)\nwhen { context.purpose == };";
        let e = AccessPolicy::parse(syntax).unwrap_err();
        assert_eq!(e.line.map(|l| l.0), Some(2), "{e}");
        let unknown = "permit (principal, action == Kidvault::Action::\"listen\", resource);";
        assert!(AccessPolicy::parse(unknown).is_err());
    }

    /// Guardians and devices are the built-in family policy's principals
    /// ([`crate::family_policy`]); an operator's staff policy that names them,
    /// or the family policy's actions, is refused rather than silently ignored.
    #[test]
    fn a_staff_policy_cannot_name_guardians_or_devices() {
        for text in [
            "permit (principal is Family::Guardian, action, resource);",
            "permit (principal is Kidvault::Guardian, action, resource);",
            "permit (principal is Family::Device, action, resource);",
            "permit (principal, action == Family::Action::\"read_items\", resource);",
        ] {
            assert!(AccessPolicy::parse(text).is_err(), "{text}");
        }
    }
}
