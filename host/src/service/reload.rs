//! Hot reload of the plugin directory: watch it, debounce bursts, rescan, publish a new registry snapshot.
//!
//! A rescan looks at each `NAME.wasm` (and its `NAME.toml`) and decides per
//! plugin:
//!
//! - file and sidecar unchanged (size and modification time, then digest): keep the loaded plugin;
//! - same bytes, new settings: new settings on the already compiled code, no recompile;
//! - new or changed bytes: load it (compile off the async threads, check the
//!   world, call `info()`); only a plugin that loaded replaces the old one;
//! - gone: drop it from the snapshot. Calls already running hold their own
//!   reference and finish on the version they started with.
//!
//! A file that fails keeps the previous version serving, and is not retried
//! until it changes again. Every change is a [`ReloadEvent`]. The snapshot is
//! swapped in one step ([`crate::registry::PluginHost::set_registry`]), so a
//! request sees either the old set of plugins or the new one, never a mix.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;

use super::Service;
use super::pending::{Hold, PendingUpgrade};
use crate::alerts::HostEvent;
use crate::clock::{now_ms, rfc3339};
use crate::config::HostConfig;
use crate::registry::{
    self, LoadError, Plugin, Registry, ReloadAction, ReloadEvent, ReloadOutcome,
};
use crate::validate::LastError;

/// Quiet time after the last file event before a rescan: editors and
/// copies write in bursts.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// Events kept for `GET /v1/plugins/events`.
const KEEP_EVENTS: usize = 500;

/// What a file looked like when it was last loaded, to skip unchanged files cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    wasm: (u64, Option<SystemTime>),
    sidecar: Option<(u64, Option<SystemTime>)>,
}

fn stamp_of(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    // `metadata` follows symlinks: a link's target is what is stamped.
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

/// The stamp of a router plugin whose removal the routing tests refused:
/// it keeps serving until its file returns or a forced rescan looks again.
const REFUSED_REMOVAL: Stamp = Stamp {
    wasm: (0, None),
    sidecar: None,
};

fn stamp(file: &Path) -> Stamp {
    Stamp {
        wasm: stamp_of(file).unwrap_or((0, None)),
        sidecar: stamp_of(&file.with_extension("toml")),
    }
}

/// A plugin file that did not load.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFailure {
    pub name: String,
    pub file: String,
    pub error: LastError,
    /// The bytes and sidecar that failed: the same file is not retried until it changes.
    #[serde(skip)]
    pub retry_key: Option<String>,
}

/// Reload state: the recent events, what each file looked like, the files
/// that failed, and the plugin settings of the config file as last read.
#[derive(Default)]
pub struct Reloads {
    events: Mutex<VecDeque<ReloadEvent>>,
    /// The latest failure of each plugin file, by name, until it loads again.
    failures: Mutex<BTreeMap<String, LoadFailure>>,
    /// The host config with `[[validator]]` and `[plugin_defaults]` as the
    /// config file says now (`None`: as at start).
    plugin_config: Mutex<Option<Arc<HostConfig>>>,
    /// Serialises rescans, and holds the stamps of the last one.
    scan: tokio::sync::Mutex<HashMap<String, Stamp>>,
    /// The routing tests failed last time they ran (their alert fires).
    pub(crate) route_tests_failing: std::sync::atomic::AtomicBool,
    /// Upgrades waiting for an operator's approval.
    pub(crate) pending: super::pending::Pending,
}

impl Reloads {
    /// The most recent events, newest last.
    pub fn events(&self) -> Vec<ReloadEvent> {
        self.events
            .lock()
            .expect("reload events lock")
            .iter()
            .cloned()
            .collect()
    }

    /// The files that failed to load, by plugin name.
    pub fn failures(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LoadFailure>> {
        self.failures.lock().expect("load failures lock")
    }

    /// Forgets what `name`'s file looked like, so the next rescan reads it again.
    pub(super) async fn forget_stamp(&self, name: &str) {
        self.scan.lock().await.remove(name);
    }

    fn push(&self, e: ReloadEvent) {
        let mut events = self.events.lock().expect("reload events lock");
        if events.len() == KEEP_EVENTS {
            events.pop_front();
        }
        events.push_back(e);
    }
}

pub(super) fn event(trigger: &str, plugin: &str, file: &Path, action: ReloadAction) -> ReloadEvent {
    ReloadEvent {
        at: rfc3339(now_ms()),
        plugin: plugin.to_owned(),
        file: file.display().to_string(),
        action,
        outcome: ReloadOutcome::Ok,
        old_digest: None,
        new_digest: None,
        old_version: None,
        new_version: None,
        compile_ms: None,
        error: None,
        new_grants: Vec::new(),
        trigger: trigger.to_owned(),
    }
}

pub(super) fn with_old(mut e: ReloadEvent, old: Option<&Arc<Plugin>>) -> ReloadEvent {
    if let Some(old) = old {
        e.old_digest = Some(old.digest.clone());
        e.old_version = Some(old.version().to_owned());
    }
    e
}

impl Service {
    /// The config that plugin settings come from.
    pub(crate) fn plugin_config(&self) -> Arc<HostConfig> {
        self.reloads
            .plugin_config
            .lock()
            .expect("plugin config lock")
            .clone()
            .unwrap_or_else(|| Arc::new(self.config.clone()))
    }

    /// Re-reads the config file's plugin settings (`[[validator]]`,
    /// `[plugin_defaults]`, `[[probe]]`) and routing (`[[router]]`,
    /// `[[inhibit_rule]]`, past the routing tests) and applies them with a
    /// rescan. Other sections take effect on restart. A file with an error
    /// changes nothing; routing the tests refuse keeps the routing in force.
    pub async fn reload_config_file(&self) {
        let Some(path) = &self.config.file else {
            return;
        };
        match HostConfig::load(Some(path)) {
            Ok((new, _)) => {
                // Secrets: the redactor keeps every value it has known (old
                // text may still quote a rotated one) and learns the new.
                crate::redact::extend(new.secret_values());
                let refreshed = self.alerts.outbox().refresh_secrets(&new.channels);
                if !refreshed.is_empty() {
                    tracing::info!("channels with new secrets: {}", refreshed.join(", "));
                }
                match self.auth.replace_tokens(&new.auth) {
                    Ok(n) if self.auth.enabled() => {
                        tracing::info!("auth: {n} token(s) from the reloaded config")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("auth: {e}"),
                }
                let before = self.plugin_config();
                let mut effective = self.config.clone();
                effective.validators = new.validators;
                effective.plugin_defaults = new.plugin_defaults;
                effective.probe_entries = new.probe_entries;
                effective.routers = new.routers;
                effective.inhibit_rules = new.inhibit_rules;
                let routing_changed = routing(&before) != routing(&effective);
                let mut event = event("config", "routing", path, ReloadAction::Routing);
                let outcome = self
                    .route_gate(
                        &effective,
                        &self.plugins.registry(),
                        &format!("{} reloaded", path.display()),
                        if routing_changed {
                            "its routing ([[router]], [[inhibit_rule]]) is refused; the routing in force keeps serving"
                        } else {
                            "the routing in force fails them (nothing in it changed)"
                        },
                    )
                    .await;
                if routing_changed {
                    match outcome {
                        Ok(()) => match self.alerts.set_routing(&effective).await {
                            Ok(()) => tracing::info!(
                                "{}: new routing ([[router]], [[inhibit_rule]]) in force",
                                path.display()
                            ),
                            Err(e) => {
                                tracing::error!("{}: routing not applied: {e}", path.display());
                                event.outcome = ReloadOutcome::Failed;
                                event.error = Some(e.to_string());
                            }
                        },
                        Err(summary) => {
                            effective.routers = before.routers.clone();
                            effective.inhibit_rules = before.inhibit_rules.clone();
                            event.outcome = ReloadOutcome::Refused;
                            event.error = Some(format!("refused by the routing tests: {summary}"));
                        }
                    }
                    self.metrics
                        .plugin_reloads
                        .with_label_values(&[event.outcome.as_str()])
                        .inc();
                    self.reloads.push(event);
                }
                *self
                    .reloads
                    .plugin_config
                    .lock()
                    .expect("plugin config lock") = Some(Arc::new(effective));
                tracing::info!(
                    "{} changed: plugin settings ([[validator]], [[probe]], [plugin_defaults]), routing, [[auth.tokens]] and channel secrets re-applied; other sections take effect on restart",
                    path.display()
                );
                self.rescan("config", true).await;
            }
            Err(e) => tracing::error!("{e}; keeping the current plugin settings"),
        }
    }

    /// Starts preparing the snapshots calls will use: each preparing
    /// validator's for its config, each `[[router]]`'s for its. They build in
    /// the background (one at a time) while calls take the plain path; a
    /// snapshot already ready or building is left alone.
    fn warm_snapshots(&self) {
        let registry = self.plugins.registry();
        for p in registry.validators() {
            let _ = p.validator();
        }
        self.alerts.warm();
    }

    /// Rescans the plugin directory and publishes what changed. `force`
    /// reads every file again instead of trusting unchanged size and mtime
    /// (the digest still spares a recompile). Returns this rescan's events.
    pub async fn rescan(&self, trigger: &str, force: bool) -> Vec<ReloadEvent> {
        let mut stamps = self.reloads.scan.lock().await;
        let current = self.plugins.registry();
        let files = match registry::discover(&self.config.plugins.dir) {
            Ok(files) => files,
            Err(e) => {
                // A directory that went away (or is unreadable) is not a
                // reason to drop every plugin: keep serving what is loaded.
                tracing::error!("plugin rescan: {e}; keeping the loaded plugins");
                return Vec::new();
            }
        };
        let mut events = Vec::new();
        let mut next: BTreeMap<Arc<str>, Arc<Plugin>> = BTreeMap::new();
        let mut seen = HashMap::new();
        let mut changed_files = Vec::new();
        for file in &files {
            let Some(name) = file.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let old = current.get(name);
            let now = stamp(file);
            let unchanged = !force && stamps.get(name) == Some(&now);
            seen.insert(name.to_owned(), now.clone());
            if unchanged {
                if let Some(old) = old {
                    next.insert(old.name.clone(), old.clone());
                }
                continue;
            }
            changed_files.push((name, file, old));
        }
        // Concurrently: a slow file (a large compile, an info() that runs to
        // the load deadline) does not hold up the others.
        let loads = changed_files
            .into_iter()
            .map(|(name, file, old)| self.reload_one(trigger, name, file, old));
        for (plugin, ev) in futures_util::future::join_all(loads).await {
            if let Some(p) = plugin {
                next.insert(p.name.clone(), p);
            }
            events.extend(ev);
        }
        for old in &current.plugins {
            if seen.contains_key(&*old.name) {
                continue;
            }
            if !force && stamps.get(&*old.name) == Some(&REFUSED_REMOVAL) {
                next.insert(old.name.clone(), old.clone());
                seen.insert(old.name.to_string(), REFUSED_REMOVAL);
                continue;
            }
            events.push(with_old(
                event(trigger, &old.name, &old.file, ReloadAction::Removed),
                Some(old),
            ));
        }
        if trigger != "start" {
            self.gate_routers(&current, &mut next, &mut events, &mut seen)
                .await;
        }
        for e in (events.iter())
            .filter(|e| e.action == ReloadAction::Removed && e.outcome == ReloadOutcome::Ok)
        {
            tracing::info!(plugin = %e.plugin, "plugin removed");
            if let Some(old) = current.get(&e.plugin)
                && old.gate.is_quarantined()
            {
                self.released(&old.name);
            }
            let _ = self
                .metrics
                .plugin_quarantined
                .remove_label_values(&[&e.plugin]);
        }
        // Failures of files that are gone are forgotten.
        self.reloads
            .failures()
            .retain(|name, _| seen.contains_key(name));
        self.forget_missing_pending(&|name| seen.contains_key(name));
        *stamps = seen;
        // Any plugin that is not the very one serving: a change, or the
        // running version re-settled while an upgrade waits.
        let changed = current.plugins.len() != next.len()
            || (current.plugins.iter())
                .any(|p| next.get(&p.name).is_none_or(|n| !Arc::ptr_eq(n, p)));
        if changed {
            self.plugins.set_registry(Arc::new(Registry {
                dir: current.dir.clone(),
                plugins: next.into_values().collect(),
            }));
            self.warm_snapshots();
        }
        for e in &events {
            self.metrics
                .plugin_reloads
                .with_label_values(&[e.outcome.as_str()])
                .inc();
            self.reloads.push(e.clone());
        }
        // Sidecars may have added, changed or removed probe instances.
        self.apply_probes();
        events
    }

    /// Runs the routing tests when this rescan changes a router plugin that
    /// a `[[router]]` names; if they fail, each such change is refused: the
    /// old version goes back into `next` and its event says why.
    async fn gate_routers(
        &self,
        current: &Registry,
        next: &mut BTreeMap<Arc<str>, Arc<Plugin>>,
        events: &mut [ReloadEvent],
        seen: &mut HashMap<String, Stamp>,
    ) {
        let config = self.plugin_config();
        let chained = |name: &str| config.routers.iter().any(|r| r.plugin == name);
        let gated: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].outcome == ReloadOutcome::Ok && chained(&events[i].plugin))
            .collect();
        if gated.is_empty() || config.alerting.route_tests.is_none() {
            return;
        }
        let names: Vec<&str> = gated.iter().map(|&i| events[i].plugin.as_str()).collect();
        let candidate = Registry {
            dir: current.dir.clone(),
            plugins: next.values().cloned().collect(),
        };
        let change = format!("router plugin change ({})", names.join(", "));
        let Err(summary) = self
            .route_gate(
                &config,
                &candidate,
                &change,
                "refused; the router plugins in force keep serving",
            )
            .await
        else {
            return;
        };
        for i in gated {
            let e = &mut events[i];
            e.outcome = ReloadOutcome::Refused;
            e.error = Some(format!("refused by the routing tests: {summary}"));
            match current.get(&e.plugin) {
                Some(old) => {
                    next.insert(old.name.clone(), old.clone());
                }
                None => {
                    next.remove(e.plugin.as_str());
                }
            }
            if e.action == ReloadAction::Removed {
                seen.insert(e.plugin.clone(), REFUSED_REMOVAL);
            }
        }
    }

    /// Loads (or re-settles) one plugin file. Answers the plugin to publish
    /// (the old one when the new file failed or waits for approval) and the
    /// event, if any.
    async fn reload_one(
        &self,
        trigger: &str,
        name: &str,
        file: &Path,
        old: Option<&Arc<Plugin>>,
    ) -> (Option<Arc<Plugin>>, Option<ReloadEvent>) {
        let was = self.take_pending(name);
        let answer = self.load_one(trigger, name, file, old, was.as_ref()).await;
        self.settle_pending(name, was);
        answer
    }

    async fn load_one(
        &self,
        trigger: &str,
        name: &str,
        file: &Path,
        old: Option<&Arc<Plugin>>,
        was_pending: Option<&PendingUpgrade>,
    ) -> (Option<Arc<Plugin>>, Option<ReloadEvent>) {
        let bytes_digest = std::fs::read(file).map(|b| registry::digest(&b));
        // What a failure is remembered by: these bytes with this sidecar.
        let retry_key = bytes_digest
            .as_ref()
            .ok()
            .map(|d| format!("{d} {:?}", stamp_of(&file.with_extension("toml"))));
        // Same code: only the settings may have changed; no recompile.
        if let (Some(old), Ok(digest)) = (old, &bytes_digest)
            && *digest == old.digest
        {
            let config = self.plugin_config();
            return match registry::settings_for(name, file, &config, self.max_memory_mib()) {
                Ok(settings) if settings == old.settings => (Some(old.clone()), None),
                Ok(settings) => {
                    // A new config is checked by the plugin's prepare (if it
                    // has one) before it replaces the old: a refused one
                    // leaves the previous version serving.
                    if old.prepares
                        && settings.config_json != old.settings.config_json
                        && let Err(message) = registry::check_config(
                            self.plugins.runtime(),
                            &old.name,
                            &old.linked,
                            &settings,
                            Duration::from_millis(config.plugins.load_timeout_ms),
                        )
                        .await
                    {
                        return self.failed(trigger, name, file, Some(old), message, None);
                    }
                    let share = self.plugins.runtime().default_share(old.kind);
                    let plugin = Arc::new(old.with_settings(settings, share));
                    let mut e = with_old(
                        event(trigger, name, file, ReloadAction::Settings),
                        Some(old),
                    );
                    e.new_digest = Some(plugin.digest.clone());
                    e.new_version = Some(plugin.version().to_owned());
                    tracing::info!(plugin = name, "plugin settings reloaded");
                    self.forget_failure(name);
                    (Some(plugin), Some(e))
                }
                Err(err) => self.failed(trigger, name, file, Some(old), err.to_string(), None),
            };
        }
        // A file that already failed with these very bytes is not retried.
        if let Some(key) = &retry_key
            && self
                .reloads
                .failures()
                .get(name)
                .is_some_and(|f| f.retry_key.as_ref() == Some(key))
        {
            return (old.cloned(), None);
        }
        match registry::load_plugin(self.plugins.runtime(), file, &self.plugin_config()).await {
            Ok(plugin) if old.is_some_and(|o| o.kind != plugin.kind) => {
                let was = old.map_or("", |o| o.kind.as_str());
                let message = format!(
                    "{name} is a {was} and the new file is a {}; a plugin keeps its kind (remove the old file first to change it)",
                    plugin.kind.as_str()
                );
                self.failed(trigger, name, file, old, message, retry_key)
            }
            Ok(plugin) => {
                if let Some(old) = old {
                    // While a new version waits, the running one takes the
                    // sidecar's other settings (an interval, a config): only
                    // what the operator granted decides the upgrade.
                    let serving = || {
                        if plugin.settings == old.settings {
                            return old.clone();
                        }
                        let share = self.plugins.runtime().default_share(old.kind);
                        Arc::new(old.with_settings(plugin.settings.clone(), share))
                    };
                    match self.hold_check(name, old, &plugin, was_pending) {
                        Hold::Go => {}
                        Hold::Approved(why) => {
                            tracing::info!(plugin = name, "plugin upgrade {why}");
                        }
                        Hold::Still(upgrade) => {
                            self.reloads.pending.put(name, upgrade);
                            return (Some(serving()), None);
                        }
                        Hold::Held(upgrade) => {
                            return self.hold(trigger, file, old, serving(), upgrade);
                        }
                    }
                }
                let plugin = Arc::new(plugin);
                let action = if old.is_some() {
                    ReloadAction::Changed
                } else {
                    ReloadAction::Added
                };
                let mut e = with_old(event(trigger, name, file, action), old);
                e.new_digest = Some(plugin.digest.clone());
                e.new_version = Some(plugin.version().to_owned());
                e.compile_ms = Some(plugin.compile_time.as_secs_f64() * 1e3);
                self.metrics
                    .plugin_compile_seconds
                    .with_label_values(&[if plugin.from_cache { "true" } else { "false" }])
                    .observe(plugin.compile_time.as_secs_f64());
                tracing::info!(
                    plugin = name,
                    kind = plugin.kind.as_str(),
                    version = plugin.version(),
                    digest = %plugin.digest,
                    "plugin {} (compiled in {:.0?}{})",
                    action.as_str(),
                    plugin.compile_time,
                    if plugin.from_cache { ", from cache" } else { "" }
                );
                self.forget_failure(name);
                // New bytes, new gate: a quarantine of the old version ends.
                if let Some(old) = old.filter(|o| o.gate.is_quarantined()) {
                    self.released(&old.name);
                }
                // 0 from the start, so dashboards and rules see every plugin that can be quarantined.
                if plugin.kind != crate::registry::PluginKind::Probe {
                    self.metrics
                        .plugin_quarantined
                        .with_label_values(&[name])
                        .set(0);
                }
                (Some(plugin), Some(e))
            }
            Err(err) => {
                let message = match err {
                    LoadError::Plugin { message, .. } => message,
                    other => other.to_string(),
                };
                self.failed(trigger, name, file, old, message, retry_key)
            }
        }
    }

    fn failed(
        &self,
        trigger: &str,
        name: &str,
        file: &Path,
        old: Option<&Arc<Plugin>>,
        message: String,
        retry_key: Option<String>,
    ) -> (Option<Arc<Plugin>>, Option<ReloadEvent>) {
        let mut e = with_old(event(trigger, name, file, ReloadAction::Failed), old);
        e.outcome = ReloadOutcome::Failed;
        e.error = Some(message.clone());
        if old.is_some() {
            tracing::error!(plugin = name, file = %file.display(), "cannot load plugin: {message}; the previous version keeps serving");
        } else {
            tracing::error!(plugin = name, file = %file.display(), "cannot load plugin: {message}");
        }
        self.reloads.failures().insert(
            name.to_owned(),
            LoadFailure {
                name: name.to_owned(),
                file: file.display().to_string(),
                retry_key,
                error: LastError {
                    at: e.at.clone(),
                    message,
                },
            },
        );
        self.publish(HostEvent::PluginFailed(Box::new(e.clone())));
        (old.cloned(), Some(e))
    }

    fn forget_failure(&self, name: &str) {
        let had = self.reloads.failures().remove(name);
        if had.is_some() {
            self.publish(HostEvent::PluginRecovered(name.to_owned()));
        }
    }

    fn max_memory_mib(&self) -> u64 {
        (self.plugins.runtime().options().max_memory >> 20) as u64
    }
}

/// Watches the plugin directory (and rescans every `rescan_secs`) until
/// the service's tasks stop. Bursts of file events are debounced into one rescan.
pub(crate) fn spawn_watcher(svc: &Arc<Service>) {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
    let dir = svc.config.plugins.dir.clone();
    let config_file = svc.config.file.clone();
    // The config file is watched through its directory: editors replace it by rename.
    let config_dir = config_file.as_ref().map(|f| {
        f.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned()
    });
    let config_name = config_file
        .as_ref()
        .and_then(|f| f.file_name())
        .map(|n| n.to_owned());
    let plugins_dir = dir.clone();
    // Secret files (`token_file`, `url_file`, ...) are watched through their
    // directories too; a change reloads the config, which reads them again.
    // Kubernetes swaps a mounted secret by renaming its `..data` link.
    let secret_files: Vec<(PathBuf, std::ffi::OsString)> = svc
        .config
        .secret_files()
        .iter()
        .filter_map(|f| {
            let parent = f.parent()?;
            let parent = parent.canonicalize().unwrap_or_else(|_| parent.to_owned());
            Some((parent, f.file_name()?.to_owned()))
        })
        .collect();
    let secret_dirs: std::collections::BTreeSet<PathBuf> =
        secret_files.iter().map(|(d, _)| d.clone()).collect();
    let is_secret = move |p: &Path| {
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
            return false;
        };
        secret_files
            .iter()
            .any(|(d, n)| d == parent && (n == name || name == "..data"))
    };
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        // Reading a file is not changing it: the host's own reads of the
        // config (on every reload) would otherwise reload it again, forever.
        if let notify::EventKind::Access(a) = ev.kind
            && !matches!(
                a,
                notify::event::AccessKind::Close(notify::event::AccessMode::Write)
            )
        {
            return;
        }
        for p in &ev.paths {
            if (config_name.is_some() && p.file_name() == config_name.as_deref()) || is_secret(p) {
                let _ = tx.send(Change::Config);
            } else if p.parent() == Some(plugins_dir.as_path()) && relevant(p) {
                let _ = tx.send(Change::Plugins);
            }
        }
    })
    .and_then(|mut w| {
        w.watch(&dir, RecursiveMode::NonRecursive)?;
        if let Some(d) = &config_dir
            && !same_dir(d, &dir)
        {
            w.watch(d, RecursiveMode::NonRecursive)?;
        }
        for d in &secret_dirs {
            if let Err(e) = w.watch(d, RecursiveMode::NonRecursive) {
                tracing::warn!("cannot watch {} for secret changes: {e}", d.display());
            }
        }
        Ok(w)
    });
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(
                "cannot watch {} for plugin changes ({e}); changes are picked up by the periodic rescan, SIGHUP or POST /v1/plugins/reload",
                svc.config.plugins.dir.display()
            );
            None
        }
    };
    let every = svc.config.plugins.rescan_secs;
    let tasks = svc.tasks().clone();
    let svc = svc.clone();
    tasks.clone().spawn(async move {
        let _watcher = watcher;
        let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        loop {
            let (trigger, config) = tokio::select! {
                Some(first) = rx.recv() => {
                    // Wait for quiet: every event in the window restarts it.
                    let mut config = first == Change::Config;
                    let mut quiet_from = Instant::now();
                    while let Ok(Some(change)) =
                        tokio::time::timeout_at((quiet_from + DEBOUNCE).into(), rx.recv()).await
                    {
                        config |= change == Change::Config;
                        quiet_from = Instant::now();
                    }
                    ("watch", config)
                }
                _ = tick.tick(), if every > 0 => ("periodic", false),
                _ = tasks.stopped() => return,
            };
            if config {
                svc.reload_config_file().await;
            } else {
                svc.rescan(trigger, false).await;
            }
        }
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Plugins,
    Config,
}

/// A config's routing, to tell whether a reload changed it.
fn routing(config: &HostConfig) -> String {
    format!("{:?} {:?}", config.routers, config.inhibit_rules)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Whether a path's change can matter: a `.wasm` or `.toml` that is not hidden.
fn relevant(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    !name.starts_with('.') && p.extension().is_some_and(|e| e == "wasm" || e == "toml")
}
