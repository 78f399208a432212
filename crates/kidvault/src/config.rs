//! Configuration, layered by figment: built-in defaults, then a TOML file
//! (`--config`), then the environment, then command-line flags. Every key can
//! be set from the environment as `KIDVAULT_<KEY>` (`KIDVAULT_HTTP__<KEY>` for
//! the `[http]` table), and from a file as `KIDVAULT_<KEY>_FILE` (secrets such
//! as a database URL with its password, mounted as files). Unknown keys in the
//! file are errors. `Debug` hides the passwords in URLs. The root key is never
//! a setting: it is read from `key_file`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kidvault_domain::audio::AudioLimits;
use kidvault_service::VaultConfig;
use serde::{Deserialize, Serialize};

/// Where blobs live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blobs {
    Local(PathBuf),
    S3(kidvault_blob_s3::S3Location),
}

/// Where the data store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store: one SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL-compatible server (the URL may carry a password: never log it).
    Postgres(String),
}

impl Backend {
    /// `sqlite://PATH`, `postgres://...` or `postgresql://...`; none means SQLite
    /// in the data directory.
    pub fn parse(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Backend> {
        let Some(url) = url else { return Ok(Backend::Sqlite(data_dir.join("kidvault.db"))) };
        if let Some(path) = url.strip_prefix("sqlite://") {
            anyhow::ensure!(
                !path.is_empty(),
                "database {url:?}: sqlite:// needs a file path, e.g. sqlite:///srv/kv/kidvault.db"
            );
            return Ok(Backend::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_owned()));
        }
        let scheme = url.split_once("://").map_or(url, |(s, _)| s);
        bail!("unknown database scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DB")
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory: SQLite data store and blob segments (ciphertext only).
    pub data_dir: PathBuf,
    /// The data store: `sqlite://PATH` or `postgres://user@host:port/db`
    /// (also Citus, CockroachDB, YugabyteDB). Default: SQLite at
    /// `<data_dir>/kidvault.db`. On PostgreSQL the keystore lives in the same
    /// database, schema `kidvault_keys`.
    pub database: Option<String>,
    /// Where blobs (recording ciphertext) live: `local` (`<data_dir>/blobs`) or
    /// `s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]` (credentials from
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`). Several nodes need S3.
    pub blob_store: Option<String>,
    /// Root key file. Default: `kidvault-keys/root.key` beside the data directory.
    /// The keystore (wrapped child keys) lives beside it, outside the data dir.
    pub key_file: Option<PathBuf>,
    /// The privacy notice version in force; consent must name it.
    pub notice_version: String,
    pub max_recording_bytes: usize,
    pub max_recording_seconds: u32,
    pub max_item_bytes: usize,
    pub session_ttl_hours: i64,
    /// tracing filter, e.g. `info` or `kidvault=debug`.
    pub log: String,
    /// How often the ledger's checkpoint is signed (when the log has grown).
    pub checkpoint_interval_secs: u64,
    /// Downstream processors: the first retry of a failed webhook waits about
    /// this long, each further one twice as long (with jitter), up to an hour.
    pub downstream_retry_base_ms: u64,
    /// Downstream processors: how long a processor has to acknowledge a deletion
    /// before its task is shown as overdue (default 72 hours).
    pub downstream_deadline_secs: u64,
    /// Training processors: how long a model flagged for data later deleted or
    /// withdrawn has to be retrained without it or destroyed (default 30 days).
    pub model_retrain_deadline_days: u64,
    /// Where OpenLineage events for training datasets and models are POSTed
    /// (e.g. `http://marquez:5000/api/v1/lineage`); unset: kept until set.
    pub openlineage_url: Option<String>,
    /// The OpenLineage namespace of kidvault's jobs and datasets.
    pub openlineage_namespace: String,
    /// After closing an account, how long the guardian can still sign in to
    /// download the deletion receipts before the account itself is purged.
    pub account_closure_grace_hours: u64,
    /// How long a `kidvault backup` can be restored: its sealing key is
    /// destroyed this many days after the backup, so a key destroyed today is
    /// unrecoverable from every kidvault backup after at most this window.
    pub backup_window_days: u64,
    /// How often (hours) the keystore is sealed again under its seal chain's
    /// next generation; generations are forgotten `backup_window_days` less
    /// this after they were replaced, so remnants of destroyed keys that the
    /// database keeps (PostgreSQL's dead rows and WAL, base backups, a disk's
    /// own copies) open nothing after the backup window. 0: never.
    pub key_reseal_hours: u64,
    /// The written retention policy (TOML). Default: the policy kidvault ships
    /// (`crates/kidvault-domain/policy/retention.toml`).
    pub retention_policy: Option<PathBuf>,
    /// The staff access policy (Cedar), validated against kidvault's schema at
    /// start and on every reload (SIGHUP or `POST /api/v1/admin/access-policy/reload`).
    /// Default: the policy kidvault ships (`crates/kidvault-service/policy/staff-access.cedar`).
    pub access_policy: Option<PathBuf>,
    /// How long a staff sign-in lasts, in minutes (at most a working day).
    pub staff_session_minutes: u64,
    /// How often the retention and dormancy sweeps run (and once at start).
    pub sweep_interval_secs: u64,
    /// How often the data store and the keystore are checked for damage while
    /// serving (SQLite `quick_check`; PostgreSQL checksum failures). Also at start.
    pub integrity_check_interval_secs: u64,
    /// A mail relay for notices (`smtp://host:port`, `smtp://host:587?tls=required`,
    /// `smtps://user:pass@host:465`). Without one, notices go to the portal's mailbox only.
    pub smtp_url: Option<String>,
    /// The sender of notice e-mails.
    pub mail_from: String,
    /// The portal's public address (links in e-mails), e.g. `https://kidvault.example.org`.
    pub public_url: Option<String>,
    /// Where ephemeral audio (answered without consent, never kept) is sent to
    /// be answered; without it, ephemeral requests are refused.
    pub ephemeral_responder_url: Option<String>,
    /// Nodes sharing one database: how long a lease on background work (the
    /// deletion runner, sweeps, checkpoint signing) lasts unless renewed, i.e.
    /// how soon another node takes over from one that died.
    pub lease_secs: u64,
    /// An embedded deployment sets this much room aside on the data volume
    /// (MiB), released when the disk fills so that reads and deletions keep
    /// working (0: none).
    pub storage_reserve_mib: u64,
    /// Limits on slow and stalled clients (table `[http]`; see `kidvault_http::edge`).
    pub http: kidvault_http::edge::EdgeLimits,
}

impl Default for Config {
    fn default() -> Self {
        let v = VaultConfig::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("kidvault-data"),
            database: None,
            blob_store: None,
            key_file: None,
            notice_version: v.notice_version,
            max_recording_bytes: v.audio.max_bytes,
            max_recording_seconds: v.audio.max_seconds,
            max_item_bytes: v.max_item_bytes,
            session_ttl_hours: v.session_ttl.num_hours(),
            log: "info".into(),
            checkpoint_interval_secs: 60,
            downstream_retry_base_ms: v.downstream.retry_base.as_millis() as u64,
            downstream_deadline_secs: v.downstream.deadline.num_seconds() as u64,
            model_retrain_deadline_days: v.retrain_deadline.num_days() as u64,
            openlineage_url: None,
            openlineage_namespace: v.lineage.namespace.clone(),
            account_closure_grace_hours: v.closure_grace.num_hours() as u64,
            backup_window_days: v.backup_window.num_days() as u64,
            key_reseal_hours: 24,
            retention_policy: None,
            access_policy: None,
            staff_session_minutes: v.staff_session_ttl.num_minutes() as u64,
            sweep_interval_secs: 3600,
            integrity_check_interval_secs: 3600,
            smtp_url: None,
            mail_from: v.mail.from.clone(),
            public_url: None,
            ephemeral_responder_url: None,
            lease_secs: 30,
            storage_reserve_mib: 64,
            http: kidvault_http::edge::EdgeLimits::default(),
        }
    }
}

/// `http__header_timeout_secs` → `["http", "header_timeout_secs"]`.
fn split(key: &str) -> Vec<String> {
    key.split("__").map(str::to_owned).collect()
}

/// `scheme://user:password@host/...` with the password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{scheme}://{hidden}@{host}{}", &rest[authority_end..])
        }
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for Config {
    /// Every setting, with the passwords in the database and mail relay URLs hidden.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.clone();
        shown.database = self.database.as_deref().map(redact_url);
        shown.smtp_url = self.smtp_url.as_deref().map(redact_url);
        shown.blob_store = self.blob_store.as_deref().map(redact_url);
        let value = figment::value::Value::serialize(&shown).map_err(|_| std::fmt::Error)?;
        f.debug_tuple("Config").field(&value).finish()
    }
}

impl Config {
    /// Loads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads defaults, then `file` (if any), then `KIDVAULT_*` variables of `env`.
    pub fn load_from(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        use figment::providers::{Format, Serialized, Toml};
        let mut layers = figment::Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            // Unknown keys and wrong types in the file name the key.
            toml::from_str::<Config>(&text).with_context(|| format!("in {}", path.display()))?;
            layers = layers.merge(Toml::string(&text));
        }
        layers = layers.merge(Serialized::defaults(Self::from_env(env)?));
        layers.extract().map_err(|e| anyhow::anyhow!("configuration: {e}"))
    }

    /// The settings `KIDVAULT_<KEY>` and `KIDVAULT_<KEY>_FILE` give, as nested
    /// values; variables that name no setting are left alone (other tools share
    /// the prefix).
    fn from_env(env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<figment::value::Dict> {
        use figment::value::{Dict, Value};
        let defaults = Value::serialize(Config::default())?;
        let default_at = |path: &[String]| {
            let mut v = Some(&defaults);
            for key in path {
                v = v.and_then(|v| v.as_dict()).and_then(|d| d.get(key.as_str()));
            }
            v.cloned()
        };
        let known = |path: &[String]| default_at(path).is_some();
        let mut out = Dict::new();
        for (name, raw) in env {
            let Some(key) = name.strip_prefix("KIDVAULT_") else { continue };
            let key = key.to_ascii_lowercase();
            let (key, raw) = match key.strip_suffix("_file") {
                Some(base) if !known(&split(&key)) && known(&split(base)) => {
                    let text = std::fs::read_to_string(&raw).with_context(|| format!("reading {name}={raw}"))?;
                    (base.to_owned(), text.trim_end_matches(['\n', '\r']).to_owned())
                }
                _ => (key, raw),
            };
            let path = split(&key);
            if !known(&path) {
                continue;
            }
            // Text keys (and the optional ones, all text) take the text as it is;
            // numbers and switches are parsed.
            let value = match default_at(&path) {
                Some(Value::String(..) | Value::Empty(..)) => Value::from(raw),
                _ => {
                    let Ok(v) = raw.parse::<Value>();
                    v
                }
            };
            let mut slot = &mut out;
            for (i, part) in path.iter().enumerate() {
                if i + 1 == path.len() {
                    slot.insert(part.clone(), value.clone());
                } else {
                    let entry = slot.entry(part.clone()).or_insert_with(|| Value::from(Dict::new()));
                    let Value::Dict(_, d) = entry else { bail!("{name}: {part} is not a table") };
                    slot = d;
                }
            }
        }
        Ok(out)
    }

    /// The data store named by `database` (never a silent fallback: an unknown
    /// scheme is an error).
    pub fn backend(&self) -> anyhow::Result<Backend> {
        Backend::parse(self.database.as_deref(), &self.data_dir)
    }

    /// The blob store named by `blob_store` (an unknown scheme is an error).
    pub fn blobs(&self) -> anyhow::Result<Blobs> {
        match self.blob_store.as_deref() {
            None | Some("local") => Ok(Blobs::Local(self.data_dir.join("blobs"))),
            Some(url) if url.starts_with("s3://") => {
                Ok(Blobs::S3(kidvault_blob_s3::S3Location::parse(url).map_err(|e| anyhow::anyhow!("blob_store: {e}"))?))
            }
            Some(other) => bail!("unknown blob_store {other:?}: use local or s3://BUCKET?endpoint=URL"),
        }
    }

    /// The root key file actually used.
    pub fn key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| {
            let base = self.data_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            base.join("kidvault-keys").join("root.key")
        })
    }

    /// The retention policy in force: the configured file, checked, or the shipped one.
    pub fn retention(&self) -> anyhow::Result<kidvault_domain::retention::RetentionPolicy> {
        use kidvault_domain::retention::RetentionPolicy;
        match &self.retention_policy {
            None => Ok(RetentionPolicy::default_policy()),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                RetentionPolicy::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
        }
    }

    /// The staff access policy in force: the configured file, validated, or the shipped one.
    pub fn access(&self) -> anyhow::Result<kidvault_service::access_policy::AccessPolicy> {
        use kidvault_service::access_policy::AccessPolicy;
        match &self.access_policy {
            None => Ok(AccessPolicy::shipped()),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                AccessPolicy::parse(&text).map_err(|e| anyhow::anyhow!("access policy {}: {e}", path.display()))
            }
        }
    }

    fn mail(&self) -> anyhow::Result<kidvault_service::notices::MailConfig> {
        if let Some(url) = &self.smtp_url {
            kidvault_service::notices::mailer(url).map_err(|e| anyhow::anyhow!("{e}"))?;
            self.mail_from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| anyhow::anyhow!("mail_from {:?}: {e}", self.mail_from))?;
        }
        Ok(kidvault_service::notices::MailConfig {
            smtp_url: self.smtp_url.clone(),
            from: self.mail_from.clone(),
            public_url: self.public_url.clone(),
        })
    }

    /// The service settings this configuration implies.
    pub fn vault_config(&self) -> anyhow::Result<VaultConfig> {
        if self.notice_version.trim().is_empty() {
            bail!("notice_version must not be empty");
        }
        if self.session_ttl_hours <= 0 {
            bail!("session_ttl_hours must be positive");
        }
        if let Some(url) = &self.openlineage_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("openlineage_url must be an http:// or https:// URL");
            }
        }
        if self.downstream_retry_base_ms == 0 || self.downstream_deadline_secs == 0 {
            bail!("downstream_retry_base_ms and downstream_deadline_secs must be positive");
        }
        let downstream = kidvault_service::downstream::DownstreamConfig {
            retry_base: std::time::Duration::from_millis(self.downstream_retry_base_ms),
            deadline: chrono::Duration::seconds(self.downstream_deadline_secs.min(i64::MAX as u64 / 1000) as i64),
            ..Default::default()
        };
        Ok(VaultConfig {
            downstream,
            closure_grace: chrono::Duration::hours(self.account_closure_grace_hours.min(24 * 366) as i64),
            backup_window: chrono::Duration::days(self.backup_window_days.clamp(1, 3660) as i64),
            reseal_every: (self.key_reseal_hours > 0)
                .then(|| chrono::Duration::hours(self.key_reseal_hours.min(24 * 3660) as i64)),
            notice_version: self.notice_version.clone(),
            audio: AudioLimits { max_bytes: self.max_recording_bytes, max_seconds: self.max_recording_seconds },
            max_item_bytes: self.max_item_bytes,
            session_ttl: chrono::Duration::hours(self.session_ttl_hours),
            retention: self.retention()?,
            access_policy: std::sync::Arc::new(self.access()?),
            access_policy_file: self.access_policy.clone(),
            staff_session_ttl: chrono::Duration::minutes(self.staff_session_minutes.clamp(1, 12 * 60) as i64),
            mail: self.mail()?,
            ephemeral_responder: self.ephemeral_responder_url.clone(),
            lease_ttl: chrono::Duration::seconds(self.lease_secs.clamp(1, 86_400) as i64),
            retrain_deadline: chrono::Duration::days(self.model_retrain_deadline_days.clamp(1, 3660) as i64),
            lineage: kidvault_service::lineage::LineageConfig {
                url: self.openlineage_url.clone(),
                namespace: self.openlineage_namespace.clone(),
            },
            ..VaultConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.toml");
        let file = "listen = \"127.0.0.1:9999\"\nnotice_version = \"v7\"\n[http]\nheader_timeout_secs = 12\n";
        std::fs::write(&path, file).unwrap();
        let c = Config::load_from(Some(&path), env(&[])).unwrap();
        assert_eq!((c.listen.port(), c.notice_version.as_str()), (9999, "v7"));
        assert_eq!(c.max_item_bytes, Config::default().max_item_bytes);
        assert_eq!(c.http.header_timeout_secs, 12);
        assert_eq!(c.http.body_grace_secs, Config::default().http.body_grace_secs, "the rest of the table stays");

        // Every key from the environment, nested tables with `__`; variables of
        // other tools that share the prefix are left alone.
        let c = Config::load_from(
            Some(&path),
            env(&[
                ("KIDVAULT_NOTICE_VERSION", "2027"),
                ("KIDVAULT_LEASE_SECS", "7"),
                ("KIDVAULT_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "9"),
                ("KIDVAULT_EPHEMERAL_RESPONDER_URL", "http://127.0.0.1:9/answer"),
                ("KIDVAULT_TEST_DATABASE", "postgres://elsewhere/x"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.notice_version, "2027", "a number-like value of a text key stays text");
        assert_eq!((c.lease_secs, c.http.max_connections_per_address, c.http.header_timeout_secs), (7, 9, 12));
        assert_eq!(c.ephemeral_responder_url.as_deref(), Some("http://127.0.0.1:9/answer"));
        assert!(c.database.is_none());
        let bad = Config::load_from(None, env(&[("KIDVAULT_LISTEN", "nope")])).unwrap_err();
        assert!(format!("{bad:#}").contains("listen"), "{bad:#}");
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("db-url");
        std::fs::write(&secret, "postgres://kv:s3cret-pass@db:5432/kv?sslmode=verify-full\n").unwrap();
        let smtp = dir.path().join("smtp");
        std::fs::write(&smtp, "smtps://mailer:m41l-pass@smtp.example:465").unwrap();
        let c = Config::load_from(
            None,
            env(&[
                ("KIDVAULT_DATABASE_FILE", secret.to_str().unwrap()),
                ("KIDVAULT_SMTP_URL_FILE", smtp.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(c.database.as_deref(), Some("postgres://kv:s3cret-pass@db:5432/kv?sslmode=verify-full"));
        assert_eq!(c.smtp_url.as_deref(), Some("smtps://mailer:m41l-pass@smtp.example:465"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("m41l"), "{shown}");
        assert!(shown.contains("postgres://kv:***@db:5432/kv") && shown.contains("smtps://mailer:***@smtp.example"));
        let missing = Config::load_from(None, env(&[("KIDVAULT_DATABASE_FILE", "/nonexistent/db-url")])).unwrap_err();
        assert!(format!("{missing:#}").contains("KIDVAULT_DATABASE_FILE"), "{missing:#}");
        assert_eq!(redact_url("postgres://kv@db/kv"), "postgres://kv@db/kv");
        assert_eq!(redact_url("s3://bucket?endpoint=http://u:p@x"), "s3://bucket?endpoint=http://u:p@x");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.toml");
        std::fs::write(&path, "listn = \"127.0.0.1:9999\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn the_database_url_picks_the_backend_and_an_unknown_scheme_is_refused() {
        let dir = Path::new("/srv/kv/data");
        assert_eq!(Backend::parse(None, dir).unwrap(), Backend::Sqlite("/srv/kv/data/kidvault.db".into()));
        assert_eq!(Backend::parse(Some("sqlite:///x/y.db"), dir).unwrap(), Backend::Sqlite("/x/y.db".into()));
        assert_eq!(
            Backend::parse(Some("postgres://kv@db:5432/kv"), dir).unwrap(),
            Backend::Postgres("postgres://kv@db:5432/kv".into())
        );
        assert!(matches!(Backend::parse(Some("postgresql://db/kv"), dir).unwrap(), Backend::Postgres(_)));
        for bad in ["mysql://db/kv", "kidvault.db", "sqlite://", "SQLITE:///x.db"] {
            let err = Backend::parse(Some(bad), dir).unwrap_err().to_string();
            assert!(err.contains("database") || err.contains("scheme"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_blob_store_is_local_or_s3_and_nothing_else() {
        let c = Config { data_dir: "/srv/kv/data".into(), ..Config::default() };
        assert_eq!(c.blobs().unwrap(), Blobs::Local("/srv/kv/data/blobs".into()));
        let s3 = Config { blob_store: Some("s3://kv?endpoint=http://127.0.0.1:9000".into()), ..Config::default() };
        assert!(matches!(s3.blobs().unwrap(), Blobs::S3(l) if l.bucket == "kv"));
        for bad in ["gcs://kv", "s3://kv", "/srv/blobs"] {
            let c = Config { blob_store: Some(bad.into()), ..Config::default() };
            assert!(c.blobs().is_err(), "{bad}");
        }
    }

    #[test]
    fn key_file_defaults_beside_the_data_dir() {
        let c = Config { data_dir: "/srv/kv/data".into(), ..Config::default() };
        assert_eq!(c.key_file(), PathBuf::from("/srv/kv/kidvault-keys/root.key"));
        let c = Config::default();
        assert_eq!(c.key_file(), PathBuf::from("./kidvault-keys/root.key"));
    }
}
