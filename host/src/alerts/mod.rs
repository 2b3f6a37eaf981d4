//! Alerting: host events become alerts, router plugins decide where each
//! goes, the engine applies dedupe, grouping, silences, inhibition, rate
//! limits and escalation, and the outbox delivers durably.
//!
//! ```text
//! sources ─► Alerting::submit ─► router chain (plugins) ─► driver ─► engine (pure)
//! (probes, monitors, plugin loads,                            │ effects
//!  dead letters, [[alert_rule]]s,                             ▼
//!  POST /v1/alerts)                    repo (SQLite) + outbox (SQLite) ─► channel workers
//! ```
//!
//! Routing runs on the submitting task (so many alerts route at once); the
//! engine is one task that owns the alert state, so its decisions need no locks.
//! [`Alerting`] is the handle the rest of the host holds: cheap to clone,
//! and it needs nothing handed back to it.

pub mod breaker;
pub mod channels;
mod driver;
pub mod engine;
mod matchers;
pub mod model;
mod muting;
pub mod notification;
pub mod outbox;
mod repo;
pub mod route_test;
pub(crate) mod routing;
pub mod rules;
pub mod silences;
pub mod sources;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

pub use engine::{AckError, AlertView, Outcome, ViewState};
pub use matchers::{InhibitRule, Matcher};
pub use model::{Alert, AlertStatus};
pub use notification::Notification;
pub use outbox::Outbox;
pub use repo::{AlertRepo, HistoryEntry};
pub use routing::{Decision, Route};
pub use sources::{HostEvent, RouteTestFailure};

use crate::clock::now_ms;
use crate::config::HostConfig;
use crate::registry::PluginHost;
use crate::store::{Store, StoreError};
use crate::tasks::Tasks;
use crate::telemetry::AlertMetrics;
use driver::{Command, Driver};

/// How long an alert waits for the plugin directory to load before it is routed without it.
const READY_WAIT: Duration = Duration::from_secs(30);

/// The alerting side of the host. Cheap to clone.
#[derive(Clone)]
pub struct Alerting(Arc<Shared>);

struct Shared {
    tx: mpsc::Sender<Command>,
    /// Swapped whole when the config file's `[[router]]`s change.
    chain: arc_swap::ArcSwap<routing::Chain>,
    metrics: AlertMetrics,
    outbox: Arc<Outbox>,
    repo: AlertRepo,
    plugins: Arc<PluginHost>,
    /// The engine, the outbox workers and their deliveries.
    tasks: Tasks,
    /// Alerts raised in the background; joined before `tasks` stop.
    raised: Tasks,
}

/// What alerting is given by the host.
pub struct Handles {
    pub store: Arc<Store>,
    pub metrics: AlertMetrics,
    pub plugins: Arc<PluginHost>,
    /// Which replica decides alert state (see [`driver`]).
    pub cluster: crate::cluster::Cluster,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("the alert engine is not running")]
    Stopped,
    #[error("storing the alert failed: {0}")]
    Store(#[from] StoreError),
}

/// What became of a submitted alert, once its state is committed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Accepted {
    pub fingerprint: String,
    pub outcome: Outcome,
}

impl Alerting {
    /// Builds the channels, resumes the stored state (active alerts,
    /// silences, outbox depths) and starts the engine and the outbox
    /// workers. Fails on settings a channel cannot use, or an unreadable store.
    pub async fn start(config: &HostConfig, handles: Handles) -> anyhow::Result<Alerting> {
        let Handles {
            store,
            metrics,
            plugins,
            cluster,
        } = handles;
        let channels = (config.channels.iter())
            .map(|c| channels::Channel::new(c.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("alerting: {e}"))?;
        for c in &config.channels {
            metrics.know_channel(&c.name);
        }
        let repo = AlertRepo::new(store.clone());
        let claims = cluster.is_shared().then(|| outbox::Claims {
            node: cluster.node().to_owned(),
            margin: config.cluster.lease_ttl,
        });
        let outbox = Arc::new(Outbox::new(
            channels,
            config.alerting.clone(),
            store,
            metrics.clone(),
            claims,
        ));
        let restored = repo.active().await.context("reading the active alerts")?;
        let silences = (repo.silences(now_ms()).await).context("reading the silences")?;
        outbox.resume().await.context("reading the outbox")?;
        let limits: HashMap<String, u32> = (config.channels.iter())
            .filter_map(|c| Some((c.name.clone(), c.max_per_hour?)))
            .collect();
        let inhibit = config.inhibit_rules.iter().map(InhibitRule::from).collect();
        let ack_channels = (config.channels.iter())
            .filter(|c| c.kind == crate::config::ChannelType::Pagerduty)
            .map(|c| c.name.clone())
            .collect();
        let spec = driver::EngineSpec {
            policy: config.alerting.clone(),
            limits,
            inhibit,
            ack_channels,
        };
        let mut engine = spec.engine();
        // Alone, this replica decides at once; among replicas, once it holds the lease.
        cluster.want(driver::LEASE, [driver::LEASE.to_owned()]);
        let leading = !cluster.is_shared();
        if leading {
            engine.restore(restored, now_ms());
            engine.set_silences(silences);
        }

        let (tx, rx) = mpsc::channel(8192);
        let tasks = Tasks::new();
        let alerting = Alerting(Arc::new(Shared {
            tx,
            chain: arc_swap::ArcSwap::from_pointee(routing::Chain::new(
                config,
                plugins.runtime().clone(),
                Some(metrics.clone()),
            )),
            metrics: metrics.clone(),
            outbox: outbox.clone(),
            repo: repo.clone(),
            plugins,
            tasks: tasks.clone(),
            raised: Tasks::new(),
        }));
        let driver = Driver {
            engine,
            spec,
            cluster,
            leading,
            stale: false,
            repo,
            outbox: outbox.clone(),
            metrics,
            tasks: tasks.clone(),
            tick: config.alerting.tick,
        };
        tasks.spawn(driver.run(rx));
        outbox.spawn_workers(&alerting, &tasks);
        Ok(alerting)
    }

    /// Starts preparing the routers' snapshots (see [`crate::registry::Snapshots`]).
    pub fn warm(&self) {
        self.0.chain.load().warm(&self.0.plugins.registry());
    }

    /// Puts `config`'s `[[router]]`s and `[[inhibit_rule]]`s in force (a
    /// reloaded config file, past the routing-test gate). Alerts being routed
    /// finish with the chain they started with.
    pub async fn set_routing(&self, config: &HostConfig) -> Result<(), AlertingError> {
        let chain = routing::Chain::new(
            config,
            self.0.plugins.runtime().clone(),
            Some(self.0.metrics.clone()),
        );
        chain.warm(&self.0.plugins.registry());
        self.0.chain.store(Arc::new(chain));
        let rules = config.inhibit_rules.iter().map(InhibitRule::from).collect();
        self.send(Command::Inhibit(rules)).await
    }

    /// The outbox (notifications, channels, retries).
    pub fn outbox(&self) -> &Outbox {
        &self.0.outbox
    }

    /// The alert tables (history, silences).
    pub fn repo(&self) -> &AlertRepo {
        &self.0.repo
    }

    /// Routes `alert` and hands it to the engine; answers once its state is
    /// committed to the store (what was accepted survives a crash).
    pub async fn submit(&self, alert: Alert) -> Result<Accepted, AlertingError> {
        let mut accepted = self.submit_all(vec![alert]).await?;
        Ok(accepted.pop().expect("one alert, one answer"))
    }

    /// Routes `alerts` (concurrently) and hands them to the engine in one
    /// turn, so alerts submitted together are grouped together whatever
    /// the load; answers, in order, once their states are committed.
    pub async fn submit_all(&self, mut alerts: Vec<Alert>) -> Result<Vec<Accepted>, AlertingError> {
        // Where they came from, for the traces of their deliveries.
        if let Some(tp) = crate::telemetry::traces::current_traceparent() {
            for a in alerts.iter_mut().filter(|a| a.traceparent.is_none()) {
                a.traceparent = Some(tp.clone());
            }
        }
        // Router plugins are in the registry once the plugin directory has
        // loaded; if it never does, route anyway (a missing router means the
        // default routing) rather than hold alerts forever.
        let plugins = &self.0.plugins;
        if !plugins.is_loaded()
            && tokio::time::timeout(READY_WAIT, plugins.wait_loaded())
                .await
                .is_err()
        {
            tracing::warn!("the plugins are not loaded after {READY_WAIT:?}: routing without them");
        }
        let routed = if let [alert] = alerts.as_slice() {
            vec![(alert.clone(), self.decide(alert).await)]
        } else {
            let mut routing = tokio::task::JoinSet::new();
            for (i, alert) in alerts.into_iter().enumerate() {
                let me = self.clone();
                routing.spawn(tracing::Instrument::in_current_span(async move {
                    let decision = me.decide(&alert).await;
                    (i, alert, decision)
                }));
            }
            let mut batch = Vec::new();
            while let Some(routed) = routing.join_next().await {
                batch.push(routed.map_err(|_| AlertingError::Stopped)?);
            }
            batch.sort_by_key(|(i, ..)| *i);
            batch.into_iter().map(|(_, a, d)| (a, d)).collect()
        };
        let (batch, steps): (Vec<_>, Vec<_>) = (routed.into_iter())
            .map(|(a, r)| ((a, r.decision), r.steps))
            .unzip();
        let fingerprints: Vec<String> = batch.iter().map(|(a, _)| a.fingerprint.clone()).collect();
        let (done, rx) = oneshot::channel();
        self.send(Command::Events { batch, steps, done }).await?;
        let applied = rx.await.map_err(|_| AlertingError::Stopped)?;
        let mut accepted = Vec::with_capacity(applied.len());
        for ((outcome, committed), fingerprint) in applied.into_iter().zip(fingerprints) {
            if let Some(c) = committed {
                c.wait().await?;
            }
            accepted.push(Accepted {
                fingerprint,
                outcome,
            });
        }
        Ok(accepted)
    }

    /// Where `alert` goes. A resolution goes to the channels that were told
    /// of the firing: routers decide only where firing alerts go.
    async fn decide(&self, alert: &Alert) -> routing::Routed {
        if alert.is_firing() {
            use tracing::Instrument as _;
            let span = tracing::info_span!(
                target: crate::telemetry::traces::TARGET,
                "alert.route",
                otel.name = %format_args!("route {}", alert.name),
                assay.alert.name = %alert.name,
                assay.alert.fingerprint = %alert.fingerprint,
                assay.alert.severity = alert.severity.as_str(),
                assay.route.decision = tracing::field::Empty,
            );
            let chain = self.0.chain.load_full();
            let routed = chain
                .route(&self.0.plugins.registry(), alert, None)
                .instrument(span.clone())
                .await;
            if !span.is_disabled() {
                let decision = match &routed.decision {
                    Decision::Deliver(routes) => format!(
                        "deliver to {}",
                        routes
                            .iter()
                            .map(|r| r.channel.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Decision::Suppressed(why) => format!("suppressed: {why}"),
                };
                span.record("assay.route.decision", decision);
            }
            routed
        } else {
            routing::Routed {
                decision: Decision::Deliver(Vec::new()),
                steps: Vec::new(),
            }
        }
    }

    /// Submits `alert` in the background (for the host's own sources).
    pub fn raise(&self, alert: Alert) {
        let me = self.clone();
        self.0.raised.spawn(async move {
            let name = alert.name.clone();
            if let Err(e) = me.submit(alert).await {
                tracing::error!(alert = %name, "raising an alert failed: {e}");
            }
        });
    }

    /// Every active alert, most severe first.
    pub async fn list(&self) -> Result<Vec<AlertView>, AlertingError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::List(tx)).await?;
        Ok(rx.await.map_err(|_| AlertingError::Stopped)??)
    }

    /// Acknowledges a firing alert: no more repeats, no escalation.
    /// Answers once the acknowledgement is stored.
    pub async fn ack(
        &self,
        fingerprint: &str,
        by: &str,
        comment: String,
    ) -> Result<Result<AlertView, AckError>, AlertingError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Ack {
            fingerprint: fingerprint.to_owned(),
            by: by.to_owned(),
            comment,
            reply,
        })
        .await?;
        match rx.await.map_err(|_| AlertingError::Stopped)? {
            Ok((view, committed)) => {
                committed.wait().await?;
                Ok(Ok(view))
            }
            Err(why) => Ok(Err(why)),
        }
    }

    /// Reloads the silences from the store into the engine.
    pub async fn silences_changed(&self) -> Result<(), AlertingError> {
        let s = self.0.repo.silences(now_ms()).await?;
        self.send(Command::Silences(s)).await
    }

    /// Stops alerting: waits for the alerts raised in the background, then
    /// stops the engine (after the commands it has queued) and the outbox
    /// workers (after their attempts in flight), `limit` for each step.
    /// Rows still pending stay pending for the next start.
    pub async fn stop(&self, limit: Duration) {
        if !self.0.raised.stop(limit).await {
            tracing::warn!("alerts: some raised alerts were still routing at shutdown");
        }
        if !self.0.tasks.stop(limit).await {
            tracing::warn!(
                "alerts: {} delivery task(s) still running at shutdown; their notifications stay pending",
                self.0.tasks.len()
            );
        }
        self.0.outbox.release_claims().await;
    }

    async fn send(&self, cmd: Command) -> Result<(), AlertingError> {
        (self.0.tx.send(cmd).await).map_err(|_| AlertingError::Stopped)
    }
}
