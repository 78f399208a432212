//! Who acts on a child's data, and what they want to do: the principals every
//! other module passes around (guardians, devices, staff, kidvault itself).
//! Kept apart so that the authorization point ([`crate::access`]), the ledger
//! records ([`crate::ledger`]) and the accounts ([`crate::accounts`]) all depend
//! on it and not on each other.

use kidvault_domain::consent::ConsentScope;
use kidvault_domain::downstream::StaffRole;
use kidvault_domain::ids::{GuardianId, HouseholdId, StaffId};
use kidvault_store::IngestContext;

use crate::{Result, ServiceError};

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
}

impl Action {
    /// The purpose recorded with each access.
    pub fn purpose(self) -> &'static str {
        match self {
            Action::ViewChild | Action::ReadItems => "guardian_review",
            Action::Manage => "guardian_management",
            Action::Collect(_) => "device_collection",
            Action::Minimise => "retention_minimisation",
        }
    }
}

/// An authenticated staff principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffSession {
    pub staff_id: StaffId,
    pub role: StaffRole,
    pub name: String,
}

impl StaffSession {
    /// `Forbidden` unless the principal has `role`.
    pub fn require(&self, role: StaffRole) -> Result<()> {
        if self.role == role {
            return Ok(());
        }
        Err(ServiceError::Forbidden {
            code: "role_required",
            message: format!("this needs the {} role; you are {}", role.as_str(), self.role.as_str()),
        })
    }
}
