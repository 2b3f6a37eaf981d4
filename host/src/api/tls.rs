//! HTTPS for `assay serve`: rustls over the TCP listener, with certificates (and the client CA) reloaded when their files change.
//!
//! [`TlsListener`] is an [`axum::serve::Listener`]: a background task
//! accepts TCP connections and runs each handshake in a task of its own
//! (bounded in time and in number), so one slow or hostile client never
//! holds up the others; finished handshakes are handed to axum. Each
//! handshake uses the [`ServerConfig`] current at that moment, which a
//! watcher replaces when the PEM files change on disk: new connections get
//! the new certificate, open ones keep theirs, and nothing restarts. A
//! rotation caught half-way (a new certificate, the old key) is refused and
//! tried again at the next check, while the previous configuration serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use prometheus::IntCounterVec;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{TlsSection, TlsVersion};
use crate::tasks::Tasks;

/// A handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; beyond it new connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 1024;

/// The TLS settings with their paths resolved against the config's directory.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub min_version: TlsVersion,
    pub reload: Duration,
}

impl TlsFiles {
    pub(crate) fn new(section: &TlsSection, base: &Path) -> TlsFiles {
        TlsFiles {
            cert: base.join(&section.cert),
            key: base.join(&section.key),
            client_ca: section.client_ca.as_ref().map(|p| base.join(p)),
            min_version: section.min_version,
            reload: Duration::from_secs(section.reload_secs.max(1)),
        }
    }

    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.cert, &self.key].into_iter().chain(&self.client_ca)
    }

    /// What the files look like now: a change in any (a rename included) is a reload.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.paths()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
            })
            .collect()
    }

    /// Reads the files into a server configuration.
    pub(crate) fn load(&self) -> Result<ServerConfig, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| format!("server.tls.cert {}: {e}", self.cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("server.tls.cert {}: {e}", self.cert.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "server.tls.cert {}: no PEM certificate in it",
                self.cert.display()
            ));
        }
        // The key's own parse error could quote nothing but its position; still, name the file only.
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| {
            format!(
                "server.tls.key {}: no usable private key ({})",
                self.key.display(),
                key_error(&e)
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match self.min_version {
            TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::V1_3 => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| format!("server.tls: {e}"))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca)
                    .map_err(|e| format!("server.tls.client_ca {}: {e}", ca.display()))?
                {
                    let cert =
                        cert.map_err(|e| format!("server.tls.client_ca {}: {e}", ca.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("server.tls.client_ca {}: {e}", ca.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "server.tls.client_ca {}: no PEM certificate in it",
                        ca.display()
                    ));
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("server.tls.client_ca {}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            format!(
                "server.tls: the certificate {} and the key {} do not make a pair: {e}",
                self.cert.display(),
                self.key.display()
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A PEM error's kind, without any of the file's bytes.
fn key_error(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error;
    match e {
        Error::NoItemsFound => "no PEM private key found",
        Error::Io(_) => "cannot read the file",
        _ => "not valid PEM",
    }
}

/// Accepts TLS connections for axum.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`; `failures` counts refused
    /// handshakes by reason. The accept task ends when the listener is dropped.
    pub(crate) fn start(
        tcp: TcpListener,
        config: Arc<ArcSwap<ServerConfig>>,
        failures: IntCounterVec,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, config, failures, tx));
        Ok(TlsListener { ready, local })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    config: Arc<ArcSwap<ServerConfig>>,
    failures: IntCounterVec,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tx.closed() => return,
        };
        let acceptor = TlsAcceptor::from(config.load_full());
        let tx = tx.clone();
        let failures = failures.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => {
                    failures.with_label_values(&[reason(&e)]).inc();
                    tracing::debug!(%peer, "TLS handshake refused: {e}");
                }
                Err(_) => {
                    failures.with_label_values(&["timeout"]).inc();
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            }
        });
    }
}

/// The `reason` label of a failed handshake, from the rustls error inside.
fn reason(e: &std::io::Error) -> &'static str {
    use rustls::Error as E;
    match e.get_ref().and_then(|inner| inner.downcast_ref::<E>()) {
        Some(E::NoCertificatesPresented | E::InvalidCertificate(_)) => "client_certificate",
        Some(E::PeerIncompatible(_)) => "protocol_version",
        _ => "handshake",
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Checks the files every `reload` interval and swaps in a new
/// configuration when they changed and load cleanly, until `tasks` stop.
pub(crate) fn spawn_reloader(files: TlsFiles, config: Arc<ArcSwap<ServerConfig>>, tasks: &Tasks) {
    let t = tasks.clone();
    tasks.spawn(async move {
        let mut loaded = files.stamp();
        let mut refused = None;
        let mut tick = tokio::time::interval(files.reload);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = t.stopped() => return,
            }
            let now = files.stamp();
            if now == loaded || refused.as_ref() == Some(&now) {
                continue;
            }
            let f = files.clone();
            match tokio::task::spawn_blocking(move || f.load()).await {
                Ok(Ok(next)) => {
                    config.store(Arc::new(next));
                    loaded = now;
                    refused = None;
                    tracing::info!(
                        "TLS: reloaded {} (new connections use it; open ones keep theirs)",
                        files.cert.display()
                    );
                }
                Ok(Err(e)) => {
                    // Often a rotation half-way through: tried again when the files change again.
                    tracing::warn!("TLS: keeping the current certificate: {e}");
                    refused = Some(now);
                }
                Err(e) => tracing::error!("TLS: reloading: {e}"),
            }
        }
    });
}
