//! Service errors. Each has a stable machine-readable code; the HTTP layer maps the
//! [`ErrorKind`] to a status. Internal details never reach a caller.

use kidvault_crypto::CryptoError;
use kidvault_store::StoreError;

/// The class of a failure, which decides the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Invalid,
    Unauthenticated,
    /// Authenticated, known, but not allowed: e.g. no consent in force.
    Forbidden,
    /// Missing, or not visible to the caller: the two are indistinguishable.
    NotFound,
    Conflict,
    TooLarge,
    /// Too many attempts: retry after the given seconds.
    RateLimited,
    /// The storage is full: nothing was written.
    InsufficientStorage,
    /// The store cannot be reached now: retry after the given seconds.
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0}")]
    Unauthenticated(String),
    /// The password was right; the second factor is missing (`totp_required`) or wrong (`totp_invalid`).
    #[error("{message}")]
    SecondFactor { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    #[error("{reason}; try again in {retry_after} seconds")]
    RateLimited { retry_after: u64, reason: &'static str },
    #[error("the server's storage is full; nothing was stored, and nothing was lost. Try again later")]
    InsufficientStorage(String),
    #[error("the data store cannot be reached right now; nothing was changed. Try again in {retry_after} seconds")]
    Unavailable { detail: String, retry_after: u64 },
    #[error("internal error")]
    Internal(String),
    /// The store's files are damaged (a bad disk, a torn copy): the node says
    /// so on `/healthz` until it is restored.
    #[error("the data store is damaged")]
    Damaged(String),
    /// Sealed under a retired key epoch; the operation re-seals and retries.
    #[error("sealed under a retired key epoch")]
    Stale,
}

impl ServiceError {
    pub fn invalid(code: &'static str, message: impl std::fmt::Display) -> Self {
        ServiceError::Invalid { code, message: message.to_string() }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Invalid { .. } => ErrorKind::Invalid,
            ServiceError::Unauthenticated(_) | ServiceError::SecondFactor { .. } => ErrorKind::Unauthenticated,
            ServiceError::Forbidden { .. } => ErrorKind::Forbidden,
            ServiceError::NotFound => ErrorKind::NotFound,
            ServiceError::Conflict { .. } => ErrorKind::Conflict,
            ServiceError::TooLarge { .. } => ErrorKind::TooLarge,
            ServiceError::RateLimited { .. } => ErrorKind::RateLimited,
            ServiceError::InsufficientStorage(_) => ErrorKind::InsufficientStorage,
            ServiceError::Unavailable { .. } => ErrorKind::Unavailable,
            ServiceError::Internal(_) | ServiceError::Stale | ServiceError::Damaged(_) => ErrorKind::Internal,
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Invalid { code, .. }
            | ServiceError::Forbidden { code, .. }
            | ServiceError::Conflict { code, .. }
            | ServiceError::TooLarge { code, .. }
            | ServiceError::SecondFactor { code, .. } => code,
            ServiceError::Unauthenticated(_) => "unauthenticated",
            ServiceError::NotFound => "not_found",
            ServiceError::RateLimited { .. } => "rate_limited",
            ServiceError::InsufficientStorage(_) => "insufficient_storage",
            ServiceError::Unavailable { .. } => "store_unavailable",
            ServiceError::Internal(_) | ServiceError::Stale => "internal",
            ServiceError::Damaged(_) => "store_damaged",
        }
    }

    /// The message for the caller (internal details are logged, not returned).
    pub fn public_message(&self) -> String {
        match self {
            ServiceError::Internal(_) | ServiceError::Stale => "internal error; the operation did not complete".into(),
            ServiceError::Damaged(_) => {
                "the data store is damaged; the operation did not complete and the operator has been alerted".into()
            }
            ServiceError::NotFound => "no such resource".into(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::Conflict(m) => ServiceError::Conflict { code: "conflict", message: m },
            StoreError::Lineage(l) => ServiceError::invalid("invalid_derived_from", l),
            StoreError::StaleKeyEpoch => ServiceError::Internal("sealed under a retired key epoch".into()),
            StoreError::Full(m) => ServiceError::InsufficientStorage(m),
            StoreError::Unavailable(m) => ServiceError::Unavailable { detail: m, retry_after: 5 },
            StoreError::Backend(m) => ServiceError::Internal(m),
            StoreError::Corrupt(m) => ServiceError::Damaged(m),
        }
    }
}

impl From<CryptoError> for ServiceError {
    fn from(e: CryptoError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}
