//! Guarded plugin calls: fresh store and instance, deadline, memory cap, and what went wrong if anything did.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use super::bindings::{
    Alert, Level, PluginInfo, ProbeOutcome, ProbePre, RouterPre, RoutingDecision, Subject,
    Validation, ValidatorPre,
};
use super::grants::Grants;
use super::limits::mib;
use super::state::CallState;
use super::{Prepared, Runtime};

/// The budget of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub timeout: Duration,
    /// Total linear memory, in bytes.
    pub memory: usize,
}

/// Why a call produced no answer. Each is an outcome of that call only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("memory limit of {} exceeded", mib(*.0))]
    MemoryExceeded(usize),
    /// The guest trapped (panic, `unreachable`, out-of-bounds access, …), or
    /// could not be instantiated; the message is wasmtime's.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The guest returned `err(message)`.
    #[error("{0}")]
    Guest(String),
}

impl CallFailure {
    pub fn is_timeout(&self) -> bool {
        matches!(self, CallFailure::Timeout(_))
    }
}

impl Runtime {
    fn store(&self, plugin: &Arc<str>, limits: CallLimits) -> Store<CallState> {
        let deadline = Instant::now() + limits.timeout;
        let mut store = Store::new(
            &self.engine,
            CallState::new(plugin.clone(), limits.memory, deadline),
        );
        store.limiter(|s| &mut s.limiter);
        // Checked every epoch tick: yield to the async executor until the
        // deadline (so a busy guest does not hog a worker thread), then trap.
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if Instant::now() >= state.deadline {
                state.timed_out = true;
                wasmtime::bail!("deadline exceeded");
            }
            Ok(UpdateDeadline::Yield(1))
        });
        // Before instantiation too: the default deadline of 0 would trap at once.
        store.set_epoch_deadline(1);
        store
    }

    /// Maps a call's result to our outcome, reading the store's flags.
    fn settle<T>(
        store: &mut Store<CallState>,
        limits: CallLimits,
        result: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallFailure> {
        store.data_mut().flush_output();
        let state = store.data();
        match result {
            Err(_) => Err(CallFailure::Timeout(limits.timeout)),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) if state.timed_out => Err(CallFailure::Timeout(limits.timeout)),
            Ok(Err(_)) if state.limiter.exceeded.is_some() => {
                Err(CallFailure::MemoryExceeded(limits.memory))
            }
            Ok(Err(e)) => Err(CallFailure::Trap(trap_message(&e))),
        }
    }

    /// The one guarded call every entry point goes through: a permit from
    /// `permits`, a fresh store (with `grants`, if any), `call` under the
    /// deadline, and the outcome read from the store's flags.
    async fn guarded<T>(
        &self,
        permits: &tokio::sync::Semaphore,
        plugin: &Arc<str>,
        limits: CallLimits,
        grants: Option<&Arc<Grants>>,
        call: impl AsyncFnOnce(&mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Guarded<T> {
        let _permit = permits
            .acquire()
            .await
            .expect("the permit semaphore is never closed");
        let mut store = self.store(plugin, limits);
        store.data_mut().grants = grants.cloned();
        let deadline = tokio::time::Instant::now() + limits.timeout;
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline, call(&mut store)).await;
        let duration = started.elapsed();
        Guarded {
            outcome: Self::settle(&mut store, limits, result),
            duration,
            denied: store.data_mut().take_denied(),
        }
    }

    /// Calls `validate` on a fresh instance of `pre`. Also returns how long
    /// the call ran, from instantiation on (time queued for a permit excluded).
    pub async fn call_validate(
        &self,
        plugin: &Arc<str>,
        pre: &ValidatorPre<CallState>,
        limits: CallLimits,
        subject: &Subject,
        level: Level,
        config: &str,
    ) -> (Result<Validation, CallFailure>, Duration) {
        let g = self
            .guarded(&self.permits, plugin, limits, None, async |store| {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .assay_plugin_validation()
                    .call_validate(store, subject, level, config)
                    .await
            })
            .await;
        (guest(g.outcome), g.duration)
    }

    /// Calls `info` on a fresh instance of a plugin of any kind.
    pub async fn call_info(
        &self,
        plugin: &Arc<str>,
        prepared: &Prepared,
        limits: CallLimits,
    ) -> Result<PluginInfo, CallFailure> {
        self.guarded(
            &self.permits,
            plugin,
            limits,
            None,
            async |store| match prepared {
                Prepared::Validator(pre) => {
                    let i = pre.instantiate_async(&mut *store).await?;
                    i.assay_plugin_validation().call_info(store).await
                }
                Prepared::Probe(pre) => {
                    let i = pre.instantiate_async(&mut *store).await?;
                    i.assay_plugin_probing().call_info(store).await
                }
                Prepared::Router(pre) => {
                    let i = pre.instantiate_async(&mut *store).await?;
                    i.assay_plugin_routing().call_info(store).await
                }
            },
        )
        .await
        .outcome
    }

    /// Calls `probe` on a fresh instance of `pre`, with `grants` opening
    /// WASI and the host interfaces. Waits for one of the probe permits.
    pub async fn call_probe(
        &self,
        plugin: &Arc<str>,
        pre: &ProbePre<CallState>,
        limits: CallLimits,
        grants: &Arc<Grants>,
        config: &str,
    ) -> ProbeCall {
        let g = self
            .guarded(
                &self.probe_permits,
                plugin,
                limits,
                Some(grants),
                async |store| {
                    let instance = pre.instantiate_async(&mut *store).await?;
                    instance
                        .assay_plugin_probing()
                        .call_probe(store, config)
                        .await
                },
            )
            .await;
        ProbeCall {
            outcome: guest(g.outcome),
            duration: g.duration,
            denied: g.denied,
        }
    }

    /// Calls `route` on a fresh instance of `pre` (validator permits: a
    /// router decides in microseconds and waits on nothing).
    pub async fn call_route(
        &self,
        plugin: &Arc<str>,
        pre: &RouterPre<CallState>,
        limits: CallLimits,
        alert: &Alert,
        config: &str,
    ) -> Result<RoutingDecision, CallFailure> {
        let g = self
            .guarded(&self.permits, plugin, limits, None, async |store| {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .assay_plugin_routing()
                    .call_route(store, alert, config)
                    .await
            })
            .await;
        guest(g.outcome)
    }
}

/// What [`Runtime::guarded`] produced.
struct Guarded<T> {
    outcome: Result<T, CallFailure>,
    /// From instantiation on (time queued for a permit excluded).
    duration: Duration,
    denied: Vec<String>,
}

/// Folds a guest's own `err(message)` into the call's failure.
fn guest<T>(outcome: Result<Result<T, String>, CallFailure>) -> Result<T, CallFailure> {
    outcome.and_then(|r| r.map_err(CallFailure::Guest))
}

/// What one probe call produced.
pub struct ProbeCall {
    pub outcome: Result<ProbeOutcome, CallFailure>,
    /// From instantiation on (time queued for a permit excluded).
    pub duration: Duration,
    /// What the guest tried that its grants refused.
    pub denied: Vec<String>,
}

/// The first line of a trap's message plus its wasm backtrace frames, kept short.
fn trap_message(e: &wasmtime::Error) -> String {
    let mut msg = match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => e.to_string(),
    };
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>()
        && let Some(frame) = bt.frames().iter().find_map(|f| f.func_name())
    {
        msg.push_str(&format!(" (in {frame})"));
    }
    msg
}
