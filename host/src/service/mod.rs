//! The composition root behind `assay serve`: it builds the host's parts
//! from the config, hands each the narrow handles it needs, wires their
//! events together, owns the background tasks, and shuts down in order.
//!
//! ```text
//! config ─► Service::start ─► PluginHost (runtime + registry)
//!                          ─► Validation (pipeline, cache, recording) ─► monitors
//!                          ─► probes::Scheduler
//!                          ─► Alerting (engine task, outbox workers) ◄─ HostEvents (probes, monitors, reloads, quarantines)
//!                          ─► api::router(Arc<Service>)
//! ```
//!
//! Start-up order: everything fallible that is quick (config, store, the
//! alert state, the listening socket) happens before serving; the plugin
//! directory loads in the background while `/ready` answers 503; monitors
//! start once it has. Shutdown: `/ready` fails and probes stop, the HTTP
//! server drains, the background tasks stop and are joined, alerting stops
//! (its queued commands and deliveries in flight finish), and only then
//! does the store close.

mod pending;
mod reload;
mod route_gate;
mod runtime_watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Semaphore, broadcast, watch};

pub(crate) use pending::{ApproveError, PendingUpgrade};
pub(crate) use reload::{LoadFailure, Reloads, spawn_watcher};

use crate::alerts::{self, Alerting, HostEvent};
use crate::audit::AuditLog;
use crate::auth::Auth;
use crate::cluster::Cluster;
use crate::config::HostConfig;
use crate::live::Live;
use crate::probes;
use crate::registry::{self, PluginHost, Registry};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::Store;
use crate::tasks::Tasks;
use crate::telemetry::Metrics;
use crate::validate::{MonitorStatuses, Pipeline, ReportRepo, ResultCache, Validation, monitor};

/// How long each shutdown step waits for its tasks.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// The running host: its parts, for the API and the CLI.
pub struct Service {
    pub config: HostConfig,
    pub plugins: Arc<PluginHost>,
    pub validation: Arc<Validation>,
    pub store: Arc<Store>,
    /// This replica among those sharing the database (alone on SQLite).
    pub cluster: Cluster,
    pub audit: AuditLog,
    pub metrics: Metrics,
    pub auth: Auth,
    live: watch::Sender<Arc<Live>>,
    /// Serialises read-modify-write of the live settings.
    pub live_change: tokio::sync::Mutex<()>,
    /// Among replicas: the stored live settings every replica follows.
    pub(crate) shared_live: Option<crate::live::shared::Shared>,
    pub reloads: Reloads,
    events: broadcast::Sender<HostEvent>,
    pub monitors: Arc<MonitorStatuses>,
    pub probes: Arc<probes::Scheduler>,
    pub alerts: Alerting,
    /// `max_concurrent_validations`.
    pub validation_slots: Semaphore,
    shutting_down: AtomicBool,
    pub started: Instant,
    /// Every background task but alerting's own.
    tasks: Tasks,
}

impl Service {
    /// Builds the host: runtime, store (opened and migrated), an empty
    /// registry, and alerting (its stored state resumed, its engine and
    /// outbox workers running, host events and `[[alert_rule]]`s feeding it).
    pub async fn start(config: HostConfig) -> anyhow::Result<Arc<Service>> {
        // Routing tests that cannot be read would refuse every routing change: say so now.
        if let Some(path) = &config.alerting.route_tests {
            alerts::route_test::Cases::load_for(path, &config)?;
        }
        let auth = Auth::from_config(&config.auth);
        let runtime = Arc::new(Runtime::new(RuntimeOptions {
            background_snapshots: true,
            ..RuntimeOptions::from_config(&config)
        })?);
        let metrics = Metrics::new();
        let (events, events_rx) = broadcast::channel(1024);
        runtime.set_observer(runtime_watch::watch(&metrics, &events));
        let c = &config.validation.cache;
        let cache = ResultCache::new(c.enabled, Duration::from_secs(c.ttl_secs), c.max_entries);
        let plugins = Arc::new(PluginHost::new(
            runtime,
            Arc::new(Registry::empty(&config.plugins.dir)),
            false,
        ));
        let store = Arc::new(
            Store::open(&config.storage)
                .await
                .context("opening the store")?,
        );
        let pipeline = Arc::new(Pipeline::new(plugins.clone(), cache));
        let validation = Arc::new(Validation::new(
            pipeline.clone(),
            ReportRepo::new(store.clone()),
            metrics.clone(),
            config.storage.max_report_bytes as usize,
        ));
        let tasks = Tasks::new();
        let node = config.cluster.node_name();
        let cluster = match store.backend() {
            "postgres" => Cluster::shared(node, config.cluster.lease_ttl, store.clone()),
            _ => Cluster::solo(node),
        };
        let probe_events = events.clone();
        let probes = Arc::new(probes::Scheduler::new(
            &config.probes,
            probes::Handles {
                plugins: plugins.clone(),
                results: probes::ProbeRepo::new(store.clone(), cluster.is_shared()),
                metrics: metrics.probes.clone(),
                on_change: Arc::new(move |e| {
                    let _ = probe_events.send(HostEvent::ProbeStateChanged(Box::new(e)));
                }),
                tasks: tasks.clone(),
                cluster: cluster.clone(),
            },
        ));
        let alerts = Alerting::start(
            &config,
            alerts::Handles {
                store: store.clone(),
                metrics: metrics.alerts.clone(),
                plugins: plugins.clone(),
                cluster: cluster.clone(),
            },
        )
        .await?;
        // Its first round once alerting wants its lease: `/ready` waits for that round.
        cluster.spawn(&tasks);
        alerts::sources::spawn(events_rx, alerts.clone(), &tasks);
        if let (Some(b), Some(db)) = (&config.storage.backup, store.sqlite_path()) {
            crate::backups::spawn(
                b.clone(),
                db.to_owned(),
                metrics.clone(),
                alerts.clone(),
                &tasks,
            );
        }
        let stats = alerts::rules::Stats {
            metrics: metrics.clone(),
            cache: Arc::new(move || pipeline.cache().stats()),
        };
        alerts::rules::spawn(
            config.alert_rules.clone(),
            config.alerting.rule_interval,
            stats,
            alerts.clone(),
            cluster.clone(),
            &tasks,
        );
        let file_live = Live::from_config(&config);
        let (shared_live, live) = if cluster.is_shared() {
            let (shared, live) =
                crate::live::shared::Shared::join(store.clone(), cluster.node(), &file_live)
                    .await
                    .context("joining the replicas' live settings")?;
            (Some(shared), live)
        } else {
            (None, file_live.clone())
        };
        let svc = Arc::new(Service {
            monitors: Arc::new(MonitorStatuses::new(&config.monitors)),
            live: watch::Sender::new(Arc::new(file_live)),
            shared_live,
            plugins,
            validation,
            audit: AuditLog::new(store.clone()),
            store,
            cluster,
            metrics,
            alerts,
            auth,
            live_change: tokio::sync::Mutex::new(()),
            reloads: Reloads::default(),
            events,
            probes,
            validation_slots: Semaphore::new(config.server.max_concurrent_validations),
            shutting_down: AtomicBool::new(false),
            started: Instant::now(),
            tasks,
            config,
        });
        svc.set_live(live);
        if let Some(shared) = svc.shared_live.clone() {
            let current = svc.live.subscribe();
            let weak = Arc::downgrade(&svc);
            shared.follow(
                move || current.borrow().clone(),
                move |live| {
                    if let Some(svc) = weak.upgrade() {
                        svc.set_live(live);
                    }
                },
                &svc.tasks,
            );
        }
        Ok(svc)
    }

    /// Where the host's background tasks run (stopped and joined at shutdown).
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Starts the `[[monitor]]`s (each waits for the plugins to load).
    pub fn spawn_monitors(&self) {
        let events = self.events.clone();
        monitor::spawn(
            monitor::Monitoring {
                monitors: self.config.monitors.clone(),
                validation: self.validation.clone(),
                statuses: self.monitors.clone(),
                live: self.live.subscribe(),
                metrics: self.metrics.clone(),
                max_body_bytes: self.config.server.max_body_bytes,
                on_verdict: Arc::new(move |v| {
                    let _ = events.send(HostEvent::MonitorVerdict(Box::new(v)));
                }),
                cluster: self.cluster.clone(),
            },
            &self.tasks,
        );
    }

    /// Publishes a host event to whoever listens (nobody is fine).
    pub fn publish(&self, event: HostEvent) {
        let _ = self.events.send(event);
    }

    /// Starts, stops and restarts probe instances to match the config and the loaded plugins.
    pub fn apply_probes(&self) {
        if self.is_shutting_down() {
            return;
        }
        let specs = probes::wanted(&self.plugin_config(), &self.plugins.registry());
        self.probes.apply(specs);
    }

    /// The critical probes failing now, by name.
    pub fn critical_failures(&self) -> Vec<String> {
        self.probes
            .all()
            .iter()
            .filter(|p| {
                p.spec.critical && self.probes.shown(p).state == crate::probes::ProbeState::Failing
            })
            .map(|p| p.spec.name.clone())
            .collect()
    }

    /// The current live settings.
    pub fn live(&self) -> Arc<Live> {
        self.live.borrow().clone()
    }

    /// Publishes new live settings and applies what needs applying.
    pub fn set_live(&self, live: Live) {
        let ttl = Duration::from_secs(live.cache.ttl_secs);
        (self.validation.pipeline().cache()).set_policy(live.cache.enabled, ttl);
        self.live.send_replace(Arc::new(live));
    }

    /// Why the service cannot take work now, or `None` when it can
    /// (plugins loaded, store writable, not shutting down).
    /// (`/ready` also fails while a critical probe fails; validations go on.)
    pub fn unready_reason(&self) -> Option<&'static str> {
        if self.is_shutting_down() {
            Some("the server is shutting down")
        } else if !self.plugins.is_loaded() {
            Some("the plugins are still loading")
        } else if !self.store.is_healthy() {
            Some("the store is not writable")
        } else if !self.cluster.has_joined() {
            Some("joining the other replicas (the first heartbeat and leases)")
        } else {
            None
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Loads the plugin directory (the first rescan); failures are kept
    /// for the API and logged. `/ready` passes from then on.
    pub async fn load_plugins(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        registry::discover(&self.config.plugins.dir)?;
        let events = self.rescan("start", true).await;
        let failed = (events.iter())
            .filter(|e| e.outcome == registry::ReloadOutcome::Failed)
            .count();
        tracing::info!(
            "loaded {} plugin(s) from {} in {:.0?}{}",
            self.plugins.registry().plugins.len(),
            self.config.plugins.dir.display(),
            started.elapsed(),
            if failed == 0 {
                String::new()
            } else {
                format!("; {failed} failed")
            }
        );
        self.plugins.set_loaded();
        // Nothing older to keep at start: failing routing tests are reported.
        let _ = self
            .route_gate(
                &self.plugin_config(),
                &self.plugins.registry(),
                "start",
                "the routing in force fails them",
            )
            .await;
        Ok(())
    }

    /// Says that an operator lifted `plugin`'s quarantine: gauge, log, alert resolved.
    pub fn released(&self, plugin: &Arc<str>) {
        self.metrics
            .plugin_quarantined
            .with_label_values(&[plugin])
            .set(0);
        self.publish(HostEvent::Quarantine(Box::new(
            crate::runtime::QuarantineEvent {
                plugin: plugin.clone(),
                change: crate::runtime::QuarantineChange::Released,
                reason: "released by an operator".into(),
            },
        )));
    }

    /// Marks the service as stopping: `/ready` fails from now on, probes stop.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.probes.stop_all();
    }

    /// Stops and joins every background task, then alerting (its queued
    /// alerts and deliveries in flight), then closes the store. Call after
    /// the HTTP server has drained.
    pub async fn stop(&self) {
        self.begin_shutdown();
        if !self.tasks.stop(STOP_LIMIT).await {
            tracing::warn!(
                "{} background task(s) did not stop within {STOP_LIMIT:?}",
                self.tasks.len()
            );
        }
        self.alerts.stop(STOP_LIMIT).await;
        self.store.close().await;
    }
}

/// Runs each table owner's retention every 10 minutes until `tasks` stop:
/// reports, the audit log, alert history and silences, and delivered or
/// dead notifications after `retention_days` (and past `max_reports`);
/// probe results after `[probes] retention_hours`, in chunks.
pub(crate) fn spawn_pruner(svc: &Arc<Service>) {
    let days = Duration::from_secs(svc.config.storage.retention_days * 86_400);
    let max_reports = svc.config.storage.max_reports;
    let probe_hours = Duration::from_secs(svc.config.probes.retention_hours * 3600);
    let (tasks, svc) = (svc.tasks.clone(), svc.clone());
    tasks.clone().spawn(async move {
        loop {
            let mut total = 0;
            let store = &svc.store;
            let reports = svc.validation.reports();
            let owners = [
                ("reports", reports.prune(days, max_reports).await),
                ("audit", store.delete_older(AuditLog::RETENTION, days).await),
                (
                    "alerts",
                    store.delete_older(alerts::AlertRepo::RETENTION, days).await,
                ),
                (
                    "notifications",
                    store.delete_older(alerts::Outbox::RETENTION, days).await,
                ),
            ];
            for (what, pruned) in owners {
                match pruned {
                    Ok(n) => total += n,
                    Err(e) => tracing::warn!("store: pruning {what} failed: {e}"),
                }
            }
            match svc.probes.results().prune_uptime().await {
                Ok(n) => total += n,
                Err(e) => tracing::warn!("store: pruning probe uptime counts failed: {e}"),
            }
            loop {
                match svc.probes.results().prune(probe_hours).await {
                    // A full chunk of probe results: more may be waiting.
                    Ok(n) if n >= probes::ProbeRepo::PRUNE_CHUNK => total += n,
                    Ok(n) => {
                        total += n;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!("store: pruning probe results failed: {e}");
                        break;
                    }
                }
                tokio::task::yield_now().await;
            }
            if total > 0 {
                tracing::info!("store: pruned {total} rows past retention");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                _ = tasks.stopped() => return,
            }
        }
    });
}
