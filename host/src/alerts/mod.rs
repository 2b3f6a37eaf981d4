//! Alerting: host events become alerts, router plugins decide where each
//! goes, the engine applies dedupe, grouping, silences, inhibition, rate
//! limits and escalation, and the outbox delivers durably.
//!
//! ```text
//! sources ─► Alerting::submit ─► router chain (plugins) ─► engine ─► outbox (SQLite) ─► channel workers
//! (probes, monitors, plugin loads, dead letters, [[alert_rule]]s, POST /v1/alerts)
//! ```
//!
//! Routing runs on the submitting task (so many alerts route at once); the
//! engine is one task that owns the alert state, so its decisions need no locks.

pub mod channels;
pub mod engine;
mod matchers;
pub mod model;
pub mod notification;
pub mod outbox;
mod routing;
pub mod rules;
pub mod silences;
pub mod sources;

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

pub use engine::{Accepted, AlertView};
pub use matchers::{InhibitRule, Matcher};
pub use model::{Alert, AlertStatus};
pub use notification::Notification;
pub use outbox::Outbox;
pub use routing::Decision;

use crate::clock::now_ms;
use crate::config::HostConfig;
use crate::service::Service;
use crate::store::StoreError;
use engine::{Command, Engine};

/// How long an alert waits for the plugin directory to load before it is routed without it.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The alerting side of the service.
pub struct Alerting {
    tx: mpsc::Sender<Command>,
    rx: Mutex<Option<mpsc::Receiver<Command>>>,
    chain: routing::Chain,
    pub outbox: Outbox,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("the alert engine is not running")]
    Stopped,
    #[error("storing the alert failed: {0}")]
    Store(#[from] StoreError),
}

impl Alerting {
    /// Builds the channels; fails on settings a channel cannot use.
    pub fn new(config: &HostConfig) -> Result<Alerting, String> {
        let channels = config
            .channels
            .iter()
            .map(|c| channels::Channel::new(c.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::channel(8192);
        Ok(Alerting {
            tx,
            rx: Mutex::new(Some(rx)),
            chain: routing::Chain::new(config),
            outbox: Outbox::new(channels, config.alerting.clone()),
        })
    }

    /// Starts preparing the routers' snapshots (see [`crate::registry::Snapshots`]).
    pub fn warm(&self, registry: &crate::registry::Registry) {
        self.chain.warm(registry);
    }

    /// Resumes the stored state and starts the engine, the outbox workers,
    /// the event sources and the `[[alert_rule]]`s. Call once.
    pub async fn start(svc: &Arc<Service>) -> anyhow::Result<()> {
        use anyhow::Context;
        let Some(rx) = svc.alerts.rx.lock().expect("alerting lock").take() else {
            return Ok(());
        };
        let restored: Vec<String> = svc
            .store
            .read(|c| {
                let mut st = c.prepare("SELECT body FROM alerts ORDER BY updated_ms")?;
                st.query_map([], |r| r.get(0))?.collect()
            })
            .await
            .context("reading the active alerts")?;
        let silences = silences::load(&svc.store, now_ms())
            .await
            .context("reading the silences")?;
        svc.alerts
            .outbox
            .load_depths(&svc.store)
            .await
            .context("reading the outbox")?;
        let engine = Engine::new(svc.clone(), restored, silences);
        tokio::spawn(engine.run(rx));
        Outbox::spawn_workers(svc);
        sources::spawn(svc.clone());
        rules::spawn(svc.clone());
        Ok(())
    }

    /// Routes `alert` and hands it to the engine; answers once its state is
    /// committed to the store (what was accepted survives a crash).
    pub async fn submit(
        &self,
        svc: &Arc<Service>,
        alert: Alert,
    ) -> Result<Accepted, AlertingError> {
        // Router plugins are in the registry once the plugin directory has
        // loaded; if it never does, route anyway (a missing router means the
        // default routing) rather than hold alerts forever.
        if !svc.plugins_loaded()
            && tokio::time::timeout(READY_WAIT, svc.wait_ready())
                .await
                .is_err()
        {
            tracing::warn!(alert = %alert.name, "the plugins are not loaded after {READY_WAIT:?}: routing without them");
        }
        // A resolution goes to the channels that were told of the firing:
        // routers decide only where firing alerts go.
        let decision = if alert.is_firing() {
            self.chain.route(svc, &alert).await
        } else {
            Decision::Deliver(Vec::new())
        };
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Command::Event {
                alert,
                decision,
                done: Some(done),
            })
            .await
            .map_err(|_| AlertingError::Stopped)?;
        let mut accepted = rx.await.map_err(|_| AlertingError::Stopped)?;
        if let Some(c) = accepted.committed.take() {
            c.wait().await?;
        }
        Ok(accepted)
    }

    /// Submits `alert` in the background (for the host's own sources).
    pub fn raise(&self, svc: &Arc<Service>, alert: Alert) {
        let svc = svc.clone();
        tokio::spawn(async move {
            let name = alert.name.clone();
            if let Err(e) = svc.alerts.submit(&svc, alert).await {
                tracing::error!(alert = %name, "raising an alert failed: {e}");
            }
        });
    }

    pub async fn list(&self) -> Result<Vec<AlertView>, AlertingError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::List(tx))
            .await
            .map_err(|_| AlertingError::Stopped)?;
        rx.await.map_err(|_| AlertingError::Stopped)
    }

    /// Acknowledges a firing alert: no more repeats, no escalation.
    pub async fn ack(
        &self,
        fingerprint: &str,
        by: &str,
        comment: String,
    ) -> Result<Result<AlertView, String>, AlertingError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Ack {
                fingerprint: fingerprint.to_owned(),
                by: by.to_owned(),
                comment,
                reply: tx,
            })
            .await
            .map_err(|_| AlertingError::Stopped)?;
        match rx.await.map_err(|_| AlertingError::Stopped)? {
            Ok((view, committed)) => {
                // Answered once the acknowledgement is stored.
                committed.wait().await?;
                Ok(Ok(view))
            }
            Err(why) => Ok(Err(why)),
        }
    }

    /// Reloads the silences from the store into the engine.
    pub async fn silences_changed(&self, svc: &Service) -> Result<(), AlertingError> {
        let s = silences::load(&svc.store, now_ms()).await?;
        self.tx
            .send(Command::Silences(s))
            .await
            .map_err(|_| AlertingError::Stopped)
    }
}

/// One row of `GET /v1/alerts/history`.
#[derive(Debug, serde::Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: String,
    pub fingerprint: String,
    pub name: String,
    pub status: String,
    pub severity: String,
    pub source: String,
    /// What happened: `firing`, `resolved`, `acknowledged`, `escalated`, …
    pub detail: String,
    pub alert: serde_json::Value,
}

/// The alert history, newest first, optionally of one fingerprint.
pub async fn history(
    store: &crate::store::Store,
    fingerprint: Option<String>,
    limit: u32,
) -> Result<Vec<HistoryEntry>, StoreError> {
    store
        .read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, at_ms, fingerprint, name, status, severity, source, detail, body
                 FROM alert_history WHERE (?1 IS NULL OR fingerprint = ?1)
                 ORDER BY id DESC LIMIT ?2",
            )?;
            st.query_map(rusqlite::params![fingerprint, limit], |r| {
                let body: String = r.get(8)?;
                Ok(HistoryEntry {
                    id: r.get(0)?,
                    at: crate::clock::rfc3339(r.get(1)?),
                    fingerprint: r.get(2)?,
                    name: r.get(3)?,
                    status: r.get(4)?,
                    severity: r.get(5)?,
                    source: r.get(6)?,
                    detail: r.get(7)?,
                    alert: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect()
        })
        .await
}
