//! How validations show in the host's metrics: telemetry holds the series,
//! validation knows what a report and a verdict mean.

use super::{Report, Verdict};
use crate::telemetry::Metrics;

impl Metrics {
    /// Counts a finished validation and, unless it came from the cache, each plugin call in it.
    pub fn record_validation(&self, report: &Report, source: &str) {
        let level = report.level.as_str();
        self.validations
            .with_label_values(&[level, report.verdict.as_str(), source])
            .inc();
        self.validation_seconds
            .with_label_values(&[level])
            .observe(report.duration_us as f64 / 1e6);
        if report.cached {
            return;
        }
        for run in &report.plugins {
            self.plugin_calls
                .with_label_values(&[&run.name, "validator", run.outcome.as_str()])
                .inc();
            self.plugin_call_seconds
                .with_label_values(&[&run.name, "validator"])
                .observe(run.duration_us as f64 / 1e6);
        }
    }

    /// Sets `assay_monitor_last_verdict` for one monitor.
    pub fn set_monitor_verdict(&self, monitor: &str, verdict: Verdict) {
        for v in [Verdict::Pass, Verdict::Warn, Verdict::Error, Verdict::Fail] {
            self.monitor_last_verdict
                .with_label_values(&[monitor, v.as_str()])
                .set(i64::from(v == verdict));
        }
    }
}
