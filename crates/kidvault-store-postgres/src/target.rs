//! Where to connect, and how the connection is secured.
//!
//! `postgres://USER[:PASSWORD]@HOST[:PORT]/DB?sslmode=MODE[&sslrootcert=FILE]`,
//! with libpq's names, meanings and default:
//!
//! | `sslmode` | encrypted | server authenticated |
//! |---|---|---|
//! | `disable` | no | no |
//! | `prefer` (default) | if the server offers TLS | no |
//! | `require` | yes | no (as `verify-ca` when `sslrootcert` names a file) |
//! | `verify-ca` | yes | its certificate chains to a trusted root |
//! | `verify-full` | yes | as `verify-ca`, and it names the host connected to |
//!
//! Trusted roots are `sslrootcert=FILE` (PEM) or, without it or with
//! `sslrootcert=system`, the operating system's. `sslcert=FILE&sslkey=FILE` (PEM)
//! present a client certificate, for servers that authenticate by it (`cert` in
//! `pg_hba.conf`). Anything short of `verify-full`
//! is logged as a warning when a store opens: guardians' e-mail addresses and
//! ids cross that connection (child content never does: it is ciphertext).

use std::sync::Arc;

use kidvault_store::{Result, StoreError};
use postgres::config::SslMode as DriverSslMode;
use postgres::{Client, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Result<Self> {
        Ok(match v {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(bad(format!(
                    "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A parsed database URL: the driver's settings and the TLS connector.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
    mode: SslMode,
}

fn bad(msg: String) -> StoreError {
    StoreError::Backend(format!("bad PostgreSQL URL: {msg}"))
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut mode, mut rootcert, mut cert, mut keyfile) = (SslMode::Prefer, None, None, None);
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => mode = SslMode::parse(&percent_decode(value)?)?,
                "sslrootcert" => rootcert = Some(percent_decode(value)?),
                "sslcert" => cert = Some(percent_decode(value)?),
                "sslkey" => keyfile = Some(percent_decode(value)?),
                _ => rest.push(pair),
            }
        }
        let driver_url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
        let mut config: postgres::Config = driver_url.parse().map_err(|e: postgres::Error| bad(e.to_string()))?;
        // libpq: `require` with a root certificate file checks the chain.
        if mode == SslMode::Require && rootcert.as_deref().is_some_and(|r| r != "system") {
            mode = SslMode::VerifyCa;
        }
        config.ssl_mode(match mode {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            _ => DriverSslMode::Require,
        });
        let identity = match (cert, keyfile) {
            (Some(cert), Some(key)) => Some(client_identity(&cert, &key)?),
            (None, None) => None,
            _ => return Err(bad("sslcert and sslkey go together".into())),
        };
        let tls = match mode {
            SslMode::Disable => None,
            _ => Some(MakeRustlsConnect::new(client_config(mode, rootcert.as_deref(), identity)?)),
        };
        Ok(Target { config, tls, mode })
    }

    #[cfg(test)]
    fn mode(&self) -> SslMode {
        self.mode
    }

    /// Opens a connection: the one place that does (the pool and the tools alike).
    pub(crate) fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        }
    }

    /// Says, once per store, what a connection short of `verify-full` leaves open.
    pub(crate) fn warn_if_unauthenticated(&self) {
        match self.mode {
            SslMode::VerifyFull => {}
            SslMode::Disable => tracing::warn!(
                sslmode = self.mode.as_str(),
                "connections to PostgreSQL are not encrypted: use sslmode=verify-full"
            ),
            mode => tracing::warn!(
                sslmode = mode.as_str(),
                "the PostgreSQL server's identity is not fully checked: use sslmode=verify-full"
            ),
        }
    }
}

fn percent_decode(v: &str) -> Result<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(hex.ok_or_else(|| bad(format!("bad percent-encoding in {v:?}")))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("{v:?} is not UTF-8")))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The roots a verifying mode trusts: the PEM file named, or the system's.
fn roots(rootcert: Option<&str>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match rootcert {
        Some(path) if path != "system" => {
            let pem = std::fs::read(path).map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
                roots.add(cert).map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad(format!("sslrootcert {path}: no certificate in the file")));
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// A client certificate chain and its private key, from PEM files.
type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(cert: &str, key: &str) -> Result<Identity> {
    let pem = std::fs::read(cert).map_err(|e| bad(format!("sslcert {cert}: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("sslcert {cert}: {e}")))?;
    if chain.is_empty() {
        return Err(bad(format!("sslcert {cert}: no certificate in the file")));
    }
    // The key's error never quotes the file.
    let key = PrivateKeyDer::from_pem_file(key).map_err(|_| bad(format!("sslkey {key}: no usable private key")))?;
    Ok((chain, key))
}

fn client_config(mode: SslMode, rootcert: Option<&str>, identity: Option<Identity>) -> Result<ClientConfig> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(EncryptOnly(Arc::clone(&provider))),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(rootcert)?), Arc::clone(&provider))
                .build()
                .map_err(|e| bad(format!("sslrootcert: {e}")))?;
            if mode == SslMode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => {
            builder.with_client_auth_cert(chain, key).map_err(|e| bad(format!("sslcert/sslkey: {e}")))
        }
    }
}

/// `prefer`/`require`: any certificate is accepted (the connection is encrypted
/// but its peer unauthenticated, as libpq does); the handshake's signatures are
/// still checked.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name mismatch means the chain held.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match Target::parse(url) {
            Ok(_) => panic!("{url} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn sslmode_follows_libpq_names_and_default() {
        let t = |url: &str| Target::parse(url).unwrap();
        assert_eq!(t("postgres://u@h/db").mode(), SslMode::Prefer);
        assert_eq!(t("postgres://u@h/db?sslmode=disable").mode(), SslMode::Disable);
        assert_eq!(t("postgres://u@h/db?sslmode=require").mode(), SslMode::Require);
        assert_eq!(t("postgres://u@h/db?sslmode=verify-full").mode(), SslMode::VerifyFull);
        assert_eq!(t("postgres://u@h/db?sslmode=verify-ca&sslrootcert=system").mode(), SslMode::VerifyCa);
        // Other parameters still reach the driver.
        let other = t("postgres://u@h/db?connect_timeout=7&sslmode=verify-full");
        assert_eq!(other.config.get_connect_timeout(), Some(&std::time::Duration::from_secs(7)));
        assert_eq!(other.config.get_ssl_mode(), DriverSslMode::Require);
        assert_eq!(t("postgres://u@h/db").config.get_ssl_mode(), DriverSslMode::Prefer);
    }

    /// Against the test server (`scripts/postgres-up`: TLS only, a certificate for
    /// `localhost` signed by a throwaway CA, named in the URL's `sslrootcert`).
    #[test]
    fn connections_are_encrypted_and_the_server_checked_as_asked() {
        let Some(url) = crate::testing::server().filter(|u| u.contains("sslrootcert=")) else {
            eprintln!("skipped: needs KIDVAULT_TEST_DATABASE naming a TLS server and its sslrootcert");
            return;
        };
        let with = |mode: &str, keep_root: bool, host: &str| {
            let (base, query) = url.split_once('?').unwrap();
            let mut params: Vec<String> = query
                .split('&')
                .filter(|p| !p.starts_with("sslmode=") && (keep_root || !p.starts_with("sslrootcert=")))
                .map(str::to_owned)
                .collect();
            params.push(format!("sslmode={mode}"));
            format!("{}?{}", base.replacen("@localhost:", &format!("@{host}:"), 1), params.join("&"))
        };
        let encrypted = |url: &str| -> bool {
            let mut c = Target::parse(url).unwrap().connect().unwrap_or_else(|e| panic!("{url}: {e}"));
            c.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap().get(0)
        };
        let refused = |url: &str| -> String {
            match Target::parse(url).unwrap().connect() {
                Ok(_) => panic!("{url} connected"),
                Err(e) => format!("{e:?}"),
            }
        };
        assert!(url.contains("sslmode=verify-full") && url.contains("@localhost:"), "{url}");
        assert!(encrypted(&url), "verify-full with the CA: encrypted");
        assert!(encrypted(&with("verify-ca", true, "localhost")));
        // The certificate names localhost, not 127.0.0.1: verify-full refuses,
        // verify-ca (chain only) accepts.
        let err = refused(&with("verify-full", true, "127.0.0.1"));
        assert!(err.contains("NotValidForName"), "{err}");
        assert!(encrypted(&with("verify-ca", true, "127.0.0.1")));
        // Without the CA (the system's roots), the server is not trusted.
        let err = refused(&with("verify-full", false, "localhost"));
        assert!(err.contains("UnknownIssuer"), "{err}");
        // require and prefer encrypt without checking; require with the CA file
        // checks the chain (libpq), so a stranger's certificate would fail it.
        assert!(encrypted(&with("require", false, "127.0.0.1")));
        assert!(encrypted(&with("prefer", false, "127.0.0.1")));
        assert_eq!(Target::parse(&with("require", true, "localhost")).unwrap().mode(), SslMode::VerifyCa);
        // The server takes no unencrypted connection.
        let err = refused(&with("disable", false, "127.0.0.1"));
        assert!(err.contains("no encryption") || err.contains("pg_hba"), "{err}");

        // The role `kvcert` signs in by client certificate only (scripts/postgres-up).
        let tls = url.split("sslrootcert=").nth(1).unwrap().split('&').next().unwrap().trim_end_matches("/ca.pem");
        let as_kvcert = url.replacen("://kidvault@", "://kvcert@", 1);
        let err = refused(&as_kvcert);
        assert!(err.contains("certificate"), "without a certificate: {err}");
        let with_cert = format!("{as_kvcert}&sslcert={tls}/client.crt&sslkey={tls}/client.key");
        assert!(encrypted(&with_cert), "with its certificate");
        let mut c = Target::parse(&with_cert).unwrap().connect().unwrap();
        let who: String = c.query_one("SELECT current_user::text", &[]).unwrap().get(0);
        assert_eq!(who, "kvcert");
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        assert!(err("postgres://u@h/db?sslmode=allow").contains("sslmode=allow"));
        assert!(err("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .contains("sslrootcert /nonexistent/ca.pem"));
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let url = format!("postgres://u@h/db?sslmode=verify-ca&sslrootcert={}", empty.display());
        assert!(err(&url).contains("no certificate"), "{}", err(&url));
        assert!(err("postgres://u@h/db?sslrootcert=%zz").contains("percent-encoding"));
        assert!(err("postgres://u@h/db?bogus_option=1").contains("bad PostgreSQL URL"));
        assert!(err("postgres://u@h/db?sslcert=/tmp/c.pem").contains("sslcert and sslkey go together"));
        let key = dir.path().join("k.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n").unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "no certificate here\n").unwrap();
        let url = format!("postgres://u@h/db?sslcert={}&sslkey={}", cert.display(), key.display());
        assert!(err(&url).contains("no certificate"), "{}", err(&url));
    }
}
