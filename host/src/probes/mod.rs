//! Health probes: running one probe instance once ([`run_once`]), the state
//! machine ([`state`]) and the scheduler ([`scheduler`]).

mod metrics;
mod repo;
pub mod scheduler;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use repo::{
    Counts, DAY_MS, HOUR_MS, ProbeRecord, ProbeRepo, ProbeRow, SharedState, StateChange, Uptime,
    Windows,
};
pub use scheduler::{Handles, Instance, ProbeEvent, Scheduler, wanted};
pub use state::{Policy, ProbeState, ResultStatus, Tracker, Transition};

use crate::clock::now_ms;
use crate::config::ProbeSpec;
use crate::registry::Plugin;
use crate::runtime::bindings::ProbeStatus;
use crate::runtime::{CallFailure, Runtime};

/// One number a probe measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub name: String,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// What one run of a probe instance produced.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    #[serde(rename = "at", serialize_with = "as_rfc3339")]
    pub at_ms: i64,
    pub duration_ms: f64,
    pub status: ResultStatus,
    pub message: String,
    pub observations: Vec<Observation>,
    /// What the probe tried that its grants refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    /// `schedule` or `manual`.
    pub trigger: &'static str,
}

fn as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::clock::rfc3339(*ms))
}

impl ProbeResult {
    fn unknown(message: String, trigger: &'static str) -> Self {
        ProbeResult {
            at_ms: now_ms(),
            duration_ms: 0.0,
            status: ResultStatus::Unknown,
            message,
            observations: Vec::new(),
            denied: Vec::new(),
            trigger,
        }
    }
}

/// Runs `spec` once on `plugin` (`None`: not loaded). Never fails: a probe
/// that cannot run is an `unknown` result, one that runs out of time is a
/// `fail` with "timeout after …".
pub async fn run_once(
    runtime: &Runtime,
    plugin: Option<&Arc<Plugin>>,
    spec: &ProbeSpec,
    trigger: &'static str,
) -> ProbeResult {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        target: crate::telemetry::traces::TARGET,
        "probe.run",
        otel.name = %format_args!("probe {}", spec.name),
        assay.probe.name = %spec.name,
        assay.probe.plugin = %spec.plugin,
        assay.probe.trigger = trigger,
        assay.probe.status = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_message = tracing::field::Empty,
    );
    let result = run_traced(runtime, plugin, spec, trigger)
        .instrument(span.clone())
        .await;
    span.record("assay.probe.status", result.status.as_str());
    if matches!(result.status, ResultStatus::Fail | ResultStatus::Unknown) {
        crate::telemetry::traces::failed(&span, &result.message);
    }
    result
}

async fn run_traced(
    runtime: &Runtime,
    plugin: Option<&Arc<Plugin>>,
    spec: &ProbeSpec,
    trigger: &'static str,
) -> ProbeResult {
    let Some(plugin) = plugin else {
        return ProbeResult::unknown(format!("plugin {:?} is not loaded", spec.plugin), trigger);
    };
    let Some(mut callee) = plugin.probe() else {
        return ProbeResult::unknown(
            format!("plugin {:?} is a {}, not a probe", spec.plugin, plugin.kind),
            trigger,
        );
    };
    callee.limits.timeout = spec.timeout;
    callee.limits.memory = spec.memory.unwrap_or(callee.limits.memory);
    let at_ms = now_ms();
    let call = runtime
        .call_probe(callee, &spec.grants, &spec.config_json)
        .await;
    let (status, message, observations) = match call.outcome {
        Ok(o) => (
            match o.status {
                ProbeStatus::Pass => ResultStatus::Pass,
                ProbeStatus::Warn => ResultStatus::Warn,
                ProbeStatus::Fail => ResultStatus::Fail,
            },
            o.message,
            o.observations
                .into_iter()
                .filter(|ob| valid_observation(&ob.name))
                .map(|ob| Observation {
                    name: ob.name,
                    value: ob.value,
                    unit: ob.unit,
                })
                .collect(),
        ),
        Err(CallFailure::Timeout(t)) => (
            ResultStatus::Fail,
            format!("timeout after {}", humantime::format_duration(round_ms(t))),
            Vec::new(),
        ),
        Err(e) => (
            ResultStatus::Unknown,
            format!("the probe could not run: {e}"),
            Vec::new(),
        ),
    };
    ProbeResult {
        at_ms,
        duration_ms: call.duration.as_secs_f64() * 1000.0,
        status,
        message,
        observations,
        denied: call.denied,
        trigger,
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// Observation names become metric label values: snake_case, bounded.
fn valid_observation(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
