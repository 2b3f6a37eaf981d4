//! `assay serve`: run the service until SIGTERM or SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{EXIT_OK, GlobalArgs};
use crate::api::tls::{self, TlsFiles, TlsListener};
use crate::service::{self, Service};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on this address instead of `[server] listen` (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

pub(super) async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<u8> {
    let mut config = super::host_config(global)?;
    if let Some(addr) = args.listen {
        config.server.listen = addr;
    }
    config
        .check_serve()
        .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    // Probe sockets are bounded against this limit (80% at most for guests).
    match crate::runtime::sockets::raise_fd_limit() {
        Some(n) => tracing::info!(
            "file descriptors: RLIMIT_NOFILE {n}; probe plugins' sockets may use at most {}%",
            crate::runtime::sockets::HEADROOM_PERCENT
        ),
        None => tracing::info!("file descriptors: RLIMIT_NOFILE unlimited"),
    }
    // Before the plugins load, so their load failures become alerts.
    let svc = Service::start(config).await?;
    tracing::info!("store: {} ({})", svc.store.location(), svc.store.backend());
    let t = &svc.config.telemetry;
    match crate::telemetry::traces::resolve(t, |k| std::env::var(k).ok()) {
        Ok(Some(to)) => tracing::info!(
            "traces: exporting to {} over {:?} as {:?}, sampling {}% of new traces",
            to.shown(),
            to.protocol,
            to.service_name,
            t.sample_ratio * 100.0
        ),
        _ => tracing::info!("traces: off (no OTLP endpoint: [telemetry] otlp_endpoint)"),
    }
    tracing::info!("auth: {}", svc.auth.describe());

    // TLS first: a bad certificate stops the start before anything listens.
    let tls = match &svc.config.server.tls {
        Some(section) => {
            let base = svc.config.base_dir.clone().unwrap_or_else(|| ".".into());
            let files = TlsFiles::new(section, &base);
            let config = files
                .load()
                .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
            Some((files, Arc::new(arc_swap::ArcSwap::from_pointee(config))))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(svc.config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", svc.config.server.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{addr}");

    {
        let svc = svc.clone();
        tokio::spawn(async move {
            if let Err(e) = svc.load_plugins().await {
                tracing::error!("cannot load plugins: {e:#}");
            }
        });
    }
    svc.spawn_monitors();
    service::spawn_watcher(&svc);
    spawn_sighup(&svc);
    service::spawn_pruner(&svc);

    let (drain_tx, mut drain_rx) = tokio::sync::watch::channel(false);
    let app = crate::api::router(svc.clone());
    let drained = async move {
        let _ = drain_rx.wait_for(|d| *d).await;
    };
    let server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match tls {
        Some((files, config)) => {
            tracing::info!(
                "TLS: {}{}; files checked for changes every {:?}",
                files.cert.display(),
                if files.client_ca.is_some() {
                    ", client certificates required"
                } else {
                    ""
                },
                files.reload
            );
            tls::spawn_reloader(files, config.clone(), svc.tasks());
            let listener =
                TlsListener::start(listener, config, svc.metrics.tls_handshake_failures.clone())?;
            Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(drained)
                    .into_future(),
            )
        }
        None => Box::pin(
            axum::serve(listener, app)
                .with_graceful_shutdown(drained)
                .into_future(),
        ),
    };
    let mut server = tokio::spawn(server);

    tokio::select! {
        result = &mut server => {
            // The server ended without a signal: an I/O error.
            result.context("the HTTP server task")?.context("serving HTTP")?;
        }
        signal = shutdown_signal() => {
            tracing::info!("{signal}: stopping; in-flight requests get up to {grace:?}");
            svc.begin_shutdown();
            drain_tx.send_replace(true);
            match tokio::time::timeout(grace, &mut server).await {
                Ok(_) => tracing::info!("all requests finished"),
                Err(_) => {
                    tracing::warn!("grace period over: cutting the remaining connections");
                    server.abort();
                }
            }
        }
    }
    // Every task joined, alerting's queue and deliveries in flight done, then the store closes.
    svc.stop().await;
    tracing::info!("stopped");
    Ok(EXIT_OK)
}

/// SIGHUP: a full rescan of the plugin directory, as `POST /v1/plugins/reload` does.
fn spawn_sighup(svc: &Arc<Service>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).expect("installing a SIGHUP handler");
    let (svc, tasks) = (svc.clone(), svc.tasks().clone());
    tasks.clone().spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: rescanning the plugin directory");
                    let events = svc.rescan("SIGHUP", true).await;
                    tracing::info!("SIGHUP: {} change(s)", events.len());
                }
                _ = tasks.stopped() => return,
            }
        }
    });
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
