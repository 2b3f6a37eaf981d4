//! What the runtime decides about calls (queueing, refusals, quarantines), recorded in metrics, the log and the host's event stream.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};

use crate::alerts::HostEvent;
use crate::runtime::{Observer, QuarantineChange, QuarantineEvent};

/// The service's [`Observer`] of the runtime: narrow handles, not the service.
pub(super) struct RuntimeWatch {
    pub(super) queue: HistogramVec,
    pub(super) rejected: IntCounterVec,
    pub(super) refusal: HistogramVec,
    pub(super) quarantined: IntGaugeVec,
    pub(super) events: tokio::sync::broadcast::Sender<HostEvent>,
}

impl Observer for RuntimeWatch {
    fn queued(&self, plugin: &str, wait: Duration) {
        self.queue
            .with_label_values(&[plugin])
            .observe(wait.as_secs_f64());
    }

    fn refused(&self, plugin: &str, reason: &'static str, waited: Duration) {
        self.rejected.with_label_values(&[plugin, reason]).inc();
        self.refusal
            .with_label_values(&[plugin])
            .observe(waited.as_secs_f64());
    }

    fn sockets_refused(&self, plugin: &str, by_cap: u32, by_headroom: u32) {
        for (reason, n) in [("max_sockets", by_cap), ("fd_headroom", by_headroom)] {
            if n > 0 {
                self.rejected
                    .with_label_values(&[plugin, reason])
                    .inc_by(u64::from(n));
            }
        }
        tracing::warn!(
            plugin,
            "probe call refused {} socket(s): {by_cap} over its max_sockets, {by_headroom} to keep the host's file-descriptor headroom",
            by_cap + by_headroom
        );
    }

    fn quarantine(&self, event: &QuarantineEvent) {
        let plugin = &*event.plugin;
        match event.change {
            QuarantineChange::Quarantined { cooldown, failures } => {
                tracing::error!(
                    plugin,
                    "plugin quarantined for {} s after {failures} consecutive failure(s): {}",
                    cooldown.as_secs(),
                    event.reason
                );
                self.quarantined.with_label_values(&[plugin]).set(1);
            }
            QuarantineChange::Released => {
                tracing::info!(
                    plugin,
                    "plugin released from quarantine: its trial call answered"
                );
                self.quarantined.with_label_values(&[plugin]).set(0);
            }
        }
        let _ = self
            .events
            .send(HostEvent::Quarantine(Box::new(event.clone())));
    }
}

/// Makes the watch for `metrics`, publishing to `events`.
pub(super) fn watch(
    metrics: &crate::telemetry::Metrics,
    events: &tokio::sync::broadcast::Sender<HostEvent>,
) -> Arc<RuntimeWatch> {
    Arc::new(RuntimeWatch {
        queue: metrics.plugin_queue_seconds.clone(),
        rejected: metrics.plugin_rejected.clone(),
        refusal: metrics.plugin_refusal_seconds.clone(),
        quarantined: metrics.plugin_quarantined.clone(),
        events: events.clone(),
    })
}
