//! The running service behind `assay serve`: shared state, start-up, background tasks and shutdown.
//!
//! Start-up order: everything fallible that is quick (config, store, the
//! listening socket) happens before serving; the plugin directory loads in
//! the background while `/ready` answers 503; monitors start once it has.

mod book;
pub mod live;
mod monitor;
mod reload;
mod runtime_watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Semaphore, watch};

pub use book::{LoadFailure, PluginBook, PluginStats};
pub use live::{Live, LivePatch, PatchError};
pub use monitor::{MonitorBook, MonitorStatus, MonitorVerdict};
pub use reload::{ReloadEvent, Reloads, spawn_watcher};

/// What happened in the host that someone may want to hear of (the alerting
/// side subscribes with [`Service::subscribe_events`]).
#[derive(Debug, Clone)]
pub enum HostEvent {
    /// A plugin file failed to load; if an older version was loaded, it keeps serving.
    PluginFailed(Box<ReloadEvent>),
    /// A probe instance's reported state changed.
    ProbeStateChanged(Box<crate::probes::ProbeEvent>),
    /// A monitored subject's verdict changed (or was seen for the first time).
    MonitorVerdict(Box<MonitorVerdict>),
    /// A plugin that had failed to load has loaded.
    PluginRecovered(String),
    /// A plugin was quarantined, or released (by a trial call or an operator).
    Quarantine(Box<crate::runtime::QuarantineEvent>),
}

use crate::api::auth::Auth;
use crate::clock::now_ms;
use crate::config::HostConfig;
use crate::registry::{self, Registry};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::{ReportRow, Retention, Store, StoreError};
use crate::telemetry::Metrics;
use crate::validate::{Pipeline, Report, ResultCache};

/// Everything a request handler or background task may need.
pub struct Service {
    pub config: HostConfig,
    pub pipeline: Arc<Pipeline>,
    pub store: Store,
    pub metrics: Metrics,
    pub auth: Auth,
    live: watch::Sender<Arc<Live>>,
    /// Serialises read-modify-write of the live settings.
    pub live_change: tokio::sync::Mutex<()>,
    pub plugins: Mutex<PluginBook>,
    pub reloads: Reloads,
    events: tokio::sync::broadcast::Sender<HostEvent>,
    pub monitors: MonitorBook,
    pub probes: crate::probes::ProbeBook,
    pub alerts: crate::alerts::Alerting,
    /// `max_concurrent_validations`.
    pub validation_slots: Semaphore,
    ready: watch::Sender<bool>,
    shutting_down: AtomicBool,
    pub started: Instant,
    /// This service, for starting tasks from `&self` methods.
    me: std::sync::Weak<Service>,
}

impl Service {
    /// Builds the service: runtime, store (opened and migrated) and an empty registry.
    pub fn new(config: HostConfig) -> anyhow::Result<Arc<Service>> {
        let auth = Auth::from_config(&config.auth);
        let runtime = Arc::new(Runtime::new(RuntimeOptions {
            background_snapshots: true,
            ..config.runtime_options()
        })?);
        let metrics = Metrics::new();
        let events = tokio::sync::broadcast::Sender::new(1024);
        runtime.set_observer(runtime_watch::watch(&metrics, &events));
        let c = &config.validation.cache;
        let cache = ResultCache::new(c.enabled, Duration::from_secs(c.ttl_secs), c.max_entries);
        let registry = Arc::new(Registry::empty(&config.plugins.dir));
        let retention = Retention {
            max_age: Duration::from_secs(config.storage.retention_days * 86_400),
            max_reports: config.storage.max_reports,
            probe_max_age: Duration::from_secs(config.probes.retention_hours * 3600),
        };
        let store = Store::open(
            &config.storage.path,
            retention,
            config.storage.synchronous_full(),
        )
        .context("opening the store")?;
        let live = Live::from_config(&config);
        let alerts =
            crate::alerts::Alerting::new(&config).map_err(|e| anyhow::anyhow!("alerting: {e}"))?;
        for c in &config.channels {
            metrics.alerts.know_channel(&c.name);
        }
        Ok(Arc::new_cyclic(|me| Service {
            me: me.clone(),
            probes: crate::probes::ProbeBook::new(&config.probes),
            pipeline: Arc::new(Pipeline::new(runtime, registry, cache)),
            store,
            metrics,
            alerts,
            auth,
            live: watch::Sender::new(Arc::new(live)),
            live_change: tokio::sync::Mutex::new(()),
            plugins: Mutex::default(),
            reloads: Reloads::default(),
            events,
            monitors: MonitorBook::new(&config.monitors),
            validation_slots: Semaphore::new(config.server.max_concurrent_validations),
            ready: watch::Sender::new(false),
            shutting_down: AtomicBool::new(false),
            started: Instant::now(),
            config,
        }))
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
        if let Some(me) = self.me.upgrade() {
            crate::probes::scheduler::apply(&me);
        }
    }

    /// The critical probes failing now, by name.
    pub fn critical_failures(&self) -> Vec<String> {
        self.probes
            .all()
            .iter()
            .filter(|p| p.spec.critical && p.state() == crate::probes::ProbeState::Failing)
            .map(|p| p.spec.name.clone())
            .collect()
    }

    /// The current live settings.
    pub fn live(&self) -> Arc<Live> {
        self.live.borrow().clone()
    }

    pub fn subscribe_live(&self) -> watch::Receiver<Arc<Live>> {
        self.live.subscribe()
    }

    /// Publishes new live settings and applies what needs applying.
    pub fn set_live(&self, live: Live) {
        let ttl = Duration::from_secs(live.cache.ttl_secs);
        self.pipeline.cache().set_policy(live.cache.enabled, ttl);
        self.live.send_replace(Arc::new(live));
    }

    /// Why the service cannot take work now, or `None` when it can
    /// (plugins loaded, store writable, not shutting down).
    /// (`/ready` also fails while a critical probe fails; validations go on.)
    pub fn unready_reason(&self) -> Option<&'static str> {
        if self.is_shutting_down() {
            Some("the server is shutting down")
        } else if !self.plugins_loaded() {
            Some("the plugins are still loading")
        } else if !self.store.is_healthy() {
            Some("the store is not writable")
        } else {
            None
        }
    }

    pub fn plugins_loaded(&self) -> bool {
        *self.ready.borrow()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Loads the plugin directory into the pipeline (the first rescan);
    /// failures are kept for the API and logged. `/ready` passes from then on.
    pub async fn load_plugins(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        registry::discover(&self.config.plugins.dir)?;
        let events = self.rescan("start", true).await;
        let failed = events.iter().filter(|e| e.outcome == "failed").count();
        tracing::info!(
            "loaded {} plugin(s) from {} in {:.0?}{}",
            self.pipeline.registry().plugins.len(),
            self.config.plugins.dir.display(),
            started.elapsed(),
            if failed == 0 {
                String::new()
            } else {
                format!("; {failed} failed")
            }
        );
        self.ready.send_replace(true);
        Ok(())
    }

    /// Host events from now on (plugin load failures, …).
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<HostEvent> {
        self.events.subscribe()
    }

    /// Waits until the plugins are loaded.
    pub async fn wait_ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Records a finished validation: history (committed before this
    /// returns), metrics and per-plugin counts. Answers the stored report.
    pub async fn record(
        &self,
        report: &Report,
        source: &Source,
        actor: Option<&str>,
    ) -> Result<Recorded, StoreError> {
        let created_ms = now_ms();
        let row = ReportRow {
            created_ms,
            source: source.to_string(),
            actor: actor.map(str::to_owned),
            subject: report.subject.clone(),
            digest: report.digest.clone(),
            level: report.level.as_str().to_owned(),
            verdict: report.verdict.as_str().to_owned(),
            findings: report.findings.len() as i64,
            cached: report.cached,
            duration_us: report.duration_us as i64,
            body: report.to_bounded_json(self.config.storage.max_report_bytes as usize),
        };
        self.metrics.record_validation(report, source.label());
        self.plugins
            .lock()
            .expect("plugin book lock")
            .record(report);
        // The row's body is moved to the writer; the answer needs it too.
        let body = row.body.clone();
        match self.store.insert_report(row).await {
            Ok(id) => {
                self.metrics.reports_stored.inc();
                Ok(Recorded {
                    id,
                    created_ms,
                    body,
                })
            }
            Err(e) => {
                self.metrics.store_write_errors.inc();
                Err(e)
            }
        }
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
        crate::probes::scheduler::stop_all(self);
    }
}

/// Where a validation came from: the history's `source` column and the metrics' `source` label.
pub enum Source {
    Api,
    Monitor(String),
}

impl Source {
    /// The metric label: bounded, so monitor names stay out of it.
    pub fn label(&self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Monitor(_) => "monitor",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Api => f.write_str("api"),
            Source::Monitor(name) => write!(f, "monitor:{name}"),
        }
    }
}

/// A report as it was written to the history.
pub struct Recorded {
    pub id: i64,
    pub created_ms: i64,
    /// The report as JSON (an object).
    pub body: String,
}

impl Recorded {
    /// The report's JSON with its `id`, `created_at`, `source` and `actor`
    /// first: what `POST /v1/validate` answers, without serialising the
    /// report a second time.
    pub fn to_json(&self, source: &Source, actor: Option<&str>) -> String {
        let meta = serde_json::json!({
            "id": self.id,
            "created_at": crate::clock::rfc3339(self.created_ms),
            "source": source.to_string(),
            "actor": actor,
        })
        .to_string();
        let report = self.body.strip_prefix('{').unwrap_or(&self.body);
        let sep = if report.starts_with('}') { "" } else { "," };
        format!("{}{sep}{report}", &meta[..meta.len() - 1])
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs background work until `stop` turns true: the store's retention pruning.
pub fn spawn_pruner(
    svc: Arc<Service>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let mut total = 0;
            loop {
                match svc.store.prune().await {
                    // A full chunk of probe results: more may be waiting.
                    Ok(n) if n >= Store::PRUNE_CHUNK => total += n,
                    Ok(n) => {
                        total += n;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!("store: pruning failed: {e}");
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
                _ = stopped(&mut stop) => return,
            }
        }
    })
}

pub use monitor::spawn_monitors;

#[cfg(test)]
mod tests {
    use super::{Recorded, Source};

    #[test]
    fn the_answer_is_the_stored_body_with_its_place_first() {
        let r = Recorded {
            id: 7,
            created_ms: 0,
            body: r#"{"subject":"a","findings":[]}"#.into(),
        };
        let v: serde_json::Value =
            serde_json::from_str(&r.to_json(&Source::Api, Some("ci"))).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["actor"], "ci");
        assert_eq!(v["subject"], "a");
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
        let empty = Recorded {
            body: "{}".into(),
            ..r
        };
        let v: serde_json::Value =
            serde_json::from_str(&empty.to_json(&Source::Monitor("m".into()), None)).unwrap();
        assert_eq!(v["source"], "monitor:m");
    }
}
