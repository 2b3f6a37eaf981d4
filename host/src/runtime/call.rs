//! Guarded plugin calls: a fresh store and instance (or a stateless plugin's kept one), deadline, memory cap, and what went wrong if anything did.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use tokio::sync::Semaphore;

use super::Quotas;
use super::bindings::{
    Alert, Level, PluginInfo, ProbeOutcome, ProbePre, RouterPre, RoutingDecision, Subject,
    Validation, ValidatorPre,
};
use super::gate::{Gate, Refusal};
use super::limits::mib;
use super::quota::{check_info, cut};
use super::state::CallState;
use super::warm::{Bound, WarmPool};
use super::{CallLimits, Grants};
use super::{Linked, Runtime};

/// A plugin as a call sees it: its name, pre-linked code (its prepared
/// snapshot when one is ready), limits and gate.
pub struct Callee<'a, P> {
    pub name: &'a Arc<str>,
    /// Its `info()` version, for traces (empty before `info()` answers).
    pub version: &'a str,
    pub pre: P,
    pub limits: CallLimits,
    /// `None`: no share, no quarantine (one-shot calls).
    pub gate: Option<&'a Gate>,
    /// Where its kept instances wait (a stateless validator or router):
    /// the call takes one if one is idle, and gives it back after a clean
    /// call. `None`: a fresh instance, dropped after the call.
    pub warm: Option<Arc<WarmPool>>,
}

impl<'a, P> Callee<'a, P> {
    /// A load-time call (`info`, `prepare`): no share, no quarantine.
    fn at_load(name: &'a Arc<str>, pre: P, limits: CallLimits) -> Self {
        Callee {
            name,
            version: "",
            pre,
            limits,
            gate: None,
            warm: None,
        }
    }
}

/// Why a call produced no answer. Each is an outcome of that call only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    #[error("timed out after {} ms (timeout_ms)", .0.as_millis())]
    Timeout(Duration),
    #[error("memory limit of {} exceeded (memory_limit_mib)", mib(*.0))]
    MemoryExceeded(usize),
    /// The answer or the output was over a quota; the message names it.
    #[error("output limit: {0}")]
    OutputLimit(String),
    /// The guest trapped (panic, `unreachable`, stack overflow, …), or
    /// could not be instantiated; the message names the cause.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The guest returned `err(message)`.
    #[error("{0}")]
    Guest(String),
    /// The call never ran: the plugin is busy or quarantined.
    #[error("{0}")]
    Refused(Refusal),
}

impl CallFailure {
    pub fn is_timeout(&self) -> bool {
        matches!(self, CallFailure::Timeout(_))
    }

    /// The outcome's name, as `assay_plugin_calls_total` counts it.
    pub fn outcome(&self) -> &'static str {
        match self {
            CallFailure::Timeout(_) => "timeout",
            CallFailure::OutputLimit(_) => "output_limit",
            CallFailure::Refused(r) if r.is_quarantined() => "quarantined",
            CallFailure::Refused(_) => "busy",
            _ => "error",
        }
    }

    /// Whether this counts toward quarantine: a timeout, trap or limit breach.
    fn is_breach(&self) -> bool {
        !matches!(self, CallFailure::Guest(_) | CallFailure::Refused(_))
    }
}

/// What one call produced, and what it cost.
pub struct Called<T> {
    pub outcome: Result<T, CallFailure>,
    /// From instantiation on.
    pub duration: Duration,
    /// Waiting for a call slot before that.
    pub queued: Duration,
    /// What the guest tried that its grants refused.
    pub denied: Vec<String>,
    /// What it used.
    pub usage: Usage,
}

/// What one call used (see `CallState::usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub memory_bytes: usize,
    pub host_calls: u32,
    pub http_requests: u32,
    pub wasi: bool,
}

impl Runtime {
    pub(super) fn store(&self, plugin: &Arc<str>, limits: CallLimits) -> Store<CallState> {
        let deadline = Instant::now() + limits.timeout;
        let mut store = Store::new(
            &self.engine,
            CallState::new(plugin.clone(), limits.memory, limits.quotas, deadline),
        );
        store.limiter(|s| &mut s.limiter);
        // One host call may copy at most the call's memory cap out of the guest.
        store.set_hostcall_fuel(limits.memory.max(1 << 20));
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
    pub(super) fn settle<T>(
        store: &mut Store<CallState>,
        limits: CallLimits,
        result: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallFailure> {
        let stderr = store.data_mut().flush_output();
        let state = store.data();
        match result {
            Err(_) => Err(CallFailure::Timeout(limits.timeout)),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) if state.timed_out => Err(CallFailure::Timeout(limits.timeout)),
            Ok(Err(_)) if state.limiter.exceeded.is_some() => {
                Err(CallFailure::MemoryExceeded(limits.memory))
            }
            Ok(Err(_)) if let Some(stream) = state.output_full() => {
                Err(CallFailure::OutputLimit(format!(
                    "the plugin wrote more than {} bytes to {stream} in one call (max_output_bytes)",
                    limits.quotas.max_output_bytes
                )))
            }
            Ok(Err(e)) => Err(CallFailure::Trap(trap_message(&e, &stderr, limits.memory))),
        }
    }

    /// The one guarded call every entry point goes through: the plugin's
    /// gate (share, bounded wait, quarantine) and one of `pool`'s slots, a
    /// fresh store (with `grants`, if any), `call` under the deadline, the
    /// outcome read from the store's flags, then `bound` (the quotas on the
    /// answer) before the gate hears how the call ended.
    async fn guarded<P, T, U>(
        &self,
        kind: &'static str,
        pool: &Semaphore,
        callee: Callee<'_, P>,
        grants: Option<&Arc<Grants>>,
        call: impl AsyncFnOnce(
            &mut Store<CallState>,
            &P,
            Option<Bound>,
            &mut Option<Bound>,
        ) -> wasmtime::Result<Result<T, String>>,
        bound: impl FnOnce(T, &Quotas) -> Result<U, CallFailure>,
    ) -> Called<U> {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            target: crate::telemetry::traces::TARGET,
            "plugin.call",
            otel.name = %format_args!("{kind} {}", callee.name),
            assay.plugin.name = %callee.name,
            assay.plugin.kind = kind,
            assay.plugin.version = callee.version,
            assay.plugin.outcome = tracing::field::Empty,
            assay.plugin.queue_ms = tracing::field::Empty,
            assay.plugin.run_ms = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        let called = async move {
            let Callee {
                name: plugin,
                version: _,
                pre,
                limits,
                gate,
                warm,
            } = callee;
            let arrived = Instant::now();
            let pass = match gate {
                Some(gate) => match gate.enter(pool).await {
                    Ok(pass) => Some(pass),
                    Err(refusal) => {
                        self.observer()
                            .refused(plugin, refusal.reason(), arrived.elapsed());
                        return Called {
                            outcome: Err(CallFailure::Refused(refusal)),
                            duration: Duration::ZERO,
                            queued: Duration::ZERO,
                            denied: Vec::new(),
                            usage: Usage::default(),
                        };
                    }
                },
                None => None,
            };
            // Ungated calls (one-shot CLI runs, `info()` at load) wait for a pool slot.
            let _slot = if pass.is_none() {
                Some(pool.acquire().await.expect("the pool is never closed"))
            } else {
                None
            };
            let queued = pass.as_ref().map_or(Duration::ZERO, |p| p.queued);
            if pass.is_some() {
                self.observer().queued(plugin, queued);
            }
            let kept = warm.as_ref().and_then(|w| self.reopen(w, limits));
            let (mut store, reused, calls, place) = match kept {
                Some((store, bound, calls, place)) => (store, Some(bound), calls, Some(place)),
                None => (self.store(plugin, limits), None, 0, None),
            };
            store.data_mut().grants = grants.cloned();
            let deadline = tokio::time::Instant::now() + limits.timeout;
            let started = Instant::now();
            let mut instance = None;
            let result =
                tokio::time::timeout_at(deadline, call(&mut store, &pre, reused, &mut instance))
                    .await;
            let duration = started.elapsed();
            let outcome = Self::settle(&mut store, limits, result)
                .and_then(|r| r.map_err(CallFailure::Guest))
                .and_then(|v| bound(v, &limits.quotas));
            let sockets = store.data().sockets.refusals();
            if sockets != (0, 0) {
                self.observer()
                    .sockets_refused(plugin, sockets.0, sockets.1);
            }
            if let (Some(gate), Some(pass)) = (gate, pass) {
                let breach = outcome.as_ref().err().filter(|f| f.is_breach());
                if let Some(event) = gate.settle(pass, breach.map(|f| f.to_string()).as_deref()) {
                    self.observer().quarantine(&event);
                }
            }
            let usage = store.data().usage();
            let denied = store.data_mut().take_denied();
            // Only a clean call's instance is kept: an answer, or the guest's own
            // `err`. Any breach (and an answer over its quotas) drops it.
            let clean = matches!(&outcome, Ok(_) | Err(CallFailure::Guest(_)));
            if let (Some(pool), Some(instance), true) = (warm, instance, clean) {
                pool.keep(store, instance, calls + 1, place);
            }
            Called {
                outcome,
                duration,
                queued,
                usage,
                denied,
            }
        }
        .instrument(span.clone())
        .await;
        if !span.is_disabled() {
            let outcome = match &called.outcome {
                Ok(_) => "ok",
                Err(f) => f.outcome(),
            };
            span.record("assay.plugin.outcome", outcome);
            span.record(
                "assay.plugin.queue_ms",
                called.queued.as_secs_f64() * 1000.0,
            );
            span.record(
                "assay.plugin.run_ms",
                called.duration.as_secs_f64() * 1000.0,
            );
            if let Err(f) = &called.outcome {
                crate::telemetry::traces::failed(&span, &f.to_string());
            }
        }
        called
    }

    /// A kept instance of `pool`, renewed for a call under `limits`; `None`
    /// when none is idle, or the one idle already holds more memory than
    /// the limits now allow (settings change; it is dropped).
    fn reopen(
        &self,
        pool: &WarmPool,
        limits: CallLimits,
    ) -> Option<(
        Store<CallState>,
        Bound,
        u32,
        tokio::sync::OwnedSemaphorePermit,
    )> {
        let (mut store, bound, calls, place) = pool.take()?.open();
        if store.data().limiter.total() > limits.memory {
            return None;
        }
        let deadline = Instant::now() + limits.timeout;
        store
            .data_mut()
            .renew(limits.memory, limits.quotas, deadline);
        store.set_hostcall_fuel(limits.memory.max(1 << 20));
        store.set_epoch_deadline(1);
        Some((store, bound, calls, place))
    }

    /// Calls `validate` on a fresh instance; the findings are bounded by the quotas.
    pub async fn call_validate(
        &self,
        callee: Callee<'_, ValidatorPre<CallState>>,
        subject: &Subject,
        level: Level,
        config: &str,
    ) -> Called<Validation> {
        self.guarded(
            "validator",
            &self.permits,
            callee,
            None,
            async |store, pre, reused, keep| {
                let instance = match reused {
                    Some(Bound::Validator(v)) => v,
                    _ => pre.instantiate_async(&mut *store).await?,
                };
                let answer = instance
                    .assay_plugin_validation()
                    .call_validate(store, subject, level, config)
                    .await;
                *keep = Some(Bound::Validator(instance));
                answer
            },
            |v, quotas| match v {
                Validation::Findings(found) => quotas
                    .bound_findings(found)
                    .map(Validation::Findings)
                    .map_err(|e| CallFailure::OutputLimit(e.to_string())),
                Validation::NotApplicable(mut why) => {
                    cut(&mut why, quotas.max_message_bytes);
                    Ok(Validation::NotApplicable(why))
                }
            },
        )
        .await
    }

    /// Calls the component's `prepare(config)` export (worlds
    /// `prepared-validator`, `prepared-router`) on a fresh instance, under
    /// `limits`: a load-time call, so no gate, and the load slots. A
    /// `CallFailure::Guest` is the plugin refusing its config.
    pub async fn call_prepare(
        &self,
        plugin: &Arc<str>,
        linked: &Linked,
        limits: CallLimits,
        config: &str,
    ) -> Result<(), CallFailure> {
        self.guarded(
            "prepare",
            &self.load_permits,
            Callee::at_load(plugin, linked.clone(), limits),
            None,
            async |store, linked, _, _| {
                let instance = linked.instance_pre().instantiate_async(&mut *store).await?;
                call_prepare_export(store, &instance, config).await
            },
            |(), _| Ok(()),
        )
        .await
        .outcome
    }

    /// Calls `info` on a fresh instance of a plugin of any kind, under the
    /// load deadline; the fields must be within the contract's limits.
    pub async fn call_info(
        &self,
        plugin: &Arc<str>,
        linked: &Linked,
        limits: CallLimits,
    ) -> Result<PluginInfo, CallFailure> {
        self.guarded(
            "info",
            &self.load_permits,
            Callee::at_load(plugin, linked.clone(), limits),
            None,
            async |store, linked, _, _| {
                let info = match linked {
                    Linked::Validator(pre, _) => {
                        let i = pre.instantiate_async(&mut *store).await?;
                        i.assay_plugin_validation().call_info(store).await
                    }
                    Linked::Probe(pre) => {
                        let i = pre.instantiate_async(&mut *store).await?;
                        i.assay_plugin_probing().call_info(store).await
                    }
                    Linked::Router(pre, _) => {
                        let i = pre.instantiate_async(&mut *store).await?;
                        i.assay_plugin_routing().call_info(store).await
                    }
                };
                info.map(Ok)
            },
            |info, _| {
                check_info(&info)
                    .map(|()| info)
                    .map_err(CallFailure::OutputLimit)
            },
        )
        .await
        .outcome
    }

    /// Calls `probe` on a fresh instance, with `grants` opening WASI and the
    /// host interfaces. Waits for one of the probe permits.
    pub async fn call_probe(
        &self,
        callee: Callee<'_, ProbePre<CallState>>,
        grants: &Arc<Grants>,
        config: &str,
    ) -> Called<ProbeOutcome> {
        self.guarded(
            "probe",
            &self.probe_permits,
            callee,
            Some(grants),
            async |store, pre, _, _| {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .assay_plugin_probing()
                    .call_probe(store, config)
                    .await
            },
            |mut o, quotas| {
                cut(&mut o.message, quotas.max_message_bytes);
                o.observations.truncate(64);
                Ok(o)
            },
        )
        .await
    }

    /// Calls `route` on a fresh instance (validator slots: a router decides
    /// in microseconds and waits on nothing). At most `max_deliveries`
    /// deliveries are kept, each title and body cut to `max_message_bytes`.
    /// `at` (Unix ms) is the wall-clock time the router sees, when not now.
    pub async fn call_route(
        &self,
        callee: Callee<'_, RouterPre<CallState>>,
        alert: &Alert,
        config: &str,
        at: Option<i64>,
    ) -> Called<RoutingDecision> {
        // The shifted clock lives in the instance's WASI context: such a
        // call neither takes a kept instance nor leaves one.
        let callee = Callee {
            warm: callee.warm.filter(|_| at.is_none()),
            ..callee
        };
        self.guarded(
            "router",
            &self.permits,
            callee,
            None,
            async |store, pre, reused, keep| {
                store.data_mut().wall_clock_ms = at;
                let instance = match reused {
                    Some(Bound::Router(r)) => r,
                    _ => pre.instantiate_async(&mut *store).await?,
                };
                let answer = instance
                    .assay_plugin_routing()
                    .call_route(store, alert, config)
                    .await;
                *keep = Some(Bound::Router(instance));
                answer
            },
            |d, quotas| Ok(bound_decision(d, quotas)),
        )
        .await
    }
}

/// Calls `instance`'s `prepare(config)` export (looked up by name: it is a
/// world function, not part of any kind's generated bindings).
pub(super) async fn call_prepare_export(
    store: &mut Store<CallState>,
    instance: &wasmtime::component::Instance,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    let func = instance
        .get_export_index(&mut *store, None, super::kind::PREPARATION)
        .ok_or_else(|| wasmtime::format_err!("no `{}` export", super::kind::PREPARATION))?;
    let prepare = instance.get_typed_func::<(&str,), (Result<(), String>,)>(&mut *store, &func)?;
    let (answer,) = prepare.call_async(&mut *store, (config,)).await?;
    Ok(answer)
}

/// A router's answer within its quotas.
fn bound_decision(d: RoutingDecision, quotas: &Quotas) -> RoutingDecision {
    match d {
        RoutingDecision::Deliver(mut d) => {
            if d.to.len() > quotas.max_deliveries as usize {
                tracing::warn!(
                    "a router asked for {} deliveries of one alert; the first {} are kept (max_deliveries)",
                    d.to.len(),
                    quotas.max_deliveries
                );
                d.to.truncate(quotas.max_deliveries as usize);
            }
            for t in &mut d.to {
                cut(&mut t.channel, quotas.max_code_bytes);
                for s in [&mut t.title, &mut t.body].into_iter().flatten() {
                    cut(s, quotas.max_message_bytes);
                }
                t.labels.truncate(32);
            }
            RoutingDecision::Deliver(d)
        }
        RoutingDecision::Suppress(mut why) => {
            cut(&mut why, quotas.max_message_bytes);
            RoutingDecision::Suppress(why)
        }
    }
}

/// The longest run of consecutive frames in the same function.
fn longest_run(bt: &wasmtime::WasmBacktrace) -> usize {
    let key = |f: &wasmtime::FrameInfo| (f.module().name().map(str::to_owned), f.func_index());
    let frames = bt.frames();
    let (mut best, mut run) = (0, 0);
    for (i, f) in frames.iter().enumerate() {
        run = if i > 0 && key(&frames[i - 1]) == key(f) {
            run + 1
        } else {
            1
        };
        best = best.max(run);
    }
    best
}

/// What a person needs from a trap: the cause named (stack overflow,
/// host-copy limit, …), the guest function it happened in, and the panic
/// message the guest wrote to stderr, if any.
fn trap_message(e: &wasmtime::Error, stderr: &str, memory: usize) -> String {
    let frame = e.downcast_ref::<wasmtime::WasmBacktrace>().and_then(|bt| {
        bt.frames()
            .iter()
            .find_map(|f| f.func_name().map(str::to_owned))
    });
    let mut msg = e.downcast_ref::<wasmtime::Trap>().map(|trap| match trap {
        wasmtime::Trap::StackOverflow => {
            "stack overflow: the plugin's call stack is exhausted (recursion too deep)".to_owned()
        }
        t => t.to_string(),
    });
    let mut fault_address = None;
    for cause in e.chain() {
        let text = cause.to_string();
        if let Some(addr) = text
            .strip_prefix("memory fault at wasm address 0x")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        {
            fault_address = Some(addr);
        } else if text.contains("fuel allocated for hostcalls has been exhausted") {
            msg = Some(format!(
                "host-copy limit: the plugin passed more than {} to one host call (memory_limit_mib bounds it)",
                mib(memory.max(1 << 20))
            ));
        } else if msg.is_none() && !text.starts_with("error while executing at wasm backtrace") {
            msg = Some(text);
        }
    }
    let mut msg = msg.unwrap_or_else(|| e.to_string());
    // A Rust guest's stack sits at the bottom of its memory and grows down,
    // so an overflow is an out-of-bounds access rather than a stack trap.
    // Recursion shows as the same function several times in a row.
    if matches!(
        e.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::MemoryOutOfBounds)
    ) && fault_address.is_none()
    {
        let recursing = e
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .is_some_and(|bt| longest_run(bt) >= 3);
        msg = if recursing {
            format!(
                "stack overflow: the plugin recursed until its stack ran out (deep recursion or large stack frames; {msg})"
            )
        } else {
            format!(
                "{msg}: a stack overflow (deep recursion or large stack frames) or a bad pointer in the plugin"
            )
        };
    }
    // A Rust guest's stack sits at the bottom of its memory and grows down:
    // an overflow moves the stack pointer below 0, so the fault is at an
    // address just under 4 GiB rather than past the end of memory.
    if let Some(addr) = fault_address
        && addr >= 0xFFF0_0000
    {
        msg = format!(
            "stack overflow: the plugin's stack grew past its start (deep recursion or large stack frames; {msg} at 0x{addr:x})"
        );
    }
    if let Some(frame) = frame {
        msg.push_str(&format!(" (in {frame})"));
    }
    if let Some(panic) = stderr
        .lines()
        .position(|l| l.contains("panicked at"))
        .map(|i| {
            stderr
                .lines()
                .skip(i)
                .take(3)
                .take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
                .collect::<Vec<_>>()
                .join(" ")
        })
    {
        msg.push_str(&format!("; the plugin said: {panic}"));
    }
    msg
}
