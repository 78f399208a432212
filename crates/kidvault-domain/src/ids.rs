//! Entity identifiers. Every id is a UUIDv7 minted from the `now` the caller passes,
//! so ids sort by creation time without this crate reading a clock. Each entity has
//! its own newtype: a `ChildId` can never be passed where an `ItemId` is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Mints a new id whose time prefix is `now` (UUIDv7, random tail).
            pub fn generate(now: Timestamp) -> Self {
                Self(uuid_v7_at(now))
            }
            /// The id as 16 bytes (used as associated data when sealing).
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A household: the unit a guardian sees, and nothing beyond it.
    HouseholdId
);
id_type!(
    /// A guardian (parent or legal guardian) account.
    GuardianId
);
id_type!(
    /// A child profile.
    ChildId
);
id_type!(
    /// A paired device (speaker, watch, tablet) that collects for one child.
    DeviceId
);
id_type!(
    /// One item of child data: a recording, a transcript, a location, ...
    ItemId
);
id_type!(
    /// One recorded act of verifiable parental consent.
    ConsentId
);
id_type!(
    /// One entry in the access log.
    AccessId
);
id_type!(
    /// One deletion request.
    DeletionId
);
id_type!(
    /// A staff principal (administrator or auditor), created from the CLI.
    StaffId
);
id_type!(
    /// A downstream processor: a system outside kidvault holding copies of child data.
    ProcessorId
);
id_type!(
    /// One processor's part of one deletion: deliver, then wait for acknowledgement.
    TaskId
);

id_type!(
    /// One notice to one guardian in the outbox.
    NoticeId
);
id_type!(
    /// A training dataset: a snapshot of eligible items given to a training processor.
    DatasetId
);
id_type!(
    /// A model a training processor registered as built from datasets.
    ModelId
);
id_type!(
    /// A guardian's grant of support access to one child's data.
    SupportGrantId
);
id_type!(
    /// A break-glass access waiting for (or closed by) the privacy officer's review.
    ReviewId
);
id_type!(
    /// A staff request the access policy refused.
    DenialId
);

fn uuid_v7_at(now: Timestamp) -> Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, now.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_carry_the_time_they_were_minted_and_sort_by_it() {
        let t1 = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t2 = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let a = ItemId::generate(t1);
        let b = ItemId::generate(t2);
        assert!(a < b);
        assert_eq!(a.0.get_version_num(), 7);
        let (secs, _) = a.0.get_timestamp().unwrap().to_unix();
        assert_eq!(secs as i64, t1.timestamp());
        assert_eq!(a.to_string().parse::<ItemId>().unwrap(), a);
    }
}
