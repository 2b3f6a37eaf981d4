//! `[telemetry]`: OpenTelemetry traces exported over OTLP, and where trace
//! context is passed on.

use std::time::Duration;

use serde::Deserialize;

/// OTLP's transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    /// Protobuf over HTTP (`POST …/v1/traces`; port 4318 by convention).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
}

/// Outgoing requests that may carry the W3C `traceparent` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagate {
    /// Deliveries to webhook, Alertmanager, Slack and PagerDuty channels.
    Channels,
    /// HTTP probes' requests.
    Probes,
}

/// `[telemetry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    /// Where spans go, e.g. `http://collector:4318` (HTTP; `/v1/traces` is
    /// added unless the path already ends so) or `http://collector:4317`
    /// (gRPC). Unset: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) if set, else no traces.
    pub otlp_endpoint: Option<String>,
    /// `"http/protobuf"` or `"grpc"`. Unset: `OTEL_EXPORTER_OTLP_PROTOCOL`,
    /// else `grpc` for an endpoint on port 4317 and `http/protobuf` otherwise.
    pub otlp_protocol: Option<OtlpProtocol>,
    /// The `service.name` of every span. Unset: `OTEL_SERVICE_NAME`, else `assay`.
    pub service_name: Option<String>,
    /// The share of new traces recorded, 0.0 to 1.0; a request that comes
    /// with a `traceparent` follows its caller's sampling decision.
    pub sample_ratio: f64,
    /// Which outgoing requests carry `traceparent`: `"channels"`, `"probes"`.
    pub propagate: Vec<Propagate>,
    /// Spans waiting for export; past it new spans are dropped (and counted
    /// in `assay_trace_spans_dropped_total`), never waited for.
    pub queue_size: usize,
    /// How long one export may take before its spans count as dropped.
    #[serde(deserialize_with = "super::alerting::dur")]
    pub export_timeout: Duration,
}

impl Default for TelemetrySection {
    fn default() -> Self {
        TelemetrySection {
            otlp_endpoint: None,
            otlp_protocol: None,
            service_name: None,
            sample_ratio: 1.0,
            propagate: Vec::new(),
            queue_size: 4096,
            export_timeout: Duration::from_secs(5),
        }
    }
}

impl TelemetrySection {
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(format!(
                "telemetry.sample_ratio must be between 0.0 and 1.0, not {}",
                self.sample_ratio
            ));
        }
        if self.queue_size == 0 {
            return Err("telemetry.queue_size must be at least 1".into());
        }
        if self.export_timeout.is_zero() {
            return Err("telemetry.export_timeout must be more than 0".into());
        }
        if let Some(e) = &self.otlp_endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(format!(
                "telemetry.otlp_endpoint {e:?} must be an http:// or https:// URL"
            ));
        }
        Ok(())
    }

    /// Whether outgoing requests of this kind carry `traceparent`.
    pub fn propagates(&self, what: Propagate) -> bool {
        self.propagate.contains(&what)
    }
}
