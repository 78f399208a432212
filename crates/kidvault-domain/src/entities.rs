//! Households, guardians, children and devices: who holds data about whom.
//!
//! A child's display name and birth year are child data: they are sealed under the
//! child's key like every other item, so these structs carry them only in memory.

use serde::{Deserialize, Serialize};

use crate::ids::{ChildId, DeviceId, GuardianId, HouseholdId};
use crate::Timestamp;

/// Where a child profile is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChildStatus {
    /// Created, but no verifiable parental consent yet: nothing may be collected.
    PendingConsent,
    /// At least one consent has been recorded.
    Active,
    /// A deletion of the whole profile is under way: nothing is served or collected.
    Deleting,
}

impl ChildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChildStatus::PendingConsent => "pending_consent",
            ChildStatus::Active => "active",
            ChildStatus::Deleting => "deleting",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending_consent" => Some(ChildStatus::PendingConsent),
            "active" => Some(ChildStatus::Active),
            "deleting" => Some(ChildStatus::Deleting),
            _ => None,
        }
    }
}

/// The parts of a child profile that are child data (sealed at rest).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildProfile {
    pub display_name: String,
    pub birth_year: i32,
}

impl std::fmt::Debug for ChildProfile {
    // Never print child data, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChildProfile(<redacted>)")
    }
}

/// Errors in a child profile submitted by a guardian.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("display_name must be 1 to 64 characters")]
    DisplayName,
    #[error("birth_year must be a year in which the child is under 13 or will be born this year at the latest, between {min} and {max}")]
    BirthYear { min: i32, max: i32 },
}

impl ChildProfile {
    /// Parses a profile. `current_year` comes from the caller's `now`: the product is
    /// for children under 13 (COPPA), so older birth years are refused.
    pub fn parse(display_name: &str, birth_year: i32, current_year: i32) -> Result<Self, ProfileError> {
        let name = parse_label(display_name, 64).ok_or(ProfileError::DisplayName)?;
        let (min, max) = (current_year - 13, current_year);
        if !(min..=max).contains(&birth_year) {
            return Err(ProfileError::BirthYear { min, max });
        }
        Ok(Self { display_name: name, birth_year })
    }
}

/// A child profile's non-secret attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub id: ChildId,
    pub household_id: HouseholdId,
    pub status: ChildStatus,
    pub created_at: Timestamp,
    /// Last time the child used a device (ingest). Drives dormancy; a guardian
    /// visiting the portal is not the child's activity.
    pub last_active_at: Option<Timestamp>,
    /// A parent's auto-delete choice for recordings: `None` as long as the
    /// retention policy allows, `Some(0)` none kept (the ephemeral path only),
    /// `Some(n)` each kept `n` days. Never longer than the policy.
    pub keep_recordings_days: Option<u32>,
}

/// A guardian account (the guardian's own data, not child data).
#[derive(Clone, PartialEq, Eq)]
pub struct Guardian {
    pub id: GuardianId,
    pub household_id: HouseholdId,
    pub email: String,
    pub display_name: String,
    pub created_at: Timestamp,
    /// The IANA time zone they read times in; `None` until chosen.
    pub time_zone: Option<String>,
    /// The language they read kidvault in (`en`, `es`); `None` until chosen
    /// or adopted from their browser. Notices are written in it.
    pub language: Option<String>,
}

impl Guardian {
    /// Their time zone (UTC until chosen).
    pub fn zone(&self) -> crate::localtime::Zone {
        crate::localtime::Zone::or_utc(self.time_zone.as_deref())
    }
}

impl std::fmt::Debug for Guardian {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guardian")
            .field("id", &self.id)
            .field("household_id", &self.household_id)
            .finish_non_exhaustive()
    }
}

/// A device paired to one child. Its name ("Mia's watch") is sealed at rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub household_id: HouseholdId,
    pub child_id: ChildId,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A human-given name (child, guardian, device): trimmed, 1 to `max_chars`
/// characters, no control characters.
pub fn parse_label(raw: &str, max_chars: usize) -> Option<String> {
    let label = raw.trim();
    let ok = !label.is_empty() && label.chars().count() <= max_chars && !label.chars().any(char::is_control);
    ok.then(|| label.to_owned())
}

/// Normalises and checks a guardian e-mail address (enough to refuse garbage; the
/// guardians issue adds confirmation).
pub fn parse_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_ascii_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_refuses_teenagers_and_empty_names() {
        assert!(ChildProfile::parse("Mia", 2019, 2026).is_ok());
        assert_eq!(ChildProfile::parse("Mia", 2010, 2026), Err(ProfileError::BirthYear { min: 2013, max: 2026 }));
        assert_eq!(ChildProfile::parse("  ", 2019, 2026), Err(ProfileError::DisplayName));
        assert_eq!(format!("{:?}", ChildProfile::parse("Mia", 2019, 2026).unwrap()), "ChildProfile(<redacted>)");
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(parse_email(" Ana@Example.COM "), Some("ana@example.com".into()));
        for bad in ["", "a@b", "@x.org", "a b@x.org", "a@.org"] {
            assert_eq!(parse_email(bad), None, "{bad}");
        }
    }
}
