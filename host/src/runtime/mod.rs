//! The wasmtime side of the host: one engine, the linker, limits, compiled-artifact cache and guarded calls.
//!
//! Isolation model: every call gets a fresh store and a fresh instance from
//! the plugin's `InstancePre` (pooling allocator, so that is cheap). Nothing
//! a guest does survives its call, unless the plugin declares itself
//! stateless and the operator lets it be: then a clean call's instance is
//! kept for the plugin's next call (`warm.rs`, which says what bounds it). Each call has a deadline (epoch
//! interruption for compute, an async timeout for time spent blocked in host
//! calls such as a WASI sleep), a memory cap and bounded output. Exceeding
//! any of them ends that call with an error outcome; the host carries on.

mod artifacts;
pub mod bindings;
mod breaker;
mod call;
mod capture;
mod engine;
pub mod gate;
mod http;
mod imports;
pub mod kind;
pub mod limits;
mod observer;
pub mod quota;
pub mod snapshot;
pub mod sockets;
pub mod state;
pub mod warm;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

pub use crate::config::grants::{self, Grants, HostPort};
pub use crate::config::policy::{BreakerPolicy, CallLimits, GatePolicy, Quotas};
pub use breaker::Change as QuarantineChange;
pub use call::{CallFailure, Called, Callee, Usage};
pub use gate::{Gate, QuarantineEvent, QuarantineView, Refusal};
pub use observer::Observer;
pub use snapshot::{Snapshot, SnapshotError, snapshot_key};
use state::CallState;

pub use kind::PluginKind;

/// How the runtime is set up. Every field has a default (see [`RuntimeOptions::default`]).
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Validator calls in flight at once; also sizes the instance pool.
    pub max_concurrency: u32,
    /// Probe calls in flight at once. Probes mostly wait on the network, so
    /// they get their own, larger share of the pool and never take a
    /// validator's place.
    pub max_probe_concurrency: u32,
    /// Granularity of deadlines.
    pub epoch_tick: Duration,
    /// Largest memory cap any plugin may be given (pool slot size).
    pub max_memory: usize,
    /// Where compiled plugins are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Whether preparing plugins run from snapshots taken after `prepare`.
    pub snapshots: bool,
    /// Whether a call that finds no snapshot starts building one in the
    /// background (the server); otherwise only `registry::Snapshots::ensure`
    /// and the on-disk cache provide them (one-shot CLI runs, which would
    /// otherwise wait for an abandoned build at exit).
    pub background_snapshots: bool,
}

impl RuntimeOptions {
    /// The options the config asks for (`[runtime]`, `[probes] max_concurrency`).
    pub fn from_config(config: &crate::config::HostConfig) -> RuntimeOptions {
        let mut o = RuntimeOptions::default();
        if let Some(n) = config.runtime.max_concurrency {
            o.max_concurrency = n;
        }
        o.max_probe_concurrency = config.probes.max_concurrency;
        if let Some(t) = config.runtime.epoch_tick_ms {
            o.epoch_tick = std::time::Duration::from_millis(t);
        }
        o.max_memory = (config.max_memory_mib() as usize) << 20;
        o.snapshots = config.runtime.snapshots.unwrap_or(true);
        match &config.runtime.cache_dir {
            Some(d) if d.as_os_str().is_empty() => o.cache_dir = None,
            Some(d) => o.cache_dir = Some(d.clone()),
            None => {}
        }
        o
    }
}

impl Default for RuntimeOptions {
    /// Concurrency: twice the cores (at least 4), 64 probes; tick: 10 ms; max memory:
    /// 1 GiB; cache: `$XDG_CACHE_HOME/assay/compiled` or `~/.cache/assay/compiled`;
    /// snapshots on, built in the background off.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        RuntimeOptions {
            max_concurrency: (cores * 2).max(4),
            max_probe_concurrency: 64,
            epoch_tick: Duration::from_millis(10),
            max_memory: 1 << 30,
            cache_dir: default_cache_dir(),
            snapshots: true,
            background_snapshots: false,
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("assay").join("compiled"))
}

/// One engine and linker, shared by every plugin.
pub struct Runtime {
    engine: Engine,
    validator_linker: Linker<CallState>,
    probe_linker: Linker<CallState>,
    router_linker: Linker<CallState>,
    artifacts: artifacts::ArtifactCache,
    permits: Semaphore,
    probe_permits: Semaphore,
    /// `info()` calls while plugins load (their own instance slots).
    load_permits: Semaphore,
    /// Snapshot builds: one at a time (each is seconds of compiling).
    snapshot_permits: Semaphore,
    /// Places for kept instances of stateless plugins, host-wide.
    warm: std::sync::Arc<warm::WarmBudget>,
    observer: std::sync::OnceLock<std::sync::Arc<dyn Observer>>,
    options: RuntimeOptions,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let engine = engine::build(&options).context("configuring the WebAssembly engine")?;
        let mut validator_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut validator_linker)?;
        bindings::Validator::add_to_linker::<CallState, HasSelf<CallState>>(
            &mut validator_linker,
            |s| s,
        )?;
        // Probes: standard WASI (sockets and files filtered by the grants),
        // wasi:http filtered by `allow_http`, and the system statistics.
        let mut probe_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut probe_linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut probe_linker)?;
        bindings::Probe::add_to_linker::<CallState, HasSelf<CallState>>(&mut probe_linker, |s| s)?;
        // Socket creation counted against the call's `max_sockets` (sockets.rs):
        // our `tcp-create-socket` in place of wasmtime-wasi's.
        probe_linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::add_to_linker::<
            CallState,
            HasSelf<CallState>,
        >(&mut probe_linker, |s| s)?;
        probe_linker.allow_shadowing(false);
        // Routers: decide only; no network, no files (the host delivers).
        let mut router_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut router_linker)?;
        bindings::Router::add_to_linker::<CallState, HasSelf<CallState>>(
            &mut router_linker,
            |s| s,
        )?;
        Ok(Runtime {
            artifacts: artifacts::ArtifactCache::new(&engine, options.cache_dir.clone()),
            _ticker: engine::EpochTicker::start(&engine, options.epoch_tick),
            permits: Semaphore::new(options.max_concurrency as usize),
            probe_permits: Semaphore::new(options.max_probe_concurrency as usize),
            load_permits: Semaphore::new(engine::LOAD_SLOTS as usize),
            snapshot_permits: Semaphore::new(1),
            warm: warm::WarmBudget::new(engine::warm_places(&options), warm::IDLE_TTL),
            observer: std::sync::OnceLock::new(),
            validator_linker,
            probe_linker,
            router_linker,
            engine,
            options,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// Sets who hears of queueing, refusals and quarantines (once; later calls are ignored).
    pub fn set_observer(&self, observer: std::sync::Arc<dyn Observer>) {
        let _ = self.observer.set(observer);
    }

    fn observer(&self) -> &dyn Observer {
        match self.observer.get() {
            Some(o) => o.as_ref(),
            None => &observer::Nobody,
        }
    }

    /// A plugin's default share of the call slots of `kind`. Probes: half
    /// their pool (they mostly wait on the network). Validators and routers:
    /// a quarter of the pool, which is half the cores at the default pool of
    /// 2 × cores, so a plugin whose calls spin until their deadline can burn
    /// at most half the machine's CPU (measured in BENCHMARKS.md: with half
    /// the pool it burnt both cores of a 2-core machine).
    pub fn default_share(&self, kind: PluginKind) -> u32 {
        match kind {
            PluginKind::Probe => (self.options.max_probe_concurrency / 2).max(1),
            _ => (self.options.max_concurrency / 4).max(1),
        }
    }

    /// Compiles (or loads the cached compilation of) a component. The bool
    /// says whether it came from the cache.
    pub fn compile(&self, bytes: &[u8], digest: &str) -> anyhow::Result<(Component, bool)> {
        self.artifacts.load(&self.engine, bytes, digest)
    }

    fn linker(&self, kind: PluginKind) -> &Linker<CallState> {
        match kind {
            PluginKind::Validator => &self.validator_linker,
            PluginKind::Probe => &self.probe_linker,
            PluginKind::Router => &self.router_linker,
        }
    }

    /// Pre-links a plugin of `kind`: checks its imports and exports against
    /// that kind's world once, so that each call only instantiates.
    pub fn link(&self, kind: PluginKind, component: &Component) -> anyhow::Result<Linked> {
        let pre = self.linker(kind).instantiate_pre(component)?;
        let pool = || self.warm.pool(self.default_share(kind) as usize);
        Ok(match kind {
            PluginKind::Validator => Linked::Validator(bindings::ValidatorPre::new(pre)?, pool()),
            PluginKind::Probe => Linked::Probe(bindings::ProbePre::new(pre)?),
            PluginKind::Router => Linked::Router(bindings::RouterPre::new(pre)?, pool()),
        })
    }
}

/// A plugin pre-linked against its kind's world.
#[derive(Clone)]
pub enum Linked {
    /// With the pool its kept instances wait in, when it is stateless.
    Validator(
        bindings::ValidatorPre<CallState>,
        std::sync::Arc<warm::WarmPool>,
    ),
    Probe(bindings::ProbePre<CallState>),
    Router(
        bindings::RouterPre<CallState>,
        std::sync::Arc<warm::WarmPool>,
    ),
}

impl Linked {
    /// The untyped pre-linked instance, for exports outside the kind's
    /// bindings (`prepare`).
    pub(crate) fn instance_pre(&self) -> &wasmtime::component::InstancePre<CallState> {
        match self {
            Linked::Validator(p, _) => p.instance_pre(),
            Linked::Probe(p) => p.instance_pre(),
            Linked::Router(p, _) => p.instance_pre(),
        }
    }
}
