//! Who acts on a child's data, and what they want to do: the principals every
//! other module passes around (guardians, devices, staff, kidvault itself).
//! Kept apart so that the authorization point ([`crate::access`]), the ledger
//! records ([`crate::ledger`]) and the accounts ([`crate::accounts`]) all depend
//! on it and not on each other.

use kidvault_domain::consent::ConsentScope;
use kidvault_domain::ids::{GuardianId, HouseholdId, StaffId};
use kidvault_domain::staff::StaffRole;
use kidvault_store::IngestContext;

use crate::access_policy::StaffAction;

/// A signed-in guardian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardianSession {
    pub guardian_id: GuardianId,
    pub household_id: HouseholdId,
}

/// An authenticated, unrevoked device, with its child and the child's consents as
/// read at the start of the request.
#[derive(Clone, Debug)]
pub struct DeviceSession {
    pub(crate) ctx: IngestContext,
}

impl DeviceSession {
    pub fn device_id(&self) -> kidvault_domain::ids::DeviceId {
        self.ctx.device.device.id
    }
}

/// Who is acting.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    Guardian(&'a GuardianSession),
    Device(&'a DeviceSession),
    /// kidvault itself, enforcing the retention policy (only [`Action::Minimise`]).
    Retention,
}

/// What the actor wants to do with the child's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read the child's profile, consents and access log.
    ViewChild,
    /// Record or withdraw consent, pair or revoke devices.
    Manage,
    /// Read items and their content.
    ReadItems,
    /// Collect new data that needs `scope` in force.
    Collect(ConsentScope),
    /// Make stored data less precise, as the retention policy says (the system only).
    Minimise,
    /// A staff member's read, as the access policy allowed it.
    Staff(StaffAction),
}

impl Action {
    /// The purpose recorded with each access.
    pub fn purpose(self) -> &'static str {
        match self {
            Action::ViewChild | Action::ReadItems => "guardian_review",
            Action::Manage => "guardian_management",
            Action::Collect(_) => "device_collection",
            Action::Minimise => "retention_minimisation",
            Action::Staff(_) => "staff_access",
        }
    }

    /// Whether a grant for this action may open sealed content: not one to
    /// collect, nor a staff read of metadata.
    pub fn opens_content(self) -> bool {
        !matches!(self, Action::Collect(_) | Action::Staff(StaffAction::ReadMetadata))
    }
}

/// A signed-in staff member (a short-lived session from a two-factor sign-in).
/// Only [`crate::Vault::authenticate_staff`] makes one; what it may do is
/// decided per request by the access policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffSession {
    pub(crate) staff_id: StaffId,
    pub(crate) role: StaffRole,
    pub(crate) name: String,
}

impl StaffSession {
    pub fn staff_id(&self) -> StaffId {
        self.staff_id
    }
    pub fn role(&self) -> StaffRole {
        self.role
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// How the ledger names the staff member: role and pseudonymous id, never the name.
    pub fn actor(&self) -> String {
        format!("staff:{}:{}", self.role.as_str(), self.staff_id)
    }
}

/// Why a staff member asks, as their request says it (the purpose as given:
/// an unknown one is refused, and recorded, by the decision).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaffRequest {
    pub purpose: Option<String>,
    /// The ticket or case reference ("" when none).
    pub ticket: String,
    /// A written justification to override a denial (break-glass).
    pub break_glass: Option<String>,
}
