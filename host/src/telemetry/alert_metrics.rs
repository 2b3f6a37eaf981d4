//! Alerting metrics: alerts firing, what became of received alerts, router
//! calls, and the outbox (notifications by outcome, delivery time, depth, breakers).

use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec, Registry};

use super::metrics::{counter_vec, gauge_vec, histogram_vec};

const DELIVERY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone)]
pub struct AlertMetrics {
    pub firing: IntGaugeVec,
    pub received: IntCounterVec,
    pub router_calls: IntCounterVec,
    pub routes_dropped: IntCounterVec,
    pub notifications: IntCounterVec,
    pub delivery_seconds: HistogramVec,
    pub outbox_depth: IntGaugeVec,
    pub circuit_open: IntGaugeVec,
}

impl AlertMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        AlertMetrics {
            firing: gauge_vec(
                r,
                "assay_alerts_firing",
                "Active firing alerts by severity (silenced and inhibited ones included).",
                &["severity"],
            ),
            received: counter_vec(
                r,
                "assay_alerts_received_total",
                "Alert events by what the engine made of them (new, resolved, refired, deduplicated, not_firing, held).",
                &["outcome"],
            ),
            router_calls: counter_vec(
                r,
                "assay_router_calls_total",
                "Router plugin calls by router and outcome (ok, failed: the default routing took over).",
                &["router", "outcome"],
            ),
            routes_dropped: counter_vec(
                r,
                "assay_alert_routes_dropped_total",
                "Deliveries routers asked for that were dropped (unknown_channel, below_min_severity).",
                &["reason"],
            ),
            notifications: counter_vec(
                r,
                "assay_notifications_total",
                "Notifications by channel and outcome (queued, delivered, failed attempt, dead, rate_limited).",
                &["channel", "outcome"],
            ),
            delivery_seconds: histogram_vec(
                r,
                "assay_notification_delivery_seconds",
                "Time of each delivery attempt.",
                &["channel"],
                DELIVERY_BUCKETS,
            ),
            outbox_depth: gauge_vec(
                r,
                "assay_outbox_depth",
                "Notifications waiting in the outbox, by channel.",
                &["channel"],
            ),
            circuit_open: gauge_vec(
                r,
                "assay_channel_circuit_open",
                "1 while a channel's circuit breaker is open.",
                &["channel"],
            ),
        }
    }

    /// Creates each channel's series so that they read 0 instead of being absent.
    pub fn know_channel(&self, channel: &str) {
        for outcome in ["queued", "delivered", "failed", "dead", "rate_limited"] {
            self.notifications.with_label_values(&[channel, outcome]);
        }
        self.outbox_depth.with_label_values(&[channel]);
        self.circuit_open.with_label_values(&[channel]);
    }
}
