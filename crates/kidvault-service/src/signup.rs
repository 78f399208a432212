//! Signing up without telling anyone which addresses have accounts.
//!
//! Where kidvault can send e-mail (a relay is configured, or the demo's
//! inbox), the portal's sign-up answers every address the same way: "we sent
//! you an e-mail". A new address gets a link that creates the account when it
//! is followed (once, within a day); an address that already has an account
//! gets a note saying so, and nothing changes. Both paths hash the password
//! and send one message, so neither the page nor its timing tells them apart.
//!
//! Without any way to send e-mail, the account is created at once
//! ([`Vault::register_guardian`]), which has to say when an address is taken.

use std::collections::VecDeque;

use kidvault_domain::localtime::Zone;
use kidvault_domain::Timestamp;
use kidvault_i18n::{t, Clock, Lang};
use kidvault_store::{PendingSignUp, StoreError};

use crate::tokens::{new_token, token_hash};
use crate::{Result, ServiceError, Vault};
use std::net::IpAddr;

/// What a sign-up link's token begins with.
const SIGN_UP_PREFIX: &str = "kvu_";

/// How long a sign-up link works.
const LINK_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// How many messages the demo's inbox keeps (oldest dropped first).
const DEMO_INBOX: usize = 50;

/// A message the demo would have e-mailed, kept in memory for its inbox page.
#[derive(Clone, Debug)]
pub struct DemoMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub at: Timestamp,
}

/// The demo's inbox: messages for addresses outside any household, which a
/// demo without a mail relay could not deliver otherwise. In memory only.
#[derive(Debug, Default)]
pub(crate) struct DemoInbox(std::sync::Mutex<Option<VecDeque<DemoMail>>>);

impl Vault {
    /// Turns the demo's inbox on (`serve --demo` without a relay).
    pub fn enable_demo_inbox(&self) {
        if let Ok(mut inbox) = self.demo_inbox.0.lock() {
            inbox.get_or_insert_with(VecDeque::new);
        }
    }

    /// The demo inbox's messages, newest first; `None` when it is off.
    pub fn demo_inbox(&self) -> Option<Vec<DemoMail>> {
        let inbox = self.demo_inbox.0.lock().ok()?;
        inbox.as_ref().map(|m| m.iter().rev().cloned().collect())
    }

    /// Whether sign-up confirms the address by e-mail here.
    pub fn signs_up_by_mail(&self) -> bool {
        self.mailer.is_some() || self.demo_inbox.0.lock().is_ok_and(|inbox| inbox.is_some())
    }

    /// Starts a sign-up: checks the details, then e-mails the address either a
    /// link that creates the account or a note that it has one already. The
    /// caller learns nothing about which (and tells the person to check their
    /// e-mail). `time_zone` and `lang` are the browser's, kept for the account.
    #[allow(clippy::too_many_arguments)]
    pub async fn begin_sign_up(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
        time_zone: Option<&str>,
        lang: Lang,
        from: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<()> {
        let limits = &self.config.sign_in_limits;
        if let Some(retry_after) = crate::ratelimit::check_sign_up(&*self.store, limits, from, now).await? {
            return Err(ServiceError::RateLimited { retry_after, reason: "too many new accounts from this network" });
        }
        let household_id = kidvault_domain::ids::HouseholdId::generate(now);
        let mut record = self.new_guardian_record(email, password, display_name, household_id, now).await?;
        let zone = time_zone.and_then(Zone::parse);
        record.guardian.time_zone = zone.map(|z| z.name().to_owned());
        record.guardian.language = Some(lang.code().to_owned());
        crate::ratelimit::signed_up(&*self.store, limits, from, now).await?;
        let to = record.guardian.email.clone();
        let pending = match self.store.guardian_by_email(&to).await? {
            Some(existing) => {
                let l = existing.guardian.language.as_deref().and_then(Lang::parse).unwrap_or(lang);
                self.send_account_mail(&to, &t!(l, "signup-exists-subject"), &t!(l, "signup-exists-body"), now).await?;
                return Ok(());
            }
            None => {
                let token = new_token(SIGN_UP_PREFIX)?;
                let expires_at = now + LINK_LIFETIME;
                let until = Clock::new(zone.unwrap_or_default(), lang).at(expires_at);
                let link = format!("/portal/sign-up/confirm/{token}");
                let body = t!(lang, "signup-confirm-body", link = link, until = until);
                self.send_account_mail(&to, &t!(lang, "signup-confirm-subject"), &body, now).await?;
                PendingSignUp { token_hash: token_hash(&token), household_id, record, expires_at }
            }
        };
        // Kept only once the link is on its way: a relay that refused the
        // message leaves nothing waiting for a link nobody received.
        self.store.create_sign_up(&pending).await?;
        Ok(())
    }

    /// Follows a sign-up link: creates the account (once) and signs its
    /// guardian in; returns the session's token. An unknown, used or expired
    /// link is `NotFound`.
    pub async fn finish_sign_up(&self, token: &str, now: Timestamp) -> Result<String> {
        if !token.starts_with(SIGN_UP_PREFIX) {
            return Err(ServiceError::NotFound);
        }
        match self.store.finish_sign_up(&token_hash(token), now).await {
            Ok(Some(record)) => self.open_session(&record, now).await,
            Ok(None) => Err(ServiceError::NotFound),
            Err(StoreError::Conflict(_)) => Err(crate::accounts::email_taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a message about an account to an address that may have none (so
    /// not through the household's notice outbox): by the relay, else into the
    /// demo's inbox.
    async fn send_account_mail(&self, to: &str, subject: &str, body: &str, now: Timestamp) -> Result<()> {
        let unavailable = |detail: String| ServiceError::Unavailable { detail, retry_after: 60 };
        if let Some(mailer) = &self.mailer {
            let sent = crate::notices::send_mail(mailer, &self.config.mail, to, subject, body, None).await;
            return sent.map_err(unavailable);
        }
        let mut inbox = self.demo_inbox.0.lock().map_err(|_| ServiceError::Internal("demo inbox".into()))?;
        let Some(inbox) = inbox.as_mut() else {
            return Err(unavailable("no mail relay".into()));
        };
        inbox.push_back(DemoMail { to: to.to_owned(), subject: subject.to_owned(), body: body.to_owned(), at: now });
        while inbox.len() > DEMO_INBOX {
            inbox.pop_front();
        }
        Ok(())
    }
}
