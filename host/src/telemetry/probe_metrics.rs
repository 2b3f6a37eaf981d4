//! Probe metrics, in blackbox_exporter's vocabulary (`probe_success`, `probe_duration_seconds`) with the `assay_` prefix.

use prometheus::{GaugeVec, Histogram, IntCounterVec, IntGaugeVec, Registry};

use super::metrics::{counter_vec, float_gauge_vec, gauge_vec, histogram};

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
}
