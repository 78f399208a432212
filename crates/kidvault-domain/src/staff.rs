//! Staff: the people who operate kidvault, by role, and the purposes for which
//! one of them may reach a child's data. Which role may do what for which
//! purpose is not decided here but by the access policy (Cedar), which names
//! these roles and purposes.

use serde::{Deserialize, Serialize};

/// A staff member's job, as the access policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Answers families' questions; sees content only while a guardian allows it.
    Support,
    /// Handles safety reports.
    TrustAndSafety,
    /// Builds models from consented datasets; never sees a child's data here.
    MlEngineer,
    /// Keeps kidvault running; metadata for debugging, never content.
    Sre,
    /// Reviews break-glass accesses and denials; answers legal holds.
    PrivacyOfficer,
    /// Reads the ledger (ids, counts, hashes; never content).
    Auditor,
    /// Registers processors and watches their tasks and models; never content.
    Admin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 7] = [
        StaffRole::Support,
        StaffRole::TrustAndSafety,
        StaffRole::MlEngineer,
        StaffRole::Sre,
        StaffRole::PrivacyOfficer,
        StaffRole::Auditor,
        StaffRole::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Support => "support",
            StaffRole::TrustAndSafety => "trust_and_safety",
            StaffRole::MlEngineer => "ml_engineer",
            StaffRole::Sre => "sre",
            StaffRole::PrivacyOfficer => "privacy_officer",
            StaffRole::Auditor => "auditor",
            StaffRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Why a staff member asks for a child's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessPurpose {
    /// Answering a family's support request.
    SupportTicket,
    /// Handling a report that a child may be at risk.
    SafetyReport,
    /// Preserving data a court or regulator requires.
    LegalHold,
    /// Finding the cause of a fault.
    Debugging,
    /// Checking that kidvault keeps its promises.
    Audit,
}

impl AccessPurpose {
    pub const ALL: [AccessPurpose; 5] = [
        AccessPurpose::SupportTicket,
        AccessPurpose::SafetyReport,
        AccessPurpose::LegalHold,
        AccessPurpose::Debugging,
        AccessPurpose::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessPurpose::SupportTicket => "support_ticket",
            AccessPurpose::SafetyReport => "safety_report",
            AccessPurpose::LegalHold => "legal_hold",
            AccessPurpose::Debugging => "debugging",
            AccessPurpose::Audit => "audit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_purposes_parse_back() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()), Some(r));
        }
        for p in AccessPurpose::ALL {
            assert_eq!(AccessPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(StaffRole::parse("root"), None);
        assert_eq!(AccessPurpose::parse("curiosity"), None);
    }
}
