//! # kidvault-service
//!
//! The operations kidvault offers, each one call that takes `now` and a principal:
//! - [`accounts`]: guardian sign-up and sessions (argon2id, bearer tokens stored hashed).
//! - [`children`]: child profiles (sealed), verifiable consent, scope withdrawal.
//! - [`devices`]: pairing and revoking the devices that collect for a child.
//! - [`ingest`]: device ingest of recordings, derived items and locations, with
//!   consent checked on every request and lineage recorded at ingest.
//! - [`review`]: a guardian reading items and their decrypted content.
//! - [`deletion`]: deletion requests and the durable, resumable pipeline that
//!   makes them complete (lineage, crypto-shredding, key rotation) and provable.
//! - [`downstream`]: processors outside kidvault that must delete their copies;
//!   signed webhooks, retries, acknowledgements, deadlines.
//! - [`ledger`]: checkpoints, entries and proofs of the tamper-evident log that
//!   every consent change and every access to child data is written to.
//!
//! Two structural rules:
//! 1. **One authorization point.** Every access to a child's data goes through
//!    [`access::Vault::authorize`], which returns a [`access::Grant`] that only
//!    this module can mint. Reading child content requires a `Grant` and the same
//!    call appends the access record; there is no other path to plaintext.
//! 2. **Sealed at rest.** Child content is sealed here, under a fresh data key
//!    wrapped by the child's key ([`keyring`]), before anything reaches a store.

pub mod access;
pub mod access_policy;
pub mod accounts;
mod autodelete;
mod batch;
pub mod children;
pub mod datasets;
pub mod deletion;
pub mod deployment;
pub mod devices;
pub mod disclosure;
pub mod downstream;
pub mod ephemeral;
mod error;
pub mod export;
pub mod family_policy;
mod fault;
pub mod ingest;
pub mod keyring;
pub mod leases;
pub mod ledger;
pub mod lineage;
pub mod notices;
pub mod pairing;
pub mod principal;
pub mod ratelimit;
pub mod reseal;
pub mod review;
pub mod signup;
pub mod staff;
pub mod storage;
pub mod sweeps;
mod tokens;
pub mod twofactor;
pub mod zipstream;

use std::sync::Arc;

use kidvault_crypto::KeyProvider;
use kidvault_domain::audio::AudioLimits;
use kidvault_store::{BlobStore, Keystore, Store};

pub use error::{ErrorKind, ServiceError};
pub use kidvault_domain as domain;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Settings the operations need.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// The privacy notice in force. Consent must name it; consents given to an
    /// older notice do not allow new collection (COPPA 312.5, material change).
    pub notice_version: String,
    pub audio: AudioLimits,
    /// Largest derived item (transcript, intent, ...) in bytes.
    pub max_item_bytes: usize,
    pub session_ttl: chrono::Duration,
    /// How far a device's clock may run ahead of ours.
    pub clock_skew: chrono::Duration,
    pub downstream: downstream::DownstreamConfig,
    /// How long a flagged model has to be retrained without the data or destroyed.
    pub retrain_deadline: chrono::Duration,
    /// Where OpenLineage events for datasets and models go.
    pub lineage: lineage::LineageConfig,
    /// After an account closure's deletions complete, how long the guardian can
    /// still sign in to download the receipts before the account is purged.
    pub closure_grace: chrono::Duration,
    /// How long a kidvault backup can be restored before its sealing key is
    /// destroyed (what deletion receipts promise about backups).
    pub backup_window: chrono::Duration,
    /// How often the keystore is sealed again under the seal chain's next
    /// generation (`None`: never; see [`reseal`]).
    pub reseal_every: Option<chrono::Duration>,
    /// Whether this start created the seal chain's file (see [`keyring::KeyRing::join_chain`]).
    pub seal_chain_created: bool,
    pub sign_in_limits: ratelimit::SignInLimits,
    /// The written retention policy: drives the sweeps, renders the published
    /// text; its version is part of the notice version in force.
    pub retention: kidvault_domain::retention::RetentionPolicy,
    /// Notices by e-mail (besides the portal's mailbox).
    pub mail: notices::MailConfig,
    /// Where ephemeral audio is sent to be answered (`None`: not offered).
    pub ephemeral_responder: Option<String>,
    /// How long a lease on background work lasts unless renewed: how soon
    /// another node takes over the work of one that died.
    pub lease_ttl: chrono::Duration,
    /// This node as a lease holder. Stable across restarts of one deployment
    /// directory (a node restarted after a crash resumes its own leases at once);
    /// distinct between nodes.
    pub node_id: uuid::Uuid,
    /// Where the latest checkpoint this deployment signed is kept, outside the
    /// data store (beside the keys): a restored data store cannot make the
    /// server sign a fork of its own ledger unnoticed. `None`: not kept.
    pub checkpoint_anchor: Option<std::path::PathBuf>,
    /// Where this deployment's data store and keys are, in words (for the
    /// messages that refuse a start).
    pub locations: String,
    /// Which staff role may do what, for which purpose (validated Cedar).
    pub access_policy: Arc<access_policy::AccessPolicy>,
    /// Where the access policy was read from (`None`: the shipped one), read
    /// again on a reload.
    pub access_policy_file: Option<std::path::PathBuf>,
    /// How long a staff sign-in lasts.
    pub staff_session_ttl: chrono::Duration,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            notice_version: "2026-11-01".into(),
            audio: AudioLimits::default(),
            max_item_bytes: 64 * 1024,
            session_ttl: chrono::Duration::days(7),
            clock_skew: chrono::Duration::minutes(5),
            downstream: downstream::DownstreamConfig::default(),
            retrain_deadline: chrono::Duration::days(30),
            lineage: lineage::LineageConfig { url: None, namespace: "kidvault".into() },
            closure_grace: chrono::Duration::days(7),
            backup_window: chrono::Duration::days(30),
            reseal_every: None,
            seal_chain_created: false,
            sign_in_limits: ratelimit::SignInLimits::default(),
            retention: kidvault_domain::retention::RetentionPolicy::default_policy(),
            mail: notices::MailConfig { from: "kidvault <no-reply@kidvault.invalid>".into(), ..Default::default() },
            ephemeral_responder: None,
            lease_ttl: chrono::Duration::seconds(30),
            node_id: uuid::Uuid::now_v7(),
            checkpoint_anchor: None,
            locations: String::new(),
            access_policy: Arc::new(access_policy::AccessPolicy::shipped()),
            access_policy_file: None,
            staff_session_ttl: chrono::Duration::hours(1),
        }
    }
}

/// The service: every operation on child data.
#[derive(Debug)]
pub struct Vault {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    keys: keyring::KeyRing,
    signer: Arc<kidvault_ledger::checkpoint::Signer>,
    config: VaultConfig,
    /// One deletion runner at a time in this process (and, by lease, across nodes).
    deletion_runner: tokio::sync::Mutex<()>,
    /// One writer of the anchored checkpoint at a time in this process: two
    /// requests signing at once must not share (and rename away) one temporary
    /// file, nor let a smaller checkpoint replace a larger one.
    anchor_writer: std::sync::Mutex<()>,
    /// This process as a holder of leases on background work.
    node: uuid::Uuid,
    /// Delivers webhooks to downstream processors (no redirects: a signed notice
    /// goes only where the admin said).
    http: reqwest::Client,
    /// The privacy notice and retention policy versions in force, together.
    notice_in_force: String,
    /// The mail relay, when one is configured.
    mailer: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
    /// The demo's inbox for account e-mail, when turned on.
    demo_inbox: signup::DemoInbox,
    ephemeral: ephemeral::EphemeralCount,
    storage: storage::Storage,
    /// The staff access policy in force (replaced by a reload).
    access_policy: std::sync::RwLock<Arc<access_policy::AccessPolicy>>,
}

impl Vault {
    pub fn new(
        store: Arc<dyn Store>,
        keystore: Arc<dyn Keystore>,
        blobs: Arc<dyn BlobStore>,
        provider: Arc<dyn KeyProvider>,
        chain: Arc<kidvault_crypto::SealChain>,
        signer: Arc<kidvault_ledger::checkpoint::Signer>,
        config: VaultConfig,
    ) -> Self {
        let notice_in_force = format!("{}+retention-{}", config.notice_version, config.retention.version);
        // A bad relay URL is refused when the configuration is read (`notices::mailer`).
        let mailer = config.mail.smtp_url.as_deref().and_then(|u| notices::mailer(u).ok());
        let access_policy = std::sync::RwLock::new(Arc::clone(&config.access_policy));
        Self {
            access_policy,
            store,
            blobs,
            keys: keyring::KeyRing::new(provider, chain, keystore),
            signer,
            node: config.node_id,
            config,
            deletion_runner: tokio::sync::Mutex::new(()),
            anchor_writer: std::sync::Mutex::new(()),
            notice_in_force,
            mailer,
            demo_inbox: Default::default(),

            ephemeral: Default::default(),
            storage: Default::default(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("kidvault/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The notice version consent must name: the privacy notice's version and
    /// the retention policy's (`<notice>+retention-<policy>`), so a change in
    /// either asks parents to consent again.
    /// How long a flagged model has to be retrained without the data or destroyed.
    pub fn retrain_deadline(&self) -> chrono::Duration {
        self.config.retrain_deadline
    }

    pub fn notice_version(&self) -> &str {
        &self.notice_in_force
    }

    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// What every start does before serving: the ledger in the data store must
    /// extend the last checkpoint this deployment signed (else start is refused:
    /// a restored or replaced data store); data keys still wrapped in the
    /// data store (a deployment from before they moved to the keystore, or a
    /// coarsening cut short) move to the keystore, and both stores are scrubbed.
    /// Returns how many keys moved.
    pub async fn prepare(&self, now: kidvault_domain::Timestamp) -> Result<u64> {
        self.check_deployment().await?;
        self.keys.join_chain(now, self.config.seal_chain_created).await?;
        self.check_anchor().await?;
        let moved = self.keys.move_legacy_item_keys(self.store.as_ref()).await?;
        if moved > 0 {
            tracing::info!(moved, "moved item data keys from the data store to the keystore");
        }
        let sealed = self.seal_plain_justifications().await?;
        if sealed > 0 {
            tracing::info!(sealed, "sealed break-glass justifications under their children's keys");
        }
        Ok(moved)
    }

    /// Whether the data store answers (for `/healthz`).
    pub async fn healthy(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}
