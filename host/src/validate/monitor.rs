//! `[[monitor]]` targets: files validated on an interval and whenever they change.
//!
//! Each monitor is its own task, so a slow one never holds up another; all
//! of them together use at most half of the runtime's concurrency, so that
//! monitoring never starves the API. A file watcher (notify) wakes a monitor
//! when one of its files changes; bursts of events are debounced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use super::{Request, Source, SubjectInput, ValidateError, Validation, Verdict};
use crate::clock::{now_ms, rfc3339};
use crate::config::MonitorSection;
use crate::live::Live;
use crate::tasks::Tasks;
use crate::telemetry::Metrics;

const DEBOUNCE: Duration = Duration::from_millis(200);

/// What `GET /v1/monitors` shows of one monitor.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorStatus {
    pub name: String,
    pub path: String,
    pub glob: Option<String>,
    pub level: Option<String>,
    pub plugins: Vec<String>,
    pub interval_secs: u64,
    pub runs: u64,
    /// Runs skipped because a plugin was busy (no call slot within its `max_queue_ms`).
    pub skipped_runs: u64,
    pub last_run_at: Option<String>,
    pub last_trigger: Option<String>,
    pub last_verdict: Option<Verdict>,
    pub last_error: Option<String>,
    pub subjects: Vec<SubjectStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubjectStatus {
    pub subject: String,
    pub verdict: Verdict,
    pub report_id: i64,
}

/// The status of every monitor, by name.
pub struct MonitorStatuses {
    status: Mutex<BTreeMap<String, MonitorStatus>>,
}

impl MonitorStatuses {
    pub fn new(monitors: &[MonitorSection]) -> Self {
        let status = monitors
            .iter()
            .map(|m| {
                let s = MonitorStatus {
                    skipped_runs: 0,
                    name: m.name.clone(),
                    path: m.path.display().to_string(),
                    glob: m.glob.clone(),
                    level: m.level.map(|l| l.to_string()),
                    plugins: m.plugins.clone(),
                    interval_secs: m.interval_secs,
                    runs: 0,
                    last_run_at: None,
                    last_trigger: None,
                    last_verdict: None,
                    last_error: None,
                    subjects: Vec::new(),
                };
                (m.name.clone(), s)
            })
            .collect();
        MonitorStatuses {
            status: Mutex::new(status),
        }
    }

    pub fn list(&self, live: &Live) -> Vec<MonitorStatus> {
        let status = self.status.lock().expect("monitor lock");
        status
            .values()
            .cloned()
            .map(|mut s| {
                if let Some(m) = live.monitors.get(&s.name) {
                    s.interval_secs = m.interval_secs;
                }
                s
            })
            .collect()
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut MonitorStatus)) {
        if let Some(s) = self.status.lock().expect("monitor lock").get_mut(name) {
            f(s);
        }
    }
}

/// A monitor's target: one file, or the files of a directory matching a glob.
struct Target {
    path: PathBuf,
    /// Over paths relative to `path` (unused when `path` is a file).
    glob: GlobMatcher,
    recursive: bool,
}

impl Target {
    fn new(m: &MonitorSection) -> Self {
        let pattern = m.glob.clone().unwrap_or_else(|| "*".into());
        let glob = GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .expect("checked with the config")
            .compile_matcher();
        let path = std::path::absolute(&m.path).unwrap_or_else(|_| m.path.clone());
        Target {
            recursive: pattern.contains('/'),
            glob,
            path,
        }
    }

    /// Whether a changed path concerns this target.
    fn concerns(&self, changed: &Path) -> bool {
        if changed == self.path {
            return true;
        }
        changed
            .strip_prefix(&self.path)
            .is_ok_and(|rel| self.glob.is_match(rel))
    }

    /// The subjects now: the file itself, or the matching files, sorted.
    fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let meta = std::fs::metadata(&self.path)?;
        if !meta.is_dir() {
            return Ok(vec![self.path.clone()]);
        }
        let mut out = Vec::new();
        let mut stack = vec![self.path.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    if self.recursive {
                        stack.push(path);
                    }
                    continue;
                }
                let rel = path.strip_prefix(&self.path).unwrap_or(&path);
                if self.glob.is_match(rel) {
                    out.push(path);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// What the monitors are given.
pub(crate) struct Monitoring {
    pub monitors: Vec<MonitorSection>,
    pub validation: Arc<Validation>,
    pub statuses: Arc<MonitorStatuses>,
    pub live: watch::Receiver<Arc<Live>>,
    pub metrics: Metrics,
    /// `server.max_body_bytes`: a larger file is not validated.
    pub max_body_bytes: usize,
    /// Told of each subject whose verdict changed (or was seen for the first time).
    pub on_verdict: Arc<dyn Fn(MonitorVerdict) + Send + Sync>,
    /// Among replicas, a monitor runs on the node holding its lease (`monitor:NAME`).
    pub cluster: crate::cluster::Cluster,
}

/// Starts one task per monitor and the file watcher, until `tasks` stop.
pub(crate) fn spawn(m: Monitoring, tasks: &Tasks) {
    (m.cluster).want(
        "monitor:",
        m.monitors.iter().map(|s| format!("monitor:{}", s.name)),
    );
    if m.monitors.is_empty() {
        return;
    }
    let concurrency = m
        .validation
        .pipeline()
        .plugins()
        .runtime()
        .options()
        .max_concurrency;
    let slots = Arc::new(Semaphore::new((concurrency as usize / 2).max(1)));
    let targets: Vec<Arc<Target>> = m
        .monitors
        .iter()
        .map(|m| Arc::new(Target::new(m)))
        .collect();
    let wakers: Vec<Arc<Notify>> = m.monitors.iter().map(|_| Arc::new(Notify::new())).collect();
    let watcher = start_watcher(&targets, &wakers);
    let m = Arc::new(m);
    for ((section, target), waker) in m.monitors.iter().cloned().zip(targets).zip(wakers) {
        let run = Run {
            m: m.clone(),
            section,
            target,
            slots: slots.clone(),
        };
        let t = tasks.clone();
        tasks.spawn(async move { run.run(waker, t).await });
    }
    // The watcher lives as long as the monitors.
    let t = tasks.clone();
    tasks.spawn(async move {
        t.stopped().await;
        drop(watcher);
    });
}

fn start_watcher(
    targets: &[Arc<Target>],
    wakers: &[Arc<Notify>],
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let routes: Vec<(Arc<Target>, Arc<Notify>)> = targets
        .iter()
        .cloned()
        .zip(wakers.iter().cloned())
        .collect();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        for (target, waker) in &routes {
            if event.paths.iter().any(|p| target.concerns(p)) {
                waker.notify_one();
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(
                "monitors: cannot watch files ({e}); monitors run on their interval only"
            );
            return None;
        }
    };
    for t in targets {
        // A file is watched through its directory, so that replacing it by rename is seen.
        let (dir, mode) = if t.path.is_dir() {
            let mode = if t.recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            (t.path.clone(), mode)
        } else {
            (
                t.path.parent().unwrap_or(Path::new("/")).to_owned(),
                RecursiveMode::NonRecursive,
            )
        };
        if let Err(e) = watcher.watch(&dir, mode) {
            tracing::warn!(
                "monitors: cannot watch {} ({e}); it is checked on its interval only",
                dir.display()
            );
        }
    }
    Some(watcher)
}

/// One monitor's task.
struct Run {
    m: Arc<Monitoring>,
    section: MonitorSection,
    target: Arc<Target>,
    slots: Arc<Semaphore>,
}

impl Run {
    async fn run(self, waker: Arc<Notify>, tasks: Tasks) {
        let m = &self.section;
        let mut live = self.m.live.clone();
        tokio::select! {
            _ = self.m.validation.pipeline().plugins().wait_loaded() => {}
            _ = tasks.stopped() => return,
        }
        let item = format!("monitor:{}", m.name);
        let mut leases = self.m.cluster.changes();
        let mut trigger = "start";
        loop {
            // Another replica holds it: wait for the next trigger (or for its lease).
            let held = self.m.cluster.holds(&item).is_some();
            if held {
                let settings = live.borrow().clone();
                self.pass(&settings, trigger).await;
            }
            let last = Instant::now();
            trigger = loop {
                let interval = live
                    .borrow()
                    .monitors
                    .get(&m.name)
                    .map_or(m.interval_secs, |l| l.interval_secs);
                tokio::select! {
                    _ = tokio::time::sleep_until(last + Duration::from_secs(interval)) => break "interval",
                    _ = waker.notified() => {
                        // Let a burst of writes settle, then take the notification they left.
                        tokio::time::sleep(DEBOUNCE).await;
                        break "change";
                    }
                    changed = live.changed() => if changed.is_err() { return },
                    _ = leases.changed() => if !held && self.m.cluster.holds(&item).is_some() {
                        break "lease";
                    },
                    _ = tasks.stopped() => return,
                }
            };
        }
    }

    /// Validates every file of the target once and records the reports.
    async fn pass(&self, live: &Live, trigger: &str) {
        let (m, target, metrics) = (&self.section, &self.target, &self.m.metrics);
        let level = m.level.unwrap_or(live.default_level);
        let budget = live.budget_ms.get(level).map(Duration::from_millis);
        metrics
            .monitor_runs
            .with_label_values(&[&m.name, trigger])
            .inc();
        let result = async {
            let files = target
                .files()
                .map_err(|e| format!("{}: {e}", target.path.display()))?;
            if files.is_empty() {
                return Err(format!(
                    "no files in {} match the glob",
                    target.path.display()
                ));
            }
            let mut subjects = Vec::new();
            for file in files {
                let data = tokio::fs::read(&file)
                    .await
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                if data.len() > self.m.max_body_bytes {
                    return Err(format!(
                        "{} is larger than server.max_body_bytes",
                        file.display()
                    ));
                }
                let subject = SubjectInput::new(file.display().to_string(), data);
                let _slot = self.slots.acquire().await.map_err(|e| e.to_string())?;
                let req = Request {
                    subject: &subject,
                    level,
                    only: &m.plugins,
                    budget,
                    source: Source::Monitor(m.name.clone()),
                    actor: None,
                };
                let (report, recorded) = match self.m.validation.validate_and_record(req).await {
                    Ok(done) => done,
                    // A plugin that could not get a slot did not check this file:
                    // skip the run rather than record a report it did not earn.
                    Err(ValidateError::Busy { plugins, .. }) => {
                        return Err(format!("{SKIPPED}{plugins} busy"));
                    }
                    Err(e) => return Err(e.to_string()),
                };
                subjects.push(SubjectStatus {
                    subject: report.subject,
                    verdict: report.verdict,
                    report_id: recorded.id,
                });
            }
            Ok(subjects)
        };
        let span = tracing::info_span!(
            target: crate::telemetry::traces::TARGET,
            "monitor.pass",
            otel.name = %format_args!("monitor {}", m.name),
            assay.monitor.name = %m.name,
            assay.monitor.trigger = trigger,
            assay.validation.level = level.as_str(),
            assay.monitor.subjects = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        let result = tracing::Instrument::instrument(result, span.clone()).await;
        match &result {
            Ok(subjects) => {
                span.record("assay.monitor.subjects", subjects.len());
            }
            Err(e) => crate::telemetry::traces::failed(&span, e),
        }
        let changed = self.note(result, trigger);
        for v in changed {
            (self.m.on_verdict)(v);
        }
    }

    /// Updates the monitor's status with a pass's result; answers the verdicts that changed.
    fn note(
        &self,
        result: Result<Vec<SubjectStatus>, String>,
        trigger: &str,
    ) -> Vec<MonitorVerdict> {
        let (m, metrics) = (&self.section, &self.m.metrics);
        let now = now_ms();
        metrics
            .monitor_last_run
            .with_label_values(&[&m.name])
            .set(now as f64 / 1000.0);
        let mut changed = Vec::new();
        self.m.statuses.update(&m.name, |s| {
            s.runs += 1;
            s.last_run_at = Some(rfc3339(now));
            s.last_trigger = Some(trigger.to_owned());
            match result {
                Ok(subjects) => {
                    // Subjects seen for the first time count as changed: after a
                    // restart, an alert restored from the store may need resolving.
                    for now in &subjects {
                        let before = s.subjects.iter().find(|b| b.subject == now.subject);
                        if before.is_none_or(|b| b.verdict != now.verdict) {
                            changed.push(MonitorVerdict {
                                monitor: m.name.clone(),
                                subject: now.subject.clone(),
                                verdict: now.verdict,
                                report_id: now.report_id,
                            });
                        }
                    }
                    let worst = subjects.iter().map(|s| s.verdict).max_by_key(|v| v.rank());
                    s.last_verdict = worst;
                    s.last_error = None;
                    s.subjects = subjects;
                }
                Err(e) if e.starts_with(SKIPPED) => {
                    tracing::warn!(monitor = %m.name, "monitor run skipped: {e}");
                    s.skipped_runs += 1;
                    metrics.monitor_skipped.with_label_values(&[&m.name]).inc();
                }
                Err(e) => {
                    tracing::warn!(monitor = %m.name, "monitor run failed: {e}");
                    s.last_error = Some(e);
                }
            }
            if let Some(v) = s.last_verdict {
                metrics.set_monitor_verdict(&m.name, v);
            }
            tracing::info!(monitor = %m.name, trigger, verdict = ?s.last_verdict, "monitor run");
        });
        changed
    }
}

/// How a run's error says it was skipped rather than failed.
const SKIPPED: &str = "skipped: ";

/// A monitored subject's verdict changed (published on the host's event stream).
#[derive(Debug, Clone)]
pub struct MonitorVerdict {
    pub monitor: String,
    pub subject: String,
    pub verdict: Verdict,
    /// The report that gave the verdict.
    pub report_id: i64,
}
