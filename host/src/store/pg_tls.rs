//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` in the URL,
//! so a connection string that works with `psql` works here too.
//!
//! | `sslmode` | encrypted | the server's certificate |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (default) | if the server offers TLS | not checked |
//! | `require` | yes | not checked; with `sslrootcert`, checked as `verify-ca` (as libpq does) |
//! | `verify-ca` | yes | signed by a trusted CA |
//! | `verify-full` | yes | signed by a trusted CA, and names the host |
//!
//! Trusted CAs are those in the PEM file `sslrootcert`, or, with
//! `sslrootcert=system` or none given, the Mozilla roots (webpki-roots).
//! tokio-postgres itself knows only `disable`, `prefer` and `require`: the
//! two verifying modes and `sslrootcert` are taken out of the URL here and
//! carried out by the rustls verifier.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;

/// How much the connection checks the server (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A connection string split into what tokio-postgres reads and what TLS needs.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) config: tokio_postgres::Config,
    pub(super) mode: Mode,
    root_cert: Option<PathBuf>,
}

/// Reads `url` (a `postgres://` URL or `key=value` pairs).
pub(super) fn parse(url: &str) -> Result<Parsed, StoreError> {
    let bad = |m: String| StoreError::Config(format!("storage.url: {m}"));
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: &str| -> Result<bool, StoreError> {
        match key {
            "sslmode" => {
                mode = Some(match value {
                    "disable" => Mode::Disable,
                    "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    // libpq's `allow` tries plain first; we encrypt when we can.
                    "allow" => Mode::Prefer,
                    other => {
                        return Err(bad(format!(
                            "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        )));
                    }
                });
                Ok(true)
            }
            "sslrootcert" => {
                root_cert = Some(PathBuf::from(
                    percent_encoding::percent_decode_str(value)
                        .decode_utf8_lossy()
                        .into_owned(),
                ));
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let rest = if let Some((base, query)) = url
        .split_once('?')
        .filter(|_| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(k, v)? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_owned()
    } else {
        // key=value pairs (values with spaces are quoted; those two keys never need it).
        let mut kept = Vec::new();
        for pair in url.split_whitespace() {
            match pair.split_once('=') {
                Some((k, v)) if take(k, v)? => {}
                _ => kept.push(pair),
            }
        }
        kept.join(" ")
    };
    let mut config = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| bad(format!("not a PostgreSQL connection string: {e}")))?;
    let mut mode = mode.unwrap_or(Mode::Prefer);
    if mode == Mode::Require && root_cert.is_some() {
        mode = Mode::VerifyCa;
    }
    config.ssl_mode(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    Ok(Parsed {
        config,
        mode,
        root_cert,
    })
}

impl Parsed {
    /// The TLS connector for this mode (unused by tokio-postgres with `disable`).
    pub(super) fn connector(&self) -> Result<MakeRustlsConnect, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = || {
            WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots()?), provider.clone())
                .build()
                .map_err(|e| StoreError::Config(format!("storage.url: sslrootcert: {e}")))
        };
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            Mode::VerifyFull => chain()?,
            Mode::VerifyCa => Arc::new(Lenient {
                provider: provider.clone(),
                chain: Some(chain()?),
            }),
            Mode::Disable | Mode::Prefer | Mode::Require => Arc::new(Lenient {
                provider: provider.clone(),
                chain: None,
            }),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Config(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, StoreError> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(p) if p.as_os_str() != "system" => {
                let bad = |m: String| {
                    StoreError::Config(format!("storage.url: sslrootcert {}: {m}", p.display()))
                };
                let pem = std::fs::read(p).map_err(|e| bad(e.to_string()))?;
                let certs: Vec<CertificateDer<'static>> =
                    rustls_pemfile_certs(&pem).map_err(|e| bad(e.to_string()))?;
                if certs.is_empty() {
                    return Err(bad("holds no PEM certificate".into()));
                }
                let (_, unusable) = roots.add_parsable_certificates(certs);
                if roots.is_empty() {
                    return Err(bad(format!(
                        "none of its {unusable} certificate(s) is usable"
                    )));
                }
            }
            _ => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(roots)
    }
}

/// The certificates in a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM file: {e}"))
}

/// How `prefer`, `require` and `verify-ca` check the server (`verify-full`
/// uses rustls's own verifier as it is): with no `chain`, the certificate is
/// not checked (libpq's meaning of `prefer` and `require`); with one, it must
/// lead to a trusted CA, whatever name it carries. The handshake's
/// signatures are checked either way.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::fresh_database;
    use crate::store::{Store, args};

    /// Whether a store's connections to the tests' server are encrypted.
    async fn encrypted(url: &str) -> Result<bool, StoreError> {
        let store = Store::open_postgres(url).await?;
        let row = store
            .query_opt(
                "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                args![],
            )
            .await?;
        store.close().await;
        Ok(row.unwrap().get::<i64>(0)? == 1)
    }

    /// Against the tests' server, which speaks TLS with a certificate for
    /// 127.0.0.1 and localhost from the CA in `ASSAY_TEST_PG_CA`.
    #[tokio::test]
    async fn each_mode_connects_as_libpq_would_and_a_wrong_ca_is_refused() {
        let (Ok(base), Ok(ca)) = (
            std::env::var("ASSAY_TEST_PG"),
            std::env::var("ASSAY_TEST_PG_CA"),
        ) else {
            eprintln!("ASSAY_TEST_PG or ASSAY_TEST_PG_CA is not set: skipped");
            return;
        };
        let url = fresh_database(&base).await;
        assert!(
            encrypted(&url).await.unwrap(),
            "prefer (the default) encrypts when it can"
        );
        assert!(!encrypted(&format!("{url}?sslmode=disable")).await.unwrap());
        let full = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
        assert!(encrypted(&full).await.unwrap());
        let by_name = full.replace("127.0.0.1", "localhost");
        assert!(encrypted(&by_name).await.unwrap());
        // Not our CA: the Mozilla roots do not vouch for a test CA.
        let e = encrypted(&format!("{url}?sslmode=verify-ca&sslrootcert=system"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
    }

    #[test]
    fn libpq_modes_are_read_and_taken_out_of_the_url() {
        let p = parse("postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=a").unwrap();
        assert_eq!(p.mode, Mode::VerifyFull);
        assert_eq!(
            p.root_cert.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!(p.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(p.config.get_application_name(), Some("a"));
        assert_eq!(parse("postgres://db/x").unwrap().mode, Mode::Prefer);
        let kv = parse("host=db user=u sslmode=require sslrootcert=/ca.pem").unwrap();
        assert_eq!(
            kv.mode,
            Mode::VerifyCa,
            "require with a root certificate verifies the CA"
        );
        assert_eq!(kv.config.get_user(), Some("u"));
        let e = parse("postgres://db/x?sslmode=verify").unwrap_err();
        assert!(
            e.to_string().contains("sslmode \"verify\" is not one of"),
            "{e}"
        );
        let e = parse("postgres://db/x?sslmode=verify-ca&sslrootcert=/nonexistent.pem")
            .unwrap()
            .connector()
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("sslrootcert /nonexistent.pem"),
            "{e}"
        );
    }
}
