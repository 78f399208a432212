//! Guardian accounts and authentication. Passwords are hashed with argon2id
//! (OWASP parameters); tokens are random and stored only as SHA-256.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use kidvault_domain::localtime::Zone;
use std::net::IpAddr;

use argon2::Argon2;
use kidvault_domain::entities::{parse_email, parse_label, Guardian};
use kidvault_domain::ids::{GuardianId, HouseholdId};
use kidvault_domain::Timestamp;
use kidvault_store::{GuardianRecord, InviteOutcome, InviteRecord, SessionRecord, StoreError};

pub use crate::principal::StaffSession;
use crate::principal::{DeviceSession, GuardianSession};
use crate::ratelimit;
use crate::tokens::{new_token, token_hash, DEVICE_PREFIX, INVITE_PREFIX, SESSION_PREFIX};
use crate::{Result, ServiceError, Vault};

pub(crate) fn email_taken() -> ServiceError {
    ServiceError::Conflict { code: "email_taken", message: "an account with this e-mail already exists".into() }
}

/// A hash verified against when the e-mail is unknown, so a wrong e-mail costs as
/// much time as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2cVqyrYAcSsbn0BzQ3ryRNCkCQRNvvX3ftRSdfASSWs";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ServiceError::Internal(e.to_string()))
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    kidvault_crypto::random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

impl Vault {
    /// Creates a household and its first guardian.
    /// Sign-ups are limited per client address (`from`), see [`ratelimit`].
    pub async fn register_guardian(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
        from: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<(GuardianId, HouseholdId)> {
        let limits = &self.config.sign_in_limits;
        if let Some(retry_after) = ratelimit::check_sign_up(&*self.store, limits, from, now).await? {
            return Err(ServiceError::RateLimited { retry_after, reason: "too many new accounts from this network" });
        }
        let household_id = HouseholdId::generate(now);
        let record = self.new_guardian_record(email, password, display_name, household_id, now).await?;
        ratelimit::signed_up(&*self.store, limits, from, now).await?;
        match self.store.create_household(household_id, &record).await {
            Ok(()) => Ok((record.guardian.id, household_id)),
            Err(StoreError::Conflict(_)) => Err(email_taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a new guardian's details and hashes the password.
    pub(crate) async fn new_guardian_record(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
        household_id: HouseholdId,
        now: Timestamp,
    ) -> Result<GuardianRecord> {
        let email =
            parse_email(email).ok_or_else(|| ServiceError::invalid("invalid_email", "email is not a valid address"))?;
        let len = password.chars().count();
        if !(12..=256).contains(&len) {
            return Err(ServiceError::invalid("weak_password", "password must be 12 to 256 characters"));
        }
        let name = parse_label(display_name, 64)
            .ok_or_else(|| ServiceError::invalid("invalid_display_name", "display_name must be 1 to 64 characters"))?;
        let password = password.to_owned();
        let password_hash = blocking(move || hash_password(&password)).await??;
        let guardian = Guardian {
            id: GuardianId::generate(now),
            household_id,
            email,
            display_name: name,
            created_at: now,
            time_zone: None,
            language: None,
        };
        Ok(GuardianRecord { guardian, password_hash })
    }

    /// Invites another guardian into the household: a single-use token (shown
    /// once; the link is `/portal/invite/<token>`) valid for 7 days.
    pub async fn invite_guardian(&self, g: &GuardianSession, now: Timestamp) -> Result<(String, Timestamp)> {
        let token = new_token(INVITE_PREFIX)?;
        let expires_at = now + chrono::Duration::days(7);
        self.store
            .create_invite(&InviteRecord {
                token_hash: token_hash(&token),
                household_id: g.household_id,
                invited_by: g.guardian_id,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok((token, expires_at))
    }

    /// Accepts an invitation: creates the guardian in the inviting household.
    /// An unknown, used or expired invitation is refused and changes nothing.
    pub async fn accept_invite(
        &self,
        token: &str,
        email: &str,
        password: &str,
        display_name: &str,
        now: Timestamp,
    ) -> Result<(GuardianId, HouseholdId)> {
        let record = self.new_guardian_record(email, password, display_name, HouseholdId::generate(now), now).await?;
        let guardian_id = record.guardian.id;
        let outcome = match self.store.accept_invite(&token_hash(token), &record, now).await {
            Err(StoreError::Conflict(_)) => return Err(email_taken()),
            other => other?,
        };
        match outcome {
            InviteOutcome::Accepted { household } => Ok((guardian_id, household)),
            InviteOutcome::Unknown => Err(ServiceError::NotFound),
            InviteOutcome::Used => Err(ServiceError::Conflict {
                code: "invite_used",
                message: "this invitation has already been used; ask for a new one".into(),
            }),
            InviteOutcome::Expired => {
                Err(ServiceError::invalid("invite_expired", "this invitation has expired; ask for a new one"))
            }
            InviteOutcome::HouseholdClosing => Err(ServiceError::Conflict {
                code: "household_closing",
                message: "the household's account is being closed".into(),
            }),
        }
    }

    /// Signs a guardian in; returns a bearer token valid for the session TTL.
    /// Failures are throttled per account and per client address (`from`):
    /// past the limits an attempt is refused before its password is checked.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        second: Option<&str>,
        from: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<String> {
        let limits = &self.config.sign_in_limits;
        if let Some(retry_after) = ratelimit::check(&*self.store, limits, email, from, now).await? {
            return Err(ServiceError::RateLimited { retry_after, reason: "too many failed attempts" });
        }
        let record = match parse_email(email) {
            Some(e) => self.store.guardian_by_email(&e).await?,
            None => None,
        };
        let hash = record.as_ref().map_or(DUMMY_HASH.to_owned(), |r| r.password_hash.clone());
        let password = password.to_owned();
        let ok = blocking(move || verify_password(&password, &hash)).await?;
        let record = match (ok, record) {
            (true, Some(r)) => r,
            _ => {
                ratelimit::failed(&*self.store, limits, email, from, now).await?;
                return Err(ServiceError::Unauthenticated("e-mail or password is wrong".into()));
            }
        };
        match self.second_factor(record.guardian.id, second, now).await {
            Err(e @ ServiceError::SecondFactor { code: "totp_invalid", .. }) => {
                ratelimit::failed(&*self.store, limits, email, from, now).await?;
                return Err(e);
            }
            other => other?,
        }
        ratelimit::succeeded(&*self.store, email, from).await?;
        self.open_session(&record, now).await
    }

    /// A new session for a guardian who has just proved who they are.
    pub(crate) async fn open_session(&self, record: &GuardianRecord, now: Timestamp) -> Result<String> {
        let token = new_token(SESSION_PREFIX)?;
        self.store
            .create_session(&SessionRecord {
                token_hash: token_hash(&token),
                guardian_id: record.guardian.id,
                household_id: record.guardian.household_id,
                created_at: now,
                expires_at: now + self.config.session_ttl,
                revoked_at: None,
                label: None,
            })
            .await?;
        Ok(token)
    }

    /// Checks the signed-in guardian's password again (before closing the account).
    pub(crate) async fn confirm_password(&self, g: &GuardianSession, password: &str) -> Result<()> {
        let record = self.store.guardian(g.guardian_id).await?.ok_or(ServiceError::NotFound)?;
        let (password, hash) = (password.to_owned(), record.password_hash);
        if !blocking(move || verify_password(&password, &hash)).await? {
            return Err(ServiceError::Forbidden { code: "wrong_password", message: "the password is wrong".into() });
        }
        Ok(())
    }

    /// The signed-in guardian's account (name and e-mail for the portal's header).
    /// The name of another guardian of the caller's own household (`None`
    /// for anyone else, or a guardian who has left).
    pub async fn household_guardian_name(&self, g: &GuardianSession, id: GuardianId) -> Result<Option<String>> {
        let other = self.store.guardian(id).await?;
        Ok(other.filter(|o| o.guardian.household_id == g.household_id).map(|o| o.guardian.display_name))
    }

    pub async fn guardian_profile(&self, g: &GuardianSession) -> Result<Guardian> {
        Ok(self.store.guardian(g.guardian_id).await?.ok_or(ServiceError::NotFound)?.guardian)
    }

    /// Sets the time zone the guardian reads times in (an IANA name such as
    /// `America/Los_Angeles`); anything else is refused and changes nothing.
    pub async fn set_time_zone(&self, g: &GuardianSession, name: &str) -> Result<Zone> {
        let zone = Zone::parse(name).ok_or_else(|| {
            ServiceError::invalid("invalid_time_zone", "a time zone name such as America/Los_Angeles or Europe/Madrid")
        })?;
        if !self.store.set_time_zone(g.guardian_id, Some(zone.name())).await? {
            return Err(ServiceError::NotFound);
        }
        Ok(zone)
    }

    /// Sets the language the guardian reads kidvault in (and notices are
    /// written in); a language kidvault does not have is refused.
    pub async fn set_language(&self, g: &GuardianSession, tag: &str) -> Result<kidvault_i18n::Lang> {
        let lang = kidvault_i18n::Lang::parse(tag).ok_or_else(|| {
            ServiceError::invalid("unknown_language", "kidvault is written in English (en) and Spanish (es)")
        })?;
        if !self.store.set_language(g.guardian_id, Some(lang.code())).await? {
            return Err(ServiceError::NotFound);
        }
        Ok(lang)
    }

    /// Adopts what the guardian's browser reports, each only while they have
    /// not chosen it (at sign-up and sign-in): the language they read the
    /// portal in (so notices reach them in it) and the zone (a name that is not
    /// a zone is ignored).
    pub async fn adopt_browser_settings(
        &self,
        g: &GuardianSession,
        lang: kidvault_i18n::Lang,
        zone: Option<&str>,
    ) -> Result<()> {
        let current = self.store.guardian(g.guardian_id).await?.ok_or(ServiceError::NotFound)?.guardian;
        if current.language.is_none() {
            self.store.set_language(g.guardian_id, Some(lang.code())).await?;
        }
        if let (None, Some(zone)) = (&current.time_zone, zone.and_then(Zone::parse)) {
            self.store.set_time_zone(g.guardian_id, Some(zone.name())).await?;
        }
        Ok(())
    }

    /// The guardian's live sessions, newest first; `current` marks the one
    /// presenting `token`. A session's id is the hex SHA-256 of its token:
    /// enough to name it, useless to sign in with.
    pub async fn sessions(&self, g: &GuardianSession, token: &str, now: Timestamp) -> Result<Vec<SessionView>> {
        let current = token_hash(token);
        Ok(self
            .store
            .sessions_of(g.guardian_id, now)
            .await?
            .into_iter()
            .map(|s| SessionView {
                id: hex::encode(s.token_hash),
                current: s.token_hash == current,
                created_at: s.created_at,
                expires_at: s.expires_at,
                label: s.label,
            })
            .collect())
    }

    /// Names a new session by the browser or app that signed in (its
    /// User-Agent, reduced to a fixed vocabulary: nothing else of it is kept).
    pub async fn name_session(&self, token: &str, user_agent: Option<&str>) -> Result<()> {
        let Some(label) = user_agent.map(session_label) else {
            return Ok(());
        };
        Ok(self.store.label_session(&token_hash(token), &label).await?)
    }

    /// Revokes one of the guardian's own sessions by id (another's is not found).
    pub async fn revoke_session(&self, g: &GuardianSession, id: &str, now: Timestamp) -> Result<()> {
        let hash: [u8; 32] = hex::decode(id).ok().and_then(|b| b.try_into().ok()).ok_or(ServiceError::NotFound)?;
        match self.store.session(&hash).await? {
            Some(s) if s.guardian_id == g.guardian_id => Ok(self.store.revoke_session(&hash, now).await?),
            _ => Err(ServiceError::NotFound),
        }
    }

    /// Ends a session.
    pub async fn sign_out(&self, token: &str, now: Timestamp) -> Result<()> {
        Ok(self.store.revoke_session(&token_hash(token), now).await?)
    }

    /// Resolves a guardian bearer token.
    pub async fn authenticate_guardian(&self, token: &str, now: Timestamp) -> Result<GuardianSession> {
        let bad = || ServiceError::Unauthenticated("a valid guardian session token is required".into());
        if !token.starts_with(SESSION_PREFIX) {
            return Err(bad());
        }
        let s = self.store.session(&token_hash(token)).await?.ok_or_else(bad)?;
        if s.revoked_at.is_some() || s.expires_at <= now {
            return Err(bad());
        }
        Ok(GuardianSession { guardian_id: s.guardian_id, household_id: s.household_id })
    }

    /// Resolves a device bearer token. A revoked device is no longer a device.
    pub async fn authenticate_device(&self, token: &str) -> Result<DeviceSession> {
        let bad = || ServiceError::Unauthenticated("a valid device token is required".into());
        if !token.starts_with(DEVICE_PREFIX) {
            return Err(bad());
        }
        let ctx = self.store.ingest_context(&token_hash(token)).await?.ok_or_else(bad)?;
        if ctx.device.device.revoked_at.is_some() {
            return Err(bad());
        }
        Ok(DeviceSession { ctx })
    }
}

/// A live session as its guardian sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub id: String,
    pub current: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// "Chrome on Android", when known.
    pub label: Option<String>,
}

/// A User-Agent as a person would name it: "Chrome on Android", "Safari on an
/// iPhone", "Firefox on Windows"; anything else is "A browser or app".
pub fn session_label(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.starts_with("curl/") {
        "curl"
    } else {
        "A browser or app"
    };
    let system = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") {
        Some("an iPhone")
    } else if ua.contains("iPad") {
        Some("an iPad")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("CrOS") {
        Some("a Chromebook")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("a Mac")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match system {
        Some(s) => format!("{browser} on {s}"),
        None => browser.to_owned(),
    }
}

/// The portal's anti-forgery token for a guardian session: an HMAC of a fixed
/// label under the session token, so it needs no storage, dies with the session,
/// and cannot be computed by a page that cannot read the (HttpOnly) cookie.
pub fn csrf_token(session_token: &str) -> String {
    hex::encode(kidvault_crypto::hmac_sha256(session_token.as_bytes(), b"kidvault portal csrf v1"))
}

/// Whether `given` is the anti-forgery token of `session_token` (constant time).
pub fn csrf_valid(session_token: &str, given: &str) -> bool {
    hex::decode(given).is_ok_and(|tag| {
        kidvault_crypto::hmac_sha256_verify(session_token.as_bytes(), b"kidvault portal csrf v1", &tag)
    })
}

/// A random single-use value for forms shown before sign-in (double-submitted
/// as a cookie and a field).
pub fn form_nonce() -> Result<String> {
    let mut b = [0u8; 16];
    kidvault_crypto::random_bytes(&mut b)?;
    Ok(hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_is_a_valid_argon2id_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything", DUMMY_HASH));
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
    }
}

#[cfg(test)]
mod label_tests {
    use super::session_label;

    #[test]
    fn sessions_are_named_as_people_name_their_browsers() {
        let pixel = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        assert_eq!(session_label(pixel), "Chrome on Android");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        assert_eq!(session_label(iphone), "Safari on an iPhone");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        assert_eq!(session_label(edge), "Edge on Windows");
        assert_eq!(
            session_label("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            "Firefox on Linux"
        );
        assert_eq!(session_label("curl/8.5.0"), "curl");
        assert_eq!(session_label("reqwest"), "A browser or app");
    }
}
