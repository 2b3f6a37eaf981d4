//! The Prometheus metric families of the host, in one registry.
//!
//! Names follow Prometheus conventions: `assay_` prefix, base units
//! (`_seconds`, `_bytes`), `_total` on counters. Values kept elsewhere (the
//! cache's counts, the loaded plugins) are copied in at scrape time by
//! [`Metrics::sync`] callers.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

const CALL_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const COMPILE_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const HTTP_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub plugin_calls: IntCounterVec,
    pub plugin_call_seconds: HistogramVec,
    pub validations: IntCounterVec,
    pub validation_seconds: HistogramVec,
    pub validations_rejected: IntCounterVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_entries: IntGauge,
    pub plugins_loaded: IntGaugeVec,
    pub plugin_load_failures: IntGauge,
    pub plugin_reloads: IntCounterVec,
    pub plugin_compile_seconds: HistogramVec,
    pub plugin_queue_seconds: HistogramVec,
    pub plugin_rejected: IntCounterVec,
    pub plugin_refusal_seconds: HistogramVec,
    pub plugin_quarantined: IntGaugeVec,
    pub http_requests: IntCounterVec,
    pub http_seconds: HistogramVec,
    pub tls_handshake_failures: IntCounterVec,
    pub monitor_last_verdict: IntGaugeVec,
    pub monitor_last_run: GaugeVec,
    pub monitor_runs: IntCounterVec,
    pub monitor_skipped: IntCounterVec,
    pub config_changes: IntCounterVec,
    pub route_tests: IntCounterVec,
    pub store_write_errors: IntCounter,
    pub backup_last_success: Gauge,
    pub backup_size: IntGauge,
    pub backup_duration: Gauge,
    pub backup_failures: IntCounter,
    pub spans_exported: IntCounter,
    pub spans_dropped: IntCounterVec,
    pub reports_stored: IntCounter,
    pub probes: super::ProbeMetrics,
    pub alerts: super::AlertMetrics,
}

pub(super) fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let m = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

pub(super) fn histogram_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let m = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

pub(super) fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let m = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

/// A gauge of floating-point values.
pub(super) fn float_gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let m = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

pub(super) fn histogram(r: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let m = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

pub(super) fn float_gauge(r: &Registry, name: &str, help: &str) -> Gauge {
    let m = Gauge::new(name, help).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

pub(super) fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let m = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

pub(super) fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let m = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("unique metric");
        let build = gauge_vec(
            &r,
            "assay_build_info",
            "Always 1; the labels say which assay this is.",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let last_run = float_gauge_vec(
            &r,
            "assay_monitor_last_run_timestamp_seconds",
            "When each monitor last finished a run (Unix time).",
            &["monitor"],
        );
        Metrics {
            plugin_calls: counter_vec(
                &r,
                "assay_plugin_calls_total",
                "Plugin calls by plugin, kind and outcome (ok, not_applicable, error, timeout, output_limit, quarantined, busy).",
                &["plugin", "kind", "outcome"],
            ),
            plugin_call_seconds: histogram_vec(
                &r,
                "assay_plugin_call_duration_seconds",
                "Time of each plugin call, instantiation included.",
                &["plugin", "kind"],
                CALL_BUCKETS,
            ),
            validations: counter_vec(
                &r,
                "assay_validations_total",
                "Validations (one subject each) by level, verdict and source (api, monitor).",
                &["level", "verdict", "source"],
            ),
            validation_seconds: histogram_vec(
                &r,
                "assay_validation_duration_seconds",
                "Time of each validation, all its plugins together.",
                &["level"],
                CALL_BUCKETS,
            ),
            validations_rejected: counter_vec(
                &r,
                "assay_validations_rejected_total",
                "Validation requests turned away, by reason (overloaded, not_ready, plugin_busy).",
                &["reason"],
            ),
            cache_hits: counter(&r, "assay_cache_hits_total", "Result cache hits."),
            cache_misses: counter(&r, "assay_cache_misses_total", "Result cache misses."),
            cache_entries: gauge(&r, "assay_cache_entries", "Reports in the result cache."),
            plugins_loaded: gauge_vec(
                &r,
                "assay_plugins_loaded",
                "Plugins loaded, by kind.",
                &["kind"],
            ),
            plugin_load_failures: gauge(
                &r,
                "assay_plugin_load_failures",
                "Plugin files in the directory that failed to load.",
            ),
            plugin_reloads: counter_vec(
                &r,
                "assay_plugin_reloads_total",
                "Plugin changes picked up from the plugin directory, by outcome (ok, failed).",
                &["outcome"],
            ),
            plugin_compile_seconds: histogram_vec(
                &r,
                "assay_plugin_compile_seconds",
                "Time to compile (or load the cached compilation of) a plugin, by whether it came from the cache.",
                &["cached"],
                COMPILE_BUCKETS,
            ),
            plugin_queue_seconds: histogram_vec(
                &r,
                "assay_plugin_queue_seconds",
                "Time a plugin call waited for a call slot before it ran.",
                &["plugin"],
                CALL_BUCKETS,
            ),
            plugin_refusal_seconds: histogram_vec(
                &r,
                "assay_plugin_refusal_seconds",
                "Time a refused plugin call spent at its gate before it was turned away.",
                &["plugin"],
                CALL_BUCKETS,
            ),
            plugin_rejected: counter_vec(
                &r,
                "assay_plugin_rejected_total",
                "Plugin calls or sockets refused, by plugin and reason (share, pool, quarantined, max_sockets, fd_headroom).",
                &["plugin", "reason"],
            ),
            plugin_quarantined: gauge_vec(
                &r,
                "assay_plugin_quarantined",
                "1 while a plugin is quarantined (its calls refused after repeated failures), else 0.",
                &["plugin"],
            ),
            http_requests: counter_vec(
                &r,
                "assay_http_requests_total",
                "HTTP requests by route, method and status code.",
                &["route", "method", "status"],
            ),
            tls_handshake_failures: counter_vec(
                &r,
                "assay_tls_handshake_failures_total",
                "TLS handshakes that failed, by reason (client_certificate, protocol_version, handshake, timeout).",
                &["reason"],
            ),
            http_seconds: histogram_vec(
                &r,
                "assay_http_request_duration_seconds",
                "HTTP request latency, by route and method.",
                &["route", "method"],
                HTTP_BUCKETS,
            ),
            monitor_last_verdict: gauge_vec(
                &r,
                "assay_monitor_last_verdict",
                "1 for each monitor's latest verdict (pass, warn, error, fail), 0 for the others.",
                &["monitor", "verdict"],
            ),
            monitor_last_run: last_run,
            monitor_runs: counter_vec(
                &r,
                "assay_monitor_runs_total",
                "Monitor runs, by monitor and trigger (start, interval, change, lease: taken over from another replica).",
                &["monitor", "trigger"],
            ),
            monitor_skipped: counter_vec(
                &r,
                "assay_monitor_skipped_runs_total",
                "Monitor runs skipped because a plugin was busy (no call slot within its max_queue_ms).",
                &["monitor"],
            ),
            config_changes: counter_vec(
                &r,
                "assay_config_changes_total",
                "Changes of the live configuration through the API, by result (applied, rejected).",
                &["result"],
            ),
            route_tests: counter_vec(
                &r,
                "assay_route_tests_total",
                "Runs of the routing tests ([alerting] route_tests) by result: passed, failed (the change was refused), error (the cases could not run).",
                &["result"],
            ),
            store_write_errors: counter(
                &r,
                "assay_store_write_errors_total",
                "Failed writes to the SQLite store.",
            ),
            reports_stored: counter(
                &r,
                "assay_reports_stored_total",
                "Reports written to the history.",
            ),
            backup_last_success: float_gauge(
                &r,
                "assay_backup_last_success_timestamp_seconds",
                "When the last scheduled backup of the store succeeded (Unix time; 0: none yet).",
            ),
            backup_size: gauge(
                &r,
                "assay_backup_size_bytes",
                "The size of the last scheduled backup's file.",
            ),
            backup_duration: float_gauge(
                &r,
                "assay_backup_duration_seconds",
                "How long the last scheduled backup took.",
            ),
            backup_failures: counter(
                &r,
                "assay_backup_failures_total",
                "Scheduled backups that failed.",
            ),
            spans_exported: counter(
                &r,
                "assay_trace_spans_exported_total",
                "Trace spans the OTLP collector accepted.",
            ),
            spans_dropped: counter_vec(
                &r,
                "assay_trace_spans_dropped_total",
                "Trace spans dropped, by reason (queue_full: the export queue was full; export_failed: the collector did not take them).",
                &["reason"],
            ),
            probes: super::ProbeMetrics::new(&r),
            alerts: super::AlertMetrics::new(&r),
            registry: r,
        }
        .with_known_series()
    }

    /// Creates the series of known label values, so that they read 0 instead of being absent.
    fn with_known_series(self) -> Self {
        for reason in ["overloaded", "not_ready", "plugin_busy"] {
            self.validations_rejected.with_label_values(&[reason]);
        }
        for result in ["applied", "rejected"] {
            self.config_changes.with_label_values(&[result]);
        }
        for outcome in ["ok", "failed", "refused"] {
            self.plugin_reloads.with_label_values(&[outcome]);
        }
        for result in ["passed", "failed", "error"] {
            self.route_tests.with_label_values(&[result]);
        }
        for reason in ["queue_full", "export_failed"] {
            self.spans_dropped.with_label_values(&[reason]);
        }
        for cached in ["true", "false"] {
            self.plugin_compile_seconds.with_label_values(&[cached]);
        }
        self
    }

    /// Brings a counter kept elsewhere (monotonic) up to `value`.
    pub fn sync_counter(counter: &IntCounter, value: u64) {
        let now = counter.get();
        if value > now {
            counter.inc_by(value - now);
        }
    }

    /// Every metric family, as scraped.
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding metrics to memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
