//! Optional two-step sign-in for guardians: TOTP (any authenticator app) with
//! ten single-use recovery codes. The secret is wrapped by the root key; only
//! hashes of recovery codes are kept; no code works twice.

use kidvault_crypto::totp;
use kidvault_crypto::SecretKey;
use kidvault_domain::ids::GuardianId;
use kidvault_domain::Timestamp;
use kidvault_store::StoreError;

use crate::principal::GuardianSession;
use crate::{Result, ServiceError, Vault};

/// What the guardian enters in their authenticator app.
#[derive(Clone)]
pub struct TotpEnrolment {
    /// Base32, for typing in.
    pub secret: String,
    /// `otpauth://totp/...`, for apps that take a link.
    pub uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(<secret>)")
    }
}

fn context(g: GuardianId) -> Vec<u8> {
    [b"kidvault totp v1".as_slice(), g.as_bytes()].concat()
}

/// The 20-byte TOTP secret carried by a wrapped key.
fn secret_of(key: &SecretKey) -> &[u8] {
    &key.expose()[..20]
}

fn normalize(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase()
}

fn new_recovery_code() -> Result<String> {
    let mut b = [0u8; 5];
    kidvault_crypto::random_bytes(&mut b)?;
    let s = totp::base32(&b).to_ascii_lowercase(); // 8 characters
    Ok(format!("{}-{}", &s[..4], &s[4..]))
}

impl Vault {
    /// Whether two-step sign-in is on for the guardian.
    pub async fn totp_enabled(&self, g: &GuardianSession) -> Result<bool> {
        Ok(self.store.totp(g.guardian_id).await?.is_some_and(|t| t.enabled_at.is_some()))
    }

    /// The set-up started and not yet confirmed, if any (its key, as given).
    pub async fn totp_pending(&self, g: &GuardianSession) -> Result<Option<TotpEnrolment>> {
        match self.store.totp(g.guardian_id).await?.filter(|t| t.enabled_at.is_none()) {
            None => Ok(None),
            Some(t) => {
                let key = self.keys.unwrap_other(&context(g.guardian_id), &t.secret_wrapped)?;
                Ok(Some(self.enrolment(g, &key).await?))
            }
        }
    }

    async fn enrolment(&self, g: &GuardianSession, key: &SecretKey) -> Result<TotpEnrolment> {
        let email = self.store.guardian(g.guardian_id).await?.map(|r| r.guardian.email).unwrap_or_default();
        let secret = totp::base32(secret_of(key));
        let uri = format!("otpauth://totp/kidvault:{email}?secret={secret}&issuer=kidvault&digits=6&period=30");
        Ok(TotpEnrolment { secret, uri })
    }

    /// Starts enrolment: a secret, the same until confirmed; on only after a first code.
    pub async fn totp_begin(&self, g: &GuardianSession) -> Result<TotpEnrolment> {
        // A set-up already started and not confirmed keeps its key: a reload,
        // or asking again, never changes what the app was given.
        let pending = self.store.totp(g.guardian_id).await?.filter(|t| t.enabled_at.is_none());
        let key = match pending {
            Some(t) => self.keys.unwrap_other(&context(g.guardian_id), &t.secret_wrapped)?,
            None => {
                let key = SecretKey::generate()?;
                let wrapped = self.keys.wrap_other(&context(g.guardian_id), &key)?;
                self.store.begin_totp(g.guardian_id, &wrapped).await.map_err(|e| match e {
                    StoreError::Conflict(m) => ServiceError::Conflict { code: "totp_already_on", message: m },
                    e => e.into(),
                })?;
                key
            }
        };
        self.enrolment(g, &key).await
    }

    /// Turns two-step sign-in on with a first code from the app; returns the
    /// recovery codes (shown only now).
    pub async fn totp_enable(&self, g: &GuardianSession, code: &str, now: Timestamp) -> Result<Vec<String>> {
        let record = self.store.totp(g.guardian_id).await?.filter(|t| t.enabled_at.is_none()).ok_or_else(|| {
            ServiceError::Conflict {
                code: "totp_not_started",
                message: "start setting up two-step sign-in first".into(),
            }
        })?;
        let key = self.keys.unwrap_other(&context(g.guardian_id), &record.secret_wrapped)?;
        let step = totp::verify(secret_of(&key), code, now.timestamp(), None)
            .ok_or_else(|| ServiceError::invalid("totp_invalid", "that code is not right; check the app's clock"))?;
        let codes = (0..10).map(|_| new_recovery_code()).collect::<Result<Vec<_>>>()?;
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| kidvault_crypto::sha256(normalize(c).as_bytes())).collect();
        self.store.enable_totp(g.guardian_id, now, step, &hashes).await?;
        Ok(codes)
    }

    /// Turns two-step sign-in off (password again).
    pub async fn totp_disable(&self, g: &GuardianSession, password: &str) -> Result<()> {
        self.confirm_password(g, password).await?;
        Ok(self.store.disable_totp(g.guardian_id).await?)
    }

    /// The second step of signing in, when the guardian has it on: a current
    /// code from the app, or an unused recovery code. `Ok(())` when off.
    pub(crate) async fn second_factor(&self, guardian: GuardianId, code: Option<&str>, now: Timestamp) -> Result<()> {
        let Some(record) = self.store.totp(guardian).await?.filter(|t| t.enabled_at.is_some()) else {
            return Ok(());
        };
        let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(ServiceError::SecondFactor {
                code: "totp_required",
                message: "enter the code from your authenticator app (or a recovery code)".into(),
            });
        };
        let invalid = || ServiceError::SecondFactor { code: "totp_invalid", message: "that code is not right".into() };
        let key = self.keys.unwrap_other(&context(guardian), &record.secret_wrapped)?;
        if let Some(step) = totp::verify(secret_of(&key), code, now.timestamp(), record.last_step) {
            return if self.store.use_totp_step(guardian, step).await? { Ok(()) } else { Err(invalid()) };
        }
        let hash = kidvault_crypto::sha256(normalize(code).as_bytes());
        if self.store.use_recovery_code(guardian, &hash, now).await? {
            return Ok(());
        }
        Err(invalid())
    }
}
