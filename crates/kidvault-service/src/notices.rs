//! The notice outbox's worker and the guardian's mailbox.
//!
//! Events write their notices in their own store transaction
//! ([`kidvault_domain::notice`]); [`Vault::deliver_notices`] claims the due ones
//! with a lease, delivers each, and records the outcome. In the embedded default
//! there is no mail relay: delivery puts the notice in the portal's mailbox. A
//! notice is never lost to a crash: one claimed and not recorded is due again
//! when its lease runs out.
//!
//! With a relay configured (`smtp_url`), each notice is also e-mailed to the
//! guardian, with the notice's id as its `Message-ID`, so the rare duplicate a
//! crash between sending and recording can cause is recognisable as one.

use crate::principal::{Action, Actor};
use crate::ServiceError;
use kidvault_domain::deletion::DeletionScope;
use kidvault_domain::downstream::backoff;
use kidvault_domain::ids::{ChildId, GuardianId};
use kidvault_domain::localtime::mark_at;
use kidvault_domain::notice::{mark_child, marked_children, name_children};
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::Timestamp;
pub use kidvault_store::NoticeRecord;
use kidvault_store::{DeletionRecord, NoticeDelivery};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

use crate::principal::GuardianSession;
use crate::{Result, Vault};

/// How long a claimed notice is reserved for its claimant.
const LEASE: chrono::Duration = chrono::Duration::minutes(2);
const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_CAP: Duration = Duration::from_secs(3600);

impl Vault {
    /// Delivers every notice due at `now` (a batch); returns how many were delivered.
    pub async fn deliver_notices(&self, now: Timestamp) -> Result<usize> {
        let due = self.store.claim_due_notices(now, now + LEASE, 64).await?;
        let mut delivered = 0;
        // Each recipient's zone and language, read once per batch (e-mail only).
        let mut zones: HashMap<GuardianId, kidvault_i18n::Clock> = HashMap::new();
        for n in &due {
            let outcome = match self.send_notice(n, &mut zones).await {
                Ok(via) => NoticeDelivery::Delivered { via: via.into() },
                Err(error) => {
                    tracing::warn!(notice = %n.id, attempt = n.attempts, error, "notice delivery failed");
                    let wait = backoff(n.attempts, RETRY_BASE, RETRY_CAP, crate::downstream::unit_random());
                    let retry_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                    NoticeDelivery::Failed { error, retry_at }
                }
            };
            delivered += usize::from(matches!(outcome, NoticeDelivery::Delivered { .. }));
            self.store.record_notice_delivery(n.id, now, &outcome).await?;
        }
        Ok(delivered)
    }

    /// Hands one notice to its channel; returns the channel's name.
    async fn send_notice(
        &self,
        n: &NoticeRecord,
        zones: &mut HashMap<GuardianId, kidvault_i18n::Clock>,
    ) -> std::result::Result<&'static str, String> {
        let Some(mailer) = &self.mailer else {
            // No relay configured: the portal's mailbox is the channel, and the
            // row the event wrote is already in it.
            return Ok("mailbox");
        };
        let cfg = &self.config.mail;
        // The text is written in the reader's own language, its times in their zone.
        let clock = match zones.get(&n.guardian_id) {
            Some(c) => *c,
            None => {
                let g = self.store.guardian(n.guardian_id).await.map_err(|e| e.to_string())?;
                let c = g.map(|g| reader_clock(&g.guardian)).unwrap_or_default();
                zones.insert(n.guardian_id, c);
                c
            }
        };
        let write = |text: &str| unnamed(clock.lang, &clock.render(&clock.lang.render(text)));
        let id = Some(format!("<{}@kidvault>", n.id));
        send_mail(mailer, cfg, &n.email, &write(&n.subject), &write(&n.body), id).await.map(|_| "smtp")
    }

    /// The signed-in guardian's notices, newest first, written in `lang` (the
    /// language they read the portal in), their times in the guardian's zone.
    pub async fn mailbox(
        &self,
        g: &GuardianSession,
        lang: kidvault_i18n::Lang,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<NoticeRecord>> {
        let zone = self.store.guardian(g.guardian_id).await?.map(|r| r.guardian.zone()).unwrap_or_default();
        let clock = kidvault_i18n::Clock::new(zone, lang);
        let mut notices = self.store.notices_for(g.guardian_id, limit.clamp(1, 200)).await?;
        // In the reader's language and zone first: a message's values carry
        // the markers of the children it names.
        for n in &mut notices {
            n.subject = clock.render(&lang.render(&n.subject));
            n.body = clock.render(&lang.render(&n.body));
        }
        // The children the notices name, each read once (a recorded read).
        let mut named: Vec<ChildId> = Vec::new();
        for n in &notices {
            for child in marked_children(&n.subject).into_iter().chain(marked_children(&n.body)) {
                if !named.contains(&child) {
                    named.push(child);
                }
            }
        }
        let mut names: HashMap<ChildId, String> = HashMap::new();
        for child in named {
            if let Some(name) = self.child_name(g, child, now).await? {
                names.insert(child, name);
            }
        }
        let your_child = lang.text("notice-your-child");
        let name = |id: ChildId| names.get(&id).cloned().unwrap_or_else(|| your_child.clone());
        for n in &mut notices {
            n.subject = name_children(&n.subject, name);
            n.body = name_children(&n.body, name);
        }
        Ok(notices)
    }

    /// A child's name for the guardian's mailbox (`None`, "your child", once
    /// the child is deleted, or is not theirs).
    async fn child_name(&self, g: &GuardianSession, child: ChildId, now: Timestamp) -> Result<Option<String>> {
        let grant = match self.authorize(Actor::Guardian(g), child, Action::ViewChild).await {
            Ok(grant) => grant,
            Err(ServiceError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let record = grant.child();
        let bytes =
            match self.open(&grant, record.child.id.as_bytes(), None, "profile.read", &record.profile, now).await {
                Ok(b) => b,
                Err(ServiceError::NotFound) => return Ok(None),
                Err(e) => return Err(e),
            };
        let profile: kidvault_domain::entities::ChildProfile =
            serde_json::from_slice(&bytes).map_err(|e| ServiceError::Internal(format!("child profile: {e}")))?;
        Ok(Some(profile.display_name))
    }
}

/// Where notices go besides the portal's mailbox.
#[derive(Clone, Debug, Default)]
pub struct MailConfig {
    /// `smtp://host:port` (plain, for a local relay), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465`; `None`: the mailbox only.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `kidvault <no-reply@example.org>`.
    pub from: String,
    /// The portal's public address, so links in e-mails are absolute.
    pub public_url: Option<String>,
}

/// Builds the SMTP transport for a relay URL.
pub fn mailer(url: &str) -> Result<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>> {
    Ok(lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
        .map_err(|e| crate::ServiceError::Internal(format!("smtp_url: {e}")))?
        .timeout(Some(Duration::from_secs(10)))
        .build())
}

/// A notice's text for e-mail: children are "your child" (a child's name does
/// not travel through mail servers).
fn unnamed(lang: kidvault_i18n::Lang, text: &str) -> String {
    name_children(text, |_| lang.text("notice-your-child"))
}

/// How a guardian reads: their zone, and their language (English until chosen).
pub(crate) fn reader_clock(g: &kidvault_domain::entities::Guardian) -> kidvault_i18n::Clock {
    let lang = g.language.as_deref().and_then(kidvault_i18n::Lang::parse).unwrap_or_default();
    kidvault_i18n::Clock::new(g.zone(), lang)
}

/// Sends one plain-text message by the relay; portal paths in `body` become
/// absolute links. `message_id` lets a resent copy be recognised as one.
pub(crate) async fn send_mail(
    mailer: &lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    cfg: &MailConfig,
    to: &str,
    subject: &str,
    body: &str,
    message_id: Option<String>,
) -> std::result::Result<(), String> {
    let message = lettre::Message::builder()
        .from(cfg.from.parse().map_err(|e| format!("mail_from: {e}"))?)
        .to(to.parse().map_err(|e| format!("recipient: {e}"))?)
        .subject(subject)
        .message_id(message_id)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(absolute_links(body, cfg.public_url.as_deref()))
        .map_err(|e| e.to_string())?;
    lettre::AsyncTransport::send(mailer, message).await.map(|_| ()).map_err(|e| e.to_string())
}

/// Portal paths on a line of their own become absolute links in e-mail.
fn absolute_links(body: &str, public_url: Option<&str>) -> String {
    let Some(base) = public_url.map(|b| b.trim_end_matches('/')) else {
        return body.to_owned();
    };
    body.lines()
        .map(|l| if l.starts_with("/portal") { format!("{base}{l}") } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The "deletion completed" notice: what went, by kind, and where the receipt is.
/// Ids and counts only; no child content.
pub(crate) fn deletion_completed(d: &DeletionRecord, kinds: &BTreeMap<&'static str, u64>, items: usize) -> NewNotice {
    use kidvault_i18n::mark;
    let what = match &d.scope {
        DeletionScope::Item { .. } => mark("notice-what-item", &[]),
        DeletionScope::Items { .. } => mark("notice-what-items", &[("child", &mark_child(d.child_id))]),
        DeletionScope::Child => mark("notice-what-child", &[]),
    };
    let counted: Vec<String> = kinds
        .iter()
        .filter(|(kind, _)| kidvault_domain::item::ItemKind::parse(kind).is_some())
        .map(|(kind, n)| mark("count-items", &[("kind", kind), ("n", &n.to_string())]))
        .collect();
    let counted = if counted.is_empty() { mark("notice-nothing-else", &[]) } else { counted.join(", ") };
    let body = mark(
        "notice-deletion-body",
        &[
            ("what", &what),
            ("why", &mark("deletion-reason", &[("reason", d.reason.as_str())])),
            ("requested", &mark_at(d.requested_at)),
            ("items", &items.to_string()),
            ("counted", &counted),
            ("id", &d.id.to_string()),
        ],
    );
    NewNotice { kind: NoticeKind::DeletionCompleted, subject: mark("notice-deletion-subject", &[]), body }
}
