//! Pairing a device as TVs do it (RFC 8628, the OAuth 2.0 device
//! authorization grant). The device asks for a code pair and shows (or says)
//! the short user code; a guardian enters it in the portal and picks the
//! child; the device, polling with its device code, collects its token. The
//! parent never types a secret, and entering the code again (or reloading a
//! page) never pairs a second device: a code is approved once.
//!
//! Nothing secret is stored: the device code is kept as a hash, and the
//! device's token is computed from the device code when the device collects
//! it (an HMAC of the code), so only its hash is ever written, when the code
//! is made.

use base64::Engine;
use kidvault_domain::entities::parse_label;
use kidvault_domain::ids::{ChildId, DeviceId};
use kidvault_domain::Timestamp;
use kidvault_store::{DeviceApproval, DeviceCodeRecord, DevicePoll, StoreError};
use std::sync::Arc;

use crate::principal::{Action, Actor, GuardianSession};
use crate::tokens::{new_token, token_hash, DEVICE_PREFIX};
use crate::{Result, ServiceError, Vault};

/// RFC 8628 §6.1: consonants only, so no code spells a word and no letter is
/// mistaken for a digit (no A, E, I, O, U, Y; no digits at all).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code: 20^8 ≈ 2.6 × 10^10 codes, each alive 10 minutes.
pub const USER_CODE_LEN: usize = 8;
/// How long a code pair waits for a guardian.
pub const CODE_LIFETIME_SECS: i64 = 600;
/// The least time between two polls of one device code.
pub const POLL_INTERVAL_SECS: i64 = 5;
const DEVICE_CODE_PREFIX: &str = "kvp_";

/// What a device gets when it asks to be paired.
#[derive(Clone)]
pub struct DeviceAuthorization {
    /// The device's secret for polling (never shown to anyone).
    pub device_code: String,
    /// What the device shows, grouped for reading: `WDJB-MJHT`.
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization").finish_non_exhaustive()
    }
}

/// What a device's poll gets.
#[derive(Clone)]
pub enum PairingPoll {
    /// Paired: the token, given this once.
    Token { token: String, device_id: DeviceId },
    /// RFC 8628 §3.5 errors: `authorization_pending`, `slow_down`,
    /// `expired_token`, `invalid_grant`.
    Wait(&'static str),
}

impl std::fmt::Debug for PairingPoll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PairingPoll::Token { device_id, .. } => write!(f, "Token({device_id})"),
            PairingPoll::Wait(e) => write!(f, "Wait({e})"),
        }
    }
}

/// The token a device code turns into once approved.
fn device_token(device_code: &str) -> String {
    let mac = kidvault_crypto::hmac_sha256(device_code.as_bytes(), b"kidvault device token v1");
    format!("{DEVICE_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac))
}

/// A user code as typed ("wdjb mjht", "WDJB-MJHT") in its stored form, or
/// `None` when it cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

/// "WDJBMJHT" as shown: "WDJB-MJHT".
pub fn grouped(code: &str) -> String {
    let (a, b) = code.split_at(code.len() / 2);
    format!("{a}-{b}")
}

fn new_user_code() -> Result<String> {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let mut raw = [0u8; 16];
        kidvault_crypto::random_bytes(&mut raw)?;
        // 240 = 12 × 20: bytes above it would favour the first letters.
        for b in raw.into_iter().filter(|b| *b < 240) {
            if code.len() < USER_CODE_LEN {
                code.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    Ok(code)
}

impl Vault {
    /// A device asks to be paired: a device code to poll with and a user code
    /// for a guardian to enter.
    /// Limited per client address (`from`) like sign-ups: the call needs no account.
    pub async fn start_pairing(&self, from: Option<std::net::IpAddr>, now: Timestamp) -> Result<DeviceAuthorization> {
        let limits = &self.config.sign_in_limits;
        if let Some(retry_after) = crate::ratelimit::check_pairing(&*self.store, limits, from, now).await? {
            return Err(ServiceError::RateLimited { retry_after, reason: "too many pairing codes from this network" });
        }
        crate::ratelimit::paired(&*self.store, limits, from, now).await?;
        for _ in 0..5 {
            let device_code = new_token(DEVICE_CODE_PREFIX)?;
            let user_code = new_user_code()?;
            let record = DeviceCodeRecord {
                code_hash: token_hash(&device_code),
                user_code: user_code.clone(),
                token_hash: token_hash(&device_token(&device_code)),
                created_at: now,
                expires_at: now + chrono::Duration::seconds(CODE_LIFETIME_SECS),
            };
            match self.store.create_device_code(&record).await {
                Err(StoreError::Conflict(_)) => continue, // that user code is waiting already
                other => other?,
            }
            return Ok(DeviceAuthorization {
                device_code,
                user_code: grouped(&user_code),
                expires_in: CODE_LIFETIME_SECS,
                interval: POLL_INTERVAL_SECS,
            });
        }
        Err(ServiceError::Internal("no free user code after 5 tries".into()))
    }

    /// A guardian enters the code a device shows and picks the child: the
    /// device is paired (named `name`) and collects its token on its next poll.
    pub async fn approve_pairing(
        &self,
        g: &GuardianSession,
        child: ChildId,
        user_code: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<DeviceId> {
        let code = normalize_user_code(user_code).ok_or_else(|| {
            ServiceError::invalid("invalid_user_code", "the code has 8 letters, as the device shows it")
        })?;
        let name = parse_label(name, 64)
            .ok_or_else(|| ServiceError::invalid("invalid_device_name", "name must be 1 to 64 characters"))?;
        let grant = self.authorize(Actor::Guardian(g), child, Action::Manage).await?;
        let limits = &self.config.sign_in_limits;
        if let Some(retry_after) =
            crate::ratelimit::check_code_guesses(&*self.store, limits, g.guardian_id, now).await?
        {
            return Err(ServiceError::RateLimited { retry_after, reason: "too many wrong pairing codes" });
        }
        let device_id = DeviceId::generate(now);
        let store = Arc::clone(&self.store);
        let outcome = self
            .store_sealed_device(&grant, device_id, &name, [0; 32], now, move |r| {
                let (store, code) = (Arc::clone(&store), code.clone());
                async move { store.approve_device_code(&code, &r, now).await }
            })
            .await?;
        match outcome {
            DeviceApproval::Approved => Ok(device_id),
            DeviceApproval::Unknown => {
                crate::ratelimit::code_guessed(&*self.store, limits, g.guardian_id, now).await?;
                Err(ServiceError::invalid(
                    "unknown_user_code",
                    "no device is waiting with this code: check the code on the device, or ask it for a new one",
                ))
            }
            DeviceApproval::Expired => {
                Err(ServiceError::invalid("user_code_expired", "this code has expired: ask the device for a new one"))
            }
            DeviceApproval::AlreadyApproved => Err(ServiceError::Conflict {
                code: "user_code_used",
                message: "this code has already paired a device".into(),
            }),
        }
    }

    /// A device polls with its device code (RFC 8628 §3.4).
    pub async fn poll_pairing(&self, device_code: &str, now: Timestamp) -> Result<PairingPoll> {
        if !device_code.starts_with(DEVICE_CODE_PREFIX) || device_code.len() > 100 {
            return Ok(PairingPoll::Wait("invalid_grant"));
        }
        let poll = self.store.poll_device_code(&token_hash(device_code), now, POLL_INTERVAL_SECS).await?;
        Ok(match poll {
            DevicePoll::Approved { device } => {
                PairingPoll::Token { token: device_token(device_code), device_id: device }
            }
            DevicePoll::Pending => PairingPoll::Wait("authorization_pending"),
            DevicePoll::SlowDown => PairingPoll::Wait("slow_down"),
            DevicePoll::Expired => PairingPoll::Wait("expired_token"),
            DevicePoll::Unknown | DevicePoll::Claimed => PairingPoll::Wait("invalid_grant"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_only_unambiguous_consonants_and_read_in_two_groups() {
        for _ in 0..200 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), USER_CODE_LEN);
            assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize_user_code(&grouped(&code).to_lowercase()).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalize_user_code(" wdjb-mjht "), Some("WDJBMJHT".to_owned()));
        assert_eq!(normalize_user_code("WDJB-MJH0"), None, "a digit is never in a code");
        assert_eq!(normalize_user_code("WDJBMJHTX"), None);
    }

    #[test]
    fn the_token_is_the_device_codes_own_and_a_device_token() {
        let a = device_token("kvp_one");
        assert!(a.starts_with(DEVICE_PREFIX));
        assert_eq!(a, device_token("kvp_one"));
        assert_ne!(a, device_token("kvp_two"));
    }
}
