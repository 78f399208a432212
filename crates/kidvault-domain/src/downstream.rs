//! Downstream processors: systems outside kidvault that hold copies of child data
//! (an analytics warehouse, a speech vendor, a support tool). A deletion that
//! touches the categories a processor holds becomes a task for it: a signed
//! webhook, retried with exponential backoff and jitter until the processor
//! acknowledges, with a deadline after which the task is shown as overdue. The
//! deletion completes only when every task is acknowledged.
//!
//! Signatures: header `Kidvault-Signature: t=<unix seconds>,v1=<hex>` where the hex
//! is HMAC-SHA256 under the processor's secret (its UTF-8 bytes, as given) over
//! `"<t>.<body>"`. The same header signs a processor's acknowledgement.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::item::DataCategory;
use crate::Timestamp;

pub use crate::staff::StaffRole;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Not yet delivered (or the last delivery failed): retried when due.
    Pending,
    /// Delivered; the processor will acknowledge through the ack endpoint.
    Delivered,
    /// The processor confirmed it deleted its copies.
    Acknowledged,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Delivered => "delivered",
            TaskState::Acknowledged => "acknowledged",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [TaskState::Pending, TaskState::Delivered, TaskState::Acknowledged].into_iter().find(|r| r.as_str() == s)
    }
}

/// Whether a processor holding `held` must hear of a deletion of items in
/// `deleted` categories. A child's whole deletion concerns every processor: it
/// may hold the profile as well as items.
pub fn concerns(held: &[DataCategory], deleted: &[DataCategory], whole_child: bool) -> bool {
    whole_child || held.iter().any(|c| deleted.contains(c))
}

/// Retry schedule: attempt `n` (1-based) failed; the next try waits
/// `base · 2^(n-1)`, capped at `cap`, of which the upper half is random
/// ("equal jitter", from `unit` in `[0, 1)`), so processors that failed together
/// do not all retry together.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(cap);
    let half = exp / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// The string that is signed: `"<t>.<body>"`.
pub fn signed_message(t: i64, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{t}.").into_bytes();
    m.extend_from_slice(body);
    m
}

/// The `Kidvault-Signature` header value for a tag made at `t`.
pub fn signature_header(t: i64, tag: &[u8]) -> String {
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Parses a `Kidvault-Signature` header into its time and tag.
pub fn parse_signature_header(value: &str) -> Option<(i64, Vec<u8>)> {
    let mut t = None;
    let mut tag = None;
    for part in value.split(',') {
        match part.trim().split_once('=')? {
            ("t", v) => t = v.parse::<i64>().ok(),
            ("v1", v) if v.len() == 64 => {
                tag = (0..64)
                    .step_by(2)
                    .map(|i| u8::from_str_radix(v.get(i..i + 2)?, 16).ok())
                    .collect::<Option<Vec<u8>>>()
            }
            _ => {}
        }
    }
    Some((t?, tag?))
}

/// Whether a signature made at `t` is fresh at `now` (five minutes either way),
/// so a captured acknowledgement cannot be replayed much later.
pub fn fresh(t: i64, now: Timestamp) -> bool {
    (now.timestamp() - t).abs() <= 300
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let base = Duration::from_secs(30);
        let cap = Duration::from_secs(3600);
        assert_eq!(backoff(1, base, cap, 0.0), Duration::from_secs(15));
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_secs(30));
        assert_eq!(backoff(3, base, cap, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_secs(90));
        assert_eq!(backoff(40, base, cap, 1.0), cap);
        assert!(backoff(40, base, cap, 0.0) >= cap / 2);
    }

    #[test]
    fn signature_headers_round_trip_and_malformed_ones_are_refused() {
        let tag = [0xabu8; 32];
        let h = signature_header(1_700_000_000, &tag);
        assert_eq!(parse_signature_header(&h), Some((1_700_000_000, tag.to_vec())));
        assert_eq!(parse_signature_header("t=1,v1=abc"), None);
        assert_eq!(parse_signature_header(&h.replace("t=", "x=")), None);
        assert_eq!(parse_signature_header("garbage"), None);
        assert_eq!(signed_message(5, b"{}"), b"5.{}");
    }

    #[test]
    fn a_processor_hears_of_deletions_of_what_it_holds() {
        use DataCategory::*;
        assert!(concerns(&[Content], &[BiometricVoice, Content], false));
        assert!(!concerns(&[LocationPrecise], &[BiometricVoice, Content], false));
        assert!(concerns(&[LocationPrecise], &[], true));
    }

    #[test]
    fn roles_and_states_parse_back() {
        for s in [TaskState::Pending, TaskState::Delivered, TaskState::Acknowledged] {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
        }
        assert_eq!(TaskState::parse("done"), None);
    }
}
