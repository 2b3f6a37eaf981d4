//! The probe scheduler: one tokio task per instance, runs anchored to a fixed grid, at most one run per instance at a time.
//!
//! Instance `i` runs at `origin + phase_i + k × interval (+ jitter)`, where
//! the phase spreads instances over their interval by a hash of the name,
//! so thousands of probes with the same interval do not fire together, and
//! the grid never drifts: a slow run does not push later runs back. A run
//! still going at its next slot makes that slot a skipped run (counted), not
//! a second concurrent run. Calls wait for one of the runtime's probe
//! permits (`[probes] max_concurrency`); the wait counts as scheduler lag.
//! One plugin's instances hold at most half of those permits at a time (or
//! its sidecar's `max_concurrency`), so
//! a plugin whose calls hang or spin until their timeout cannot starve the
//! probes of other plugins.
//!
//! Among replicas, an instance runs only on the node that holds its lease
//! (`probe:NAME`, see [`crate::cluster`]); the others keep it scheduled and
//! let its slots pass, and its results land only with a current fencing token.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::repo::{ProbeRecord, ProbeRepo, ProbeRow, SharedState};
use super::state::{Policy, ProbeState, Tracker, Transition};
use super::{ProbeResult, run_once};
use crate::clock::now_ms;
use crate::cluster::{Cluster, Fence};
use crate::config::{HostConfig, ProbeSpec};
use crate::registry::{PluginHost, Registry};
use crate::store::StoreError;
use crate::tasks::Tasks;
use crate::telemetry::ProbeMetrics;

/// A change of a probe's reported state, as published on the host's event stream.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeEvent {
    pub probe: String,
    pub plugin: String,
    pub from: ProbeState,
    pub to: ProbeState,
    pub critical: bool,
    pub labels: BTreeMap<String, String>,
    /// The result that caused the change.
    pub result: ProbeResult,
}

/// One scheduled probe instance.
pub struct Instance {
    pub spec: ProbeSpec,
    /// Held for the length of a run: at most one at a time.
    run_lock: tokio::sync::Mutex<()>,
    pub status: Mutex<InstanceStatus>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What is known of an instance now.
pub struct InstanceStatus {
    pub tracker: Tracker,
    /// Newest last.
    pub recent: VecDeque<ProbeResult>,
    pub runs: u64,
    pub skipped: u64,
    /// Observation names it has reported (to drop their series on removal).
    pub observation_names: Vec<String>,
    /// The tracker follows this replica's own runs (always, alone). Among
    /// replicas it stops when another holds the lease, and on taking the
    /// lease it resumes from the state that replica stored.
    pub local: bool,
}

/// What the API and `/health` show of an instance: this replica's own view
/// when it runs the probe, else the state the replica running it stored.
pub struct Shown {
    pub state: ProbeState,
    pub since_ms: i64,
    pub last_result: Option<serde_json::Value>,
    /// This replica runs it (or ran it last).
    pub here: bool,
}

impl Instance {
    pub fn state(&self) -> ProbeState {
        self.status
            .lock()
            .expect("probe status lock")
            .tracker
            .state()
    }
}

/// What the scheduler is given by the host.
pub struct Handles {
    pub plugins: Arc<PluginHost>,
    pub results: ProbeRepo,
    pub metrics: ProbeMetrics,
    /// Told of every change of an instance's reported state.
    pub on_change: Arc<dyn Fn(ProbeEvent) + Send + Sync>,
    /// Where the instances' tasks run.
    pub tasks: Tasks,
    /// Which instances this node runs.
    pub cluster: Cluster,
}

/// Every probe instance of the service, and their tasks.
pub struct Scheduler {
    instances: Mutex<BTreeMap<String, Arc<Instance>>>,
    plugins: Arc<PluginHost>,
    results: ProbeRepo,
    metrics: ProbeMetrics,
    on_change: Arc<dyn Fn(ProbeEvent) + Send + Sync>,
    tasks: Tasks,
    cluster: Cluster,
    /// Each plugin's share of the probe permits, and its size.
    per_plugin: Mutex<BTreeMap<String, (usize, Arc<tokio::sync::Semaphore>)>>,
    plugin_share: usize,
    flap_window_ms: i64,
    flap_threshold: u32,
    recent: usize,
    /// Among replicas: every probe's state as stored by the replica running it (refreshed every second).
    remote: Arc<Mutex<HashMap<String, SharedState>>>,
}

impl Scheduler {
    pub fn new(section: &crate::config::ProbesSection, h: Handles) -> Self {
        let remote: Arc<Mutex<HashMap<String, SharedState>>> = Arc::default();
        if h.cluster.is_shared() {
            let (results, remote, tasks) = (h.results.clone(), remote.clone(), h.tasks.clone());
            h.tasks.spawn(async move {
                loop {
                    match results.shared_states().await {
                        Ok(states) => *remote.lock().expect("probe book lock") = states,
                        Err(e) => tracing::debug!("probes: reading the shared states failed: {e}"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = tasks.stopped() => return,
                    }
                }
            });
        }
        Scheduler {
            remote,
            instances: Mutex::default(),
            plugins: h.plugins,
            results: h.results,
            metrics: h.metrics,
            on_change: h.on_change,
            tasks: h.tasks,
            cluster: h.cluster,
            per_plugin: Mutex::default(),
            plugin_share: (section.max_concurrency as usize / 2).max(1),
            // Checked by the config.
            flap_window_ms: section
                .flap_window()
                .map_or(600_000, |d| d.as_millis() as i64),
            flap_threshold: section.flap_threshold,
            recent: section.recent_results,
        }
    }

    /// A probe's stored results, newest first.
    pub async fn history(&self, probe: &str, limit: u32) -> Result<Vec<ProbeRecord>, StoreError> {
        self.results.history(probe, limit).await
    }

    /// The stored results.
    pub fn results(&self) -> &ProbeRepo {
        &self.results
    }

    pub fn get(&self, name: &str) -> Option<Arc<Instance>> {
        self.instances
            .lock()
            .expect("probe book lock")
            .get(name)
            .cloned()
    }

    /// Every instance, by name.
    pub fn all(&self) -> Vec<Arc<Instance>> {
        self.instances
            .lock()
            .expect("probe book lock")
            .values()
            .cloned()
            .collect()
    }

    /// The plugin's share of the probe permits: its `max_concurrency`, else
    /// half of them. A changed setting takes effect for the calls after it.
    fn plugin_slots(
        &self,
        plugin: &str,
        max_concurrency: Option<u32>,
    ) -> Arc<tokio::sync::Semaphore> {
        let want = max_concurrency.map_or(self.plugin_share, |n| n as usize);
        let mut per_plugin = self.per_plugin.lock().expect("probe book lock");
        let entry = per_plugin
            .entry(plugin.to_owned())
            .or_insert_with(|| (want, Arc::new(tokio::sync::Semaphore::new(want))));
        if entry.0 != want {
            *entry = (want, Arc::new(tokio::sync::Semaphore::new(want)));
        }
        entry.1.clone()
    }

    /// What to show of `inst` (see [`Shown`]).
    pub fn shown(&self, inst: &Instance) -> Shown {
        let st = inst.status.lock().expect("probe status lock");
        let own = || Shown {
            state: st.tracker.state(),
            since_ms: st.tracker.since_ms,
            last_result: st.recent.back().and_then(|r| serde_json::to_value(r).ok()),
            here: true,
        };
        if st.local {
            return own();
        }
        let remote = self.remote.lock().expect("probe book lock");
        match remote.get(&inst.spec.name) {
            Some(r) => Shown {
                state: r.state.parse().unwrap_or(ProbeState::Unknown),
                since_ms: r.since_ms,
                last_result: Some(r.result.clone()),
                here: false,
            },
            None => Shown {
                here: false,
                ..own()
            },
        }
    }

    /// Marks `inst` as run elsewhere, or, when this replica holds it again
    /// after another did, resumes its tracker from the state stored there.
    fn follow(&self, inst: &Instance, held: bool) {
        let mut st = inst.status.lock().expect("probe status lock");
        if !held {
            st.local = false;
        } else if !st.local {
            let remote = self.remote.lock().expect("probe book lock");
            if let Some(r) = remote.get(&inst.spec.name)
                && let Ok(state) = r.state.parse()
            {
                st.tracker = Tracker::resume(state, r.since_ms);
            }
            st.local = true;
        }
    }

    fn policy(&self, spec: &ProbeSpec) -> Policy {
        Policy {
            failure_threshold: spec.failure_threshold,
            success_threshold: spec.success_threshold,
            flap_window_ms: self.flap_window_ms,
            flap_threshold: self.flap_threshold,
        }
    }
}

/// The probe instances the service should run now: `[[probe]]` entries of
/// the config, then those of probe plugins' sidecars. A name used twice
/// keeps its first declaration (the other is logged).
/// (`config` as last (re)loaded: [[probe]] entries follow the file.)
pub fn wanted(config: &HostConfig, registry: &Registry) -> Vec<ProbeSpec> {
    let mut specs: BTreeMap<String, ProbeSpec> = BTreeMap::new();
    let from_config = config.probe_specs().unwrap_or_default();
    let from_sidecars = registry
        .plugins
        .iter()
        .flat_map(|p| p.settings.probes.iter().cloned());
    for spec in from_config.into_iter().chain(from_sidecars) {
        if let Some(first) = specs.get(&spec.name) {
            tracing::error!(
                "probe {:?} is declared in {} and again in {}; the second is ignored",
                spec.name,
                first.origin,
                spec.origin
            );
            continue;
        }
        specs.insert(spec.name.clone(), spec);
    }
    specs.into_values().filter(|s| s.enabled).collect()
}

/// The prefix of probe instances' leases.
const LEASE: &str = "probe:";

fn lease(probe: &str) -> String {
    format!("{LEASE}{probe}")
}

/// A stable spread of instances over their interval.
fn phase(name: &str, interval: Duration) -> Duration {
    let h = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(name);
    Duration::from_nanos(h % interval.as_nanos().max(1) as u64)
}

fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let r = std::hash::RandomState::new().hash_one(std::time::Instant::now());
    Duration::from_nanos(r % max.as_nanos() as u64)
}

/// Slot `k`'s offset from the origin.
fn slot_offset(interval: Duration, k: u64) -> Duration {
    let nanos = interval.as_nanos().saturating_mul(u128::from(k));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The first slot at or after `now` (`inclusive`), or strictly after it.
fn next_slot(origin: Instant, interval: Duration, now: Instant, inclusive: bool) -> u64 {
    let elapsed = now.saturating_duration_since(origin);
    let k = (elapsed.as_nanos() / interval.as_nanos()) as u64;
    if inclusive && origin + slot_offset(interval, k) >= now {
        k
    } else {
        k + 1
    }
}

impl Instance {
    /// One origin for every instance of the process, so phases spread them.
    fn origin() -> Instant {
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now)
    }
}

impl Scheduler {
    /// Makes the running instances match `specs` (see [`wanted`]): new ones start,
    /// removed ones stop, changed ones restart with a fresh state; unchanged ones
    /// carry on (a reloaded plugin is picked up by their next run).
    pub fn apply(self: &Arc<Self>, specs: Vec<ProbeSpec>) {
        (self.cluster).want(LEASE, specs.iter().map(|s| lease(&s.name)));
        let mut instances = self.instances.lock().expect("probe book lock");
        let keep: BTreeMap<&str, &ProbeSpec> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
        instances.retain(|name, inst| {
            let same = keep.get(name.as_str()).is_some_and(|s| **s == inst.spec);
            if !same {
                self.stop(inst);
            }
            same
        });
        for spec in specs {
            if instances.contains_key(&spec.name) {
                continue;
            }
            let inst = Arc::new(Instance {
                status: Mutex::new(InstanceStatus {
                    tracker: Tracker::new(now_ms()),
                    recent: VecDeque::new(),
                    runs: 0,
                    skipped: 0,
                    observation_names: Vec::new(),
                    local: !self.cluster.is_shared(),
                }),
                run_lock: tokio::sync::Mutex::new(()),
                task: Mutex::new(None),
                spec,
            });
            self.metrics.set_state(&inst.spec.name, ProbeState::Unknown);
            let task = self.tasks.spawn(self.clone().run_schedule(inst.clone()));
            *inst.task.lock().expect("probe task lock") = Some(task);
            tracing::debug!(probe = %inst.spec.name, "probe scheduled every {:?}", inst.spec.interval);
            instances.insert(inst.spec.name.clone(), inst);
        }
        let all: Vec<Arc<Instance>> = instances.values().cloned().collect();
        drop(instances);
        self.count_states(&all);
    }

    fn stop(&self, inst: &Instance) {
        if let Some(task) = inst.task.lock().expect("probe task lock").take() {
            task.abort();
        }
        let names = inst
            .status
            .lock()
            .expect("probe status lock")
            .observation_names
            .clone();
        self.metrics.forget(&inst.spec.name, &names);
        tracing::debug!(probe = %inst.spec.name, "probe stopped");
    }

    /// Stops every instance (shutdown).
    pub fn stop_all(&self) {
        let instances = std::mem::take(&mut *self.instances.lock().expect("probe book lock"));
        for inst in instances.values() {
            self.stop(inst);
        }
    }

    async fn run_schedule(self: Arc<Self>, inst: Arc<Instance>) {
        let interval = inst.spec.interval;
        let origin = Instance::origin() + phase(&inst.spec.name, interval);
        let slot = |k: u64| origin + slot_offset(interval, k);
        // An instance added later (a reload) starts at its first slot still ahead.
        let mut k = next_slot(origin, interval, Instant::now(), true);
        let item = lease(&inst.spec.name);
        loop {
            let planned = slot(k) + jitter(inst.spec.jitter);
            tokio::time::sleep_until(planned).await;
            let held = self.cluster.holds(&item).is_some();
            if self.cluster.is_shared() {
                self.follow(&inst, held);
            }
            match inst.run_lock.try_lock() {
                // Another replica runs it: let the slot pass.
                Ok(_) if !held => {}
                Ok(_guard) => {
                    let (result, started) = self.execute(&inst, "schedule").await;
                    let lag = started.saturating_duration_since(planned);
                    self.metrics.lag.observe(lag.as_secs_f64());
                    let fence = self.cluster.fence(&item);
                    self.record(&inst, result, fence);
                }
                // A manual run holds it: this slot is skipped.
                Err(_) => self.skip(&inst, 1),
            }
            // The next slot on the grid that is still ahead.
            let next = next_slot(origin, interval, Instant::now(), false);
            if next > k + 1 {
                self.skip(&inst, next - k - 1);
            }
            k = next.max(k + 1);
        }
    }

    fn skip(&self, inst: &Instance, n: u64) {
        inst.status.lock().expect("probe status lock").skipped += n;
        self.metrics
            .skipped
            .with_label_values(&[&inst.spec.name])
            .inc_by(n);
    }

    /// Runs the instance once on the current registry. Answers the result and
    /// when the call got its slot.
    async fn execute(&self, inst: &Instance, trigger: &'static str) -> (ProbeResult, Instant) {
        let share = self
            .plugins
            .registry()
            .get(&inst.spec.plugin)
            .and_then(|p| p.settings.max_concurrency);
        let slots = self.plugin_slots(&inst.spec.plugin, share);
        let _slot = slots.acquire().await.expect("never closed");
        // The registry as it is now that the slot is ours: a reload while waiting is picked up.
        let registry = self.plugins.registry();
        let plugin = registry.get(&inst.spec.plugin);
        let result = run_once(self.plugins.runtime(), plugin, &inst.spec, trigger).await;
        // `run_once` measured the call; its start is now minus its duration.
        let started = Instant::now()
            .checked_sub(Duration::from_secs_f64(result.duration_ms / 1000.0))
            .unwrap_or_else(Instant::now);
        (result, started)
    }

    /// Runs the instance now (waiting for a run in progress to finish) and records the result.
    pub async fn run_now(&self, inst: &Arc<Instance>) -> ProbeResult {
        let _guard = inst.run_lock.lock().await;
        let (result, _) = self.execute(inst, "manual").await;
        // An operator asked for this run, on this replica: it is recorded whoever holds the lease.
        self.record(inst, result.clone(), None);
        result
    }

    /// Takes a result in: state machine, memory, metrics, store (behind
    /// `fence` if given), events.
    fn record(&self, inst: &Instance, result: ProbeResult, fence: Option<Fence>) {
        let name = &inst.spec.name;
        let policy = self.policy(&inst.spec);
        let (state, since_ms, transition) = {
            let mut st = inst.status.lock().expect("probe status lock");
            let transition = st.tracker.observe(result.status, result.at_ms, &policy);
            st.runs += 1;
            for o in &result.observations {
                if !st.observation_names.contains(&o.name) && st.observation_names.len() < 32 {
                    st.observation_names.push(o.name.clone());
                }
            }
            st.recent.push_back(result.clone());
            while st.recent.len() > self.recent {
                st.recent.pop_front();
            }
            (st.tracker.state(), st.tracker.since_ms, transition)
        };
        self.metrics.record(name, &result, state);
        let json = |v: serde_json::Result<String>| v.unwrap_or_else(|_| "null".into());
        self.results.record(
            ProbeRow {
                probe: name.clone(),
                at_ms: result.at_ms,
                duration_us: (result.duration_ms * 1000.0) as i64,
                status: result.status.as_str().to_owned(),
                state: state.as_str().to_owned(),
                since_ms,
                shown: json(serde_json::to_string(&result)),
                message: result.message.clone(),
                observations: json(serde_json::to_string(&result.observations)),
                denied: json(serde_json::to_string(&result.denied)),
                trigger: result.trigger.to_owned(),
            },
            fence,
        );
        if let Some(t) = transition {
            self.announce(inst, t, result);
        }
    }

    fn announce(&self, inst: &Instance, t: Transition, result: ProbeResult) {
        let spec = &inst.spec;
        match t.to {
            ProbeState::Failing | ProbeState::Flapping => tracing::warn!(
                probe = %spec.name, "probe {} → {}: {}", t.from.as_str(), t.to.as_str(), result.message
            ),
            _ => tracing::info!(
                probe = %spec.name, "probe {} → {}: {}", t.from.as_str(), t.to.as_str(), result.message
            ),
        }
        (self.on_change)(ProbeEvent {
            probe: spec.name.clone(),
            plugin: spec.plugin.clone(),
            from: t.from,
            to: t.to,
            critical: spec.critical,
            labels: spec.labels.clone(),
            result,
        });
        self.count_states(&self.all());
    }

    /// Sets `assay_probe_instances{state}`.
    fn count_states(&self, instances: &[Arc<Instance>]) {
        let mut counts: BTreeMap<&str, i64> =
            ProbeState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for i in instances {
            *counts.entry(i.state().as_str()).or_default() += 1;
        }
        for (state, n) in counts {
            self.metrics.instances.with_label_values(&[state]).set(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_on_the_grid() {
        let origin = Instant::now();
        let i = Duration::from_secs(1);
        let at = |ms: u64| origin + Duration::from_millis(ms);
        // A new instance: its first slot still ahead (the current one if exactly on it).
        assert_eq!(next_slot(origin, i, at(0), true), 0);
        assert_eq!(next_slot(origin, i, at(2500), true), 3);
        assert_eq!(next_slot(origin, i, at(3000), true), 3);
        // After a run: the next slot strictly ahead, however long the run took.
        assert_eq!(next_slot(origin, i, at(100), false), 1);
        assert_eq!(next_slot(origin, i, at(3700), false), 4);
        // Before the origin (its phase not reached yet): slot 0.
        assert_eq!(next_slot(at(500), i, origin, true), 0);
        assert_eq!(slot_offset(i, 3), Duration::from_secs(3));
        assert_eq!(slot_offset(i, u64::MAX), Duration::from_nanos(u64::MAX));
        // Phases spread names over the interval and do not move.
        assert_eq!(phase("a", i), phase("a", i));
        assert!(phase("a", i) < i);
    }
}
