//! Bearer tokens: 256 random bits, prefixed by what they are for. Only their
//! SHA-256 is stored, so a copy of the database holds no usable token.

use base64::Engine;

use crate::Result;

pub(crate) const SESSION_PREFIX: &str = "kvs_";
pub(crate) const DEVICE_PREFIX: &str = "kvd_";
pub(crate) const STAFF_PREFIX: &str = "kva_";
/// A staff sign-in key: the first of two factors, exchanged (with a TOTP code) for a session.
pub(crate) const STAFF_KEY_PREFIX: &str = "kvk_";
pub(crate) const INVITE_PREFIX: &str = "kvi_";
pub(crate) const CONFIRM_PREFIX: &str = "kvc_";

pub(crate) fn new_token(prefix: &str) -> Result<String> {
    let mut raw = [0u8; 32];
    kidvault_crypto::random_bytes(&mut raw)?;
    Ok(format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)))
}

pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    kidvault_crypto::sha256(token.as_bytes())
}
