//! How probe results show in the probe metrics ([`ProbeMetrics`], in
//! blackbox_exporter's vocabulary): telemetry holds the series, probes
//! know what a result and a state mean.

use super::{ProbeResult, ProbeState, ResultStatus};
use crate::telemetry::ProbeMetrics;

impl ProbeMetrics {
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
