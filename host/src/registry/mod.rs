//! Plugin discovery and loading: every `*.wasm` in the plugin directory is a
//! plugin named after its file stem, with optional settings in `NAME.toml`.
//!
//! A [`Registry`] is an immutable snapshot of loaded plugins; reloading makes
//! a new one.

mod change;
mod host;
pub mod manifest;
pub mod snapshots;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

// Kinds are the runtime's (it pre-links per kind); re-exported where plugins are.
pub use crate::runtime::kind::{self, PREPARATION, PluginKind};
pub use change::{ReloadAction, ReloadEvent, ReloadOutcome};
pub use host::PluginHost;
pub use snapshots::{SnapshotState, Snapshots};

use crate::config::{HostConfig, PluginSettings};
use crate::runtime::bindings::{ProbePre, RouterPre, ValidatorPre};
use crate::runtime::state::CallState;
use crate::runtime::warm::WarmPool;
use crate::runtime::{CallFailure, CallLimits, Callee, Gate, Linked, Runtime};

/// What a plugin says about itself (`info()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub description: String,
}

/// A loaded plugin, ready to be called.
pub struct Plugin {
    /// The file stem: how operators and reports name the plugin.
    pub name: Arc<str>,
    pub file: PathBuf,
    pub kind: PluginKind,
    /// `sha256:<hex>` of the `.wasm` bytes.
    pub digest: String,
    pub size: u64,
    /// `info()`, asked once at load.
    pub info: Info,
    /// What it says it is and needs (its `assay:manifest` section), if it carries one.
    pub manifest: Option<Arc<manifest::Manifest>>,
    pub settings: PluginSettings,
    /// `sha256:<hex>` of the config JSON, for cache keys.
    pub config_digest: String,
    /// Whether the compiled code came from the on-disk cache.
    pub from_cache: bool,
    /// How long compiling (or loading the cached compilation) took.
    pub compile_time: std::time::Duration,
    pub component: wasmtime::component::Component,
    /// Whether it exports `prepare` (set-up from its config, checked at load).
    pub prepares: bool,
    /// Pre-linked against the world of `kind`.
    pub(crate) linked: Linked,
    /// Its prepared snapshots, per config (preparing validators and routers).
    pub snapshots: Option<Arc<Snapshots>>,
    /// Its share of the call slots and its quarantine state; kept across
    /// settings changes, new with new bytes.
    pub gate: Arc<Gate>,
}

impl Plugin {
    fn callee<P>(&self, pre: P, warm: Option<&Arc<WarmPool>>) -> Callee<'_, P> {
        Callee {
            name: &self.name,
            version: &self.info.version,
            pre,
            limits: self.settings.limits,
            gate: Some(&self.gate),
            warm: warm.filter(|_| self.reuses_instances()).cloned(),
        }
    }

    /// Whether a clean call's instance serves its next call: its author
    /// says it is `stateless` (its manifest) and the operator allows it
    /// (`reuse_instances = true`); validators and routers only.
    pub fn reuses_instances(&self) -> bool {
        self.kind != PluginKind::Probe && self.settings.reuse_instances && self.is_stateless()
    }

    /// Whether its manifest says a call leaves nothing for the next one.
    pub fn is_stateless(&self) -> bool {
        self.manifest.as_ref().is_some_and(|m| m.stateless)
    }

    /// The code a call with `config` runs: the snapshot prepared with that
    /// config when it is ready (asking for it to be built otherwise), else
    /// the plugin as shipped.
    fn code_for(&self, config: &str) -> Linked {
        self.snapshots
            .as_ref()
            .and_then(|s| s.pick(config, self.settings.limits))
            .unwrap_or_else(|| self.linked.clone())
    }

    /// The validator to call (with its own config), when this plugin is one.
    pub fn validator(&self) -> Option<Callee<'_, ValidatorPre<CallState>>> {
        self.validator_for(&self.settings.config_json)
    }

    /// The validator to call with `config`, when this plugin is one.
    pub fn validator_for(&self, config: &str) -> Option<Callee<'_, ValidatorPre<CallState>>> {
        match self.code_for(config) {
            Linked::Validator(pre, warm) => Some(self.callee(pre, Some(&warm))),
            _ => None,
        }
    }

    /// The probe to call, when this plugin is one.
    pub fn probe(&self) -> Option<Callee<'_, ProbePre<CallState>>> {
        match &self.linked {
            Linked::Probe(pre) => Some(self.callee(pre.clone(), None)),
            _ => None,
        }
    }

    /// The router to call with `config`, when this plugin is one.
    pub fn router(&self, config: &str) -> Option<Callee<'_, RouterPre<CallState>>> {
        match self.code_for(config) {
            Linked::Router(pre, warm) => Some(self.callee(pre, Some(&warm))),
            _ => None,
        }
    }

    /// The same compiled plugin with other settings (a sidecar change: no
    /// recompile; the quarantine state carries on).
    pub fn with_settings(&self, settings: PluginSettings, default_share: u32) -> Plugin {
        let policy = settings.gate_policy(
            default_share,
            self.kind != PluginKind::Probe,
            self.kind == PluginKind::Router,
        );
        Plugin {
            gate: Arc::new(self.gate.with_policy(policy)),
            name: self.name.clone(),
            file: self.file.clone(),
            kind: self.kind,
            digest: self.digest.clone(),
            size: self.size,
            info: self.info.clone(),
            manifest: self.manifest.clone(),
            config_digest: digest(settings.config_json.as_bytes()),
            settings,
            from_cache: self.from_cache,
            compile_time: std::time::Duration::ZERO,
            component: self.component.clone(),
            prepares: self.prepares,
            linked: self.linked.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    pub fn version(&self) -> &str {
        &self.info.version
    }
}

/// Why a plugin, or the directory, could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin directory {} does not exist (set --plugins-dir, or [plugins] dir in the config, or ASSAY_PLUGINS__DIR)", .0.display())]
    MissingDir(PathBuf),
    #[error("cannot read plugin directory {}: {source}", dir.display())]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Plugin { file: PathBuf, message: String },
}

/// An immutable set of loaded plugins, sorted by name.
pub struct Registry {
    pub dir: PathBuf,
    pub plugins: Vec<Arc<Plugin>>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Registry {
    /// Loads every plugin in `dir`. Plugins that fail are returned as errors
    /// beside the registry of those that loaded; the caller decides whether
    /// that is fatal (the CLI) or reported and skipped (a server).
    pub async fn load(
        runtime: &Arc<Runtime>,
        config: &HostConfig,
    ) -> Result<(Registry, Vec<LoadError>), LoadError> {
        let dir = &config.plugins.dir;
        let files = discover(dir)?;
        let mut plugins = Vec::new();
        let mut errors = Vec::new();
        // Concurrently: one slow file does not hold up the others.
        let loads = files.iter().map(|file| load_plugin(runtime, file, config));
        for result in futures_util::future::join_all(loads).await {
            match result {
                Ok(p) => plugins.push(Arc::new(p)),
                Err(e) => errors.push(e),
            }
        }
        Ok((
            Registry {
                dir: dir.to_owned(),
                plugins,
            },
            errors,
        ))
    }

    /// A registry with no plugins (what a server holds until it has loaded the directory).
    pub fn empty(dir: &Path) -> Registry {
        Registry {
            dir: dir.to_owned(),
            plugins: Vec::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| &*p.name == name)
    }

    pub fn validators(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins
            .iter()
            .filter(|p| p.kind == PluginKind::Validator)
    }
}

/// The `*.wasm` files of `dir`, sorted; hidden files (editor temporaries) skipped.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::MissingDir(dir.to_owned()));
    }
    let read_err = |source| LoadError::ReadDir {
        dir: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.extension().is_some_and(|e| e == "wasm") && !name.starts_with('.') && path.is_file()
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads one plugin file: read, compile (or load the cached compilation),
/// detect the kind, pre-link, ask `info()`; the sidecar is read first.
pub async fn load_plugin(
    runtime: &Arc<Runtime>,
    file: &Path,
    config: &HostConfig,
) -> Result<Plugin, LoadError> {
    let fail = |message: String| LoadError::Plugin {
        file: file.to_owned(),
        message,
    };
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| fail("the file name is not valid UTF-8".into()))?;
    // Settings first: a typo in the sidecar is reported without compiling anything.
    let max_memory_mib = (runtime.options().max_memory >> 20) as u64;
    let settings = settings_for(name, file, config, max_memory_mib)?;
    let bytes = std::fs::read(file).map_err(|e| fail(format!("cannot read: {e}")))?;
    let digest = digest(&bytes);
    let hex_digest = digest.trim_start_matches("sha256:");
    let size = bytes.len() as u64;
    let wants_snapshot = kind::wants_snapshot(&bytes);
    // A manifest that cannot be read, or asks for a contract or host this
    // is not, refuses the plugin before anything is compiled.
    let manifest = manifest::read(&bytes).map_err(|e| fail(e.to_string()))?;
    if let Some(m) = &manifest {
        m.check_versions().map_err(|e| fail(e.to_string()))?;
    }
    // Compiling takes seconds for a large plugin: off the async threads.
    let started = std::time::Instant::now();
    let compiled = {
        let (runtime, hex) = (runtime.clone(), hex_digest.to_owned());
        tokio::task::spawn_blocking(move || runtime.compile(&bytes, &hex))
            .await
            .map_err(|e| fail(format!("the compiler task failed: {e}")))?
    };
    let compile_time = started.elapsed();
    let (component, from_cache) = compiled.map_err(|e| {
        fail(format!(
            "not a valid WebAssembly component: {}",
            first_line(&e)
        ))
    })?;
    let kind = kind::detect(runtime.engine(), &component).map_err(fail)?;
    if let Some(m) = &manifest {
        m.check_kind(kind).map_err(|e| fail(e.to_string()))?;
    }
    let name: Arc<str> = name.into();
    let name_for_gate = name.clone();

    if kind != PluginKind::Probe && !settings.probes.is_empty() {
        return Err(fail(format!(
            "is a {kind}, but its sidecar declares [[probe]] instances; only probe plugins run as probes"
        )));
    }
    let linked = runtime
        .link(kind, &component)
        .map_err(|e| fail(format!("does not fit the {kind} world: {e:#}")))?;
    // info() gets the load deadline, not the call timeout: a plugin that
    // does not answer at once is marked failed instead of holding up others.
    let load_timeout = std::time::Duration::from_millis(config.plugins.load_timeout_ms);
    let info_limits = CallLimits {
        timeout: settings.limits.timeout.min(load_timeout),
        ..settings.limits
    };
    let info = runtime
        .call_info(&name, &linked, info_limits)
        .await
        .map_err(|e| match e {
            CallFailure::Timeout(t) => fail(format!(
                "info() did not answer within the load deadline of {} ms (plugins.load_timeout_ms)",
                t.as_millis()
            )),
            e => fail(format!("info() failed: {e}")),
        })?;
    let prepares = kind::prepares(runtime.engine(), &component);
    if prepares {
        check_config(runtime, &name, &linked, &settings, load_timeout)
            .await
            .map_err(fail)?;
    }
    let policy = settings.gate_policy(
        runtime.default_share(kind),
        kind != PluginKind::Probe,
        kind == PluginKind::Router,
    );
    let info = Info {
        name: info.name,
        version: info.version,
        description: info.description,
    };
    // Probes configure per instance, and thousands of instances must not
    // mean thousands of snapshots: only validators and routers get them.
    let snapshots =
        (prepares && wants_snapshot && kind != PluginKind::Probe && runtime.options().snapshots)
            .then(|| {
                Arc::new(Snapshots::new(
                    runtime.clone(),
                    name.clone(),
                    kind,
                    file.to_owned(),
                    digest.clone(),
                ))
            });
    Ok(Plugin {
        config_digest: self::digest(settings.config_json.as_bytes()),
        name,
        file: file.to_owned(),
        kind,
        digest,
        size,
        info,
        manifest: manifest.map(Arc::new),
        settings,
        from_cache,
        compile_time,
        component,
        snapshots,
        prepares,
        linked,
        gate: Arc::new(Gate::new(name_for_gate, policy)),
    })
}

/// Runs a preparing plugin's `prepare` with `settings`' config, under the
/// plugin's memory cap and its deadline capped by the load deadline
/// (`[plugins] load_timeout_ms`, as for `info()`, so that one slow file never
/// holds up `/ready`): a config the plugin refuses, or a prepare that loops,
/// traps or runs out of memory, is a load error found now rather than at the
/// first call. Probes configure per instance, so only validators are checked
/// here (a router's config lives in the config file).
pub(crate) async fn check_config(
    runtime: &Arc<Runtime>,
    name: &Arc<str>,
    linked: &Linked,
    settings: &PluginSettings,
    load_timeout: std::time::Duration,
) -> Result<(), String> {
    if !matches!(linked, Linked::Validator(..)) {
        return Ok(());
    }
    let limits = CallLimits {
        timeout: settings.limits.timeout.min(load_timeout),
        ..settings.limits
    };
    runtime
        .call_prepare(name, linked, limits, &settings.config_json)
        .await
        .map_err(|e| match e {
            CallFailure::Guest(m) => format!("refuses its config: {m}"),
            CallFailure::Timeout(t) => format!(
                "prepare() did not finish within the load deadline of {} ms (plugins.load_timeout_ms)",
                t.as_millis()
            ),
            e => format!("prepare() failed: {e}"),
        })
}

/// A plugin's settings: its sidecar, or its `[[validator]]` entry, never both.
pub fn settings_for(
    name: &str,
    file: &Path,
    config: &HostConfig,
    max_memory_mib: u64,
) -> Result<PluginSettings, LoadError> {
    let sidecar = file.with_extension("toml");
    let inline = config
        .validators
        .iter()
        .find(|v| v.name.as_deref() == Some(name));
    let fail = |file: &Path, message: String| LoadError::Plugin {
        file: file.to_owned(),
        message,
    };
    match inline {
        Some(_) if sidecar.exists() => Err(fail(
            &sidecar,
            format!(
                "{name} is configured twice: in this sidecar and in a [[validator]] entry of the config file; keep one"
            ),
        )),
        Some(section) => PluginSettings::from_section(
            section,
            config.base_dir.as_deref(),
            &config.plugin_defaults,
            max_memory_mib,
        )
        .map_err(|m| {
            fail(
                file,
                format!("[[validator]] {name:?} in the config file: {m}"),
            )
        }),
        None => PluginSettings::load(&sidecar, &config.plugin_defaults, max_memory_mib)
            .map_err(|e| fail(&e.path, e.message)),
    }
}

/// wasmtime errors carry long chains; the first line (plus the root cause) is what a person needs.
fn first_line(e: &anyhow::Error) -> String {
    let root = e.root_cause().to_string();
    let top = e.to_string();
    if root == top {
        top
    } else {
        format!("{top}: {root}")
    }
}
