//! Probe metrics, in blackbox_exporter's vocabulary (`probe_success`, `probe_duration_seconds`) with the `assay_` prefix.

use prometheus::{GaugeVec, Histogram, IntCounterVec, IntGaugeVec, Registry};

use super::metrics::{counter_vec, float_gauge_vec, gauge_vec, histogram};
use crate::probes::{ProbeResult, ProbeState, ResultStatus};

/// Fine around the 50 ms a scheduler should stay under.
const LAG_BUCKETS: &[f64] = &[
    0.000_1, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.007_5, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05,
    0.075, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Clone)]
pub struct ProbeMetrics {
    pub success: IntGaugeVec,
    pub duration: GaugeVec,
    pub state: IntGaugeVec,
    pub observation: GaugeVec,
    pub results: IntCounterVec,
    pub skipped: IntCounterVec,
    pub lag: Histogram,
    pub instances: IntGaugeVec,
}

impl ProbeMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        let probe = &["probe"];
        ProbeMetrics {
            success: gauge_vec(
                r,
                "assay_probe_success",
                "1 if the probe's last result was pass or warn, 0 otherwise.",
                probe,
            ),
            duration: float_gauge_vec(
                r,
                "assay_probe_duration_seconds",
                "How long the probe's last run took.",
                probe,
            ),
            state: gauge_vec(
                r,
                "assay_probe_state",
                "1 for each probe's current state (unknown, passing, warning, failing, flapping), 0 for the others.",
                &["probe", "state"],
            ),
            observation: float_gauge_vec(
                r,
                "assay_probe_observation",
                "Each number the probe's last run measured, by its name (units are in the name, e.g. latency_seconds).",
                &["probe", "name"],
            ),
            results: counter_vec(
                r,
                "assay_probe_results_total",
                "Probe results by status (pass, warn, fail, unknown).",
                &["status"],
            ),
            skipped: counter_vec(
                r,
                "assay_probe_skipped_runs_total",
                "Scheduled runs skipped because the previous run of the same probe was still going.",
                probe,
            ),
            lag: histogram(
                r,
                "assay_probe_scheduler_lag_seconds",
                "How late each scheduled run started, after its planned time (waiting for a concurrency slot included).",
                LAG_BUCKETS,
            ),
            instances: gauge_vec(
                r,
                "assay_probe_instances",
                "Probe instances by state.",
                &["state"],
            ),
        }
    }

    /// Sets the per-probe series from a result and the state after it.
    pub fn record(&self, probe: &str, result: &ProbeResult, state: ProbeState) {
        let ok = matches!(result.status, ResultStatus::Pass | ResultStatus::Warn);
        self.success.with_label_values(&[probe]).set(i64::from(ok));
        self.duration
            .with_label_values(&[probe])
            .set(result.duration_ms / 1000.0);
        self.results
            .with_label_values(&[result.status.as_str()])
            .inc();
        for o in &result.observations {
            self.observation
                .with_label_values(&[probe, &o.name])
                .set(o.value);
        }
        self.set_state(probe, state);
    }

    pub fn set_state(&self, probe: &str, state: ProbeState) {
        for s in ProbeState::ALL {
            self.state
                .with_label_values(&[probe, s.as_str()])
                .set(i64::from(s == state));
        }
    }

    /// Drops a removed probe's series (`observations`: the names it reported).
    pub fn forget(&self, probe: &str, observations: &[String]) {
        let _ = self.success.remove_label_values(&[probe]);
        let _ = self.duration.remove_label_values(&[probe]);
        let _ = self.skipped.remove_label_values(&[probe]);
        for s in ProbeState::ALL {
            let _ = self.state.remove_label_values(&[probe, s.as_str()]);
        }
        for o in observations {
            let _ = self.observation.remove_label_values(&[probe, o]);
        }
    }
}
