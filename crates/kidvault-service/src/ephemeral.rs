//! Ephemeral audio (COPPA 16 CFR 312.5(c)(9)): a child's voice collected only
//! to answer one request, as a replacement for typed words, without consent.
//! The audio is held in memory for the length of the request: checked, handed
//! to the configured responder, and dropped. It is never written anywhere,
//! never becomes an item (so nothing can be derived from it), never goes
//! anywhere but the responder, and never reaches a log; only a count is kept.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use kidvault_domain::audio::parse_wav;
use kidvault_domain::entities::ChildStatus;

use crate::access::DeviceSession;
use crate::{Result, ServiceError, Vault};

/// The responder's answer, passed back to the device as is.
#[derive(Clone, Debug)]
pub struct Answer {
    pub content_type: String,
    pub body: Bytes,
}

/// How many ephemeral requests were answered (the only trace they leave).
#[derive(Debug, Default)]
pub struct EphemeralCount(AtomicU64);

impl EphemeralCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Vault {
    /// Answers one spoken request from a device of `child` without keeping it.
    pub async fn answer_ephemeral(
        &self,
        d: &DeviceSession,
        child: kidvault_domain::ids::ChildId,
        wav: Bytes,
    ) -> Result<Answer> {
        // Only a device of this child; a profile being deleted takes nothing.
        if d.ctx.child.child.id != child || d.ctx.child.child.status == ChildStatus::Deleting {
            return Err(ServiceError::NotFound);
        }
        let Some(url) = self.config.ephemeral_responder.as_deref() else {
            return Err(ServiceError::Conflict {
                code: "ephemeral_unavailable",
                message: "no responder is configured for ephemeral audio".into(),
            });
        };
        parse_wav(&wav, self.config.audio).map_err(|e| ServiceError::invalid("invalid_audio", e))?;
        let resp = self
            .http
            .post(url)
            .timeout(std::time::Duration::from_secs(10))
            .header(reqwest::header::CONTENT_TYPE, "audio/wav")
            .body(wav)
            .send()
            .await
            .map_err(|_| ServiceError::Internal("the ephemeral responder did not answer".into()))?;
        if !resp.status().is_success() {
            return Err(ServiceError::Internal(format!("the ephemeral responder answered {}", resp.status())));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let body = resp.bytes().await.map_err(|_| ServiceError::Internal("the responder's answer broke off".into()))?;
        self.ephemeral.0.fetch_add(1, Ordering::Relaxed);
        Ok(Answer { content_type, body })
    }

    /// Ephemeral requests answered by this process.
    pub fn ephemeral_count(&self) -> u64 {
        self.ephemeral.get()
    }
}
