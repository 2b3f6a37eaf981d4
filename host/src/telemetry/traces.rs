//! OpenTelemetry traces over OTLP (`[telemetry]`): the exporter, sampling,
//! W3C trace context in and out, and a span queue that never blocks.
//!
//! The host's spans are `tracing` spans with the target [`TARGET`]; the log
//! lines never show them, and with no OTLP endpoint configured nothing
//! enables them, so they cost nothing. With one, `tracing-opentelemetry`
//! turns each into an OpenTelemetry span, and [`QueueProcessor`] hands each
//! finished span to a bounded queue that one task exports in batches: a
//! full queue or a failed export drops spans (counted by reason, for
//! `assay_trace_spans_dropped_total`), and nothing on the request path ever
//! waits for the collector.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter, SpanProcessor};
use tokio::sync::mpsc;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::{OtlpProtocol, Propagate, TelemetrySection};

/// The `tracing` target of the host's spans.
pub const TARGET: &str = "assay_trace";

/// Spans exported per request to the collector.
const BATCH: usize = 512;
/// How long a span waits for its batch to fill.
const DELAY: Duration = Duration::from_millis(500);

static EXPORTED: AtomicU64 = AtomicU64::new(0);
static DROPPED_QUEUE_FULL: AtomicU64 = AtomicU64::new(0);
static DROPPED_EXPORT_FAILED: AtomicU64 = AtomicU64::new(0);
static PROPAGATE_CHANNELS: AtomicBool = AtomicBool::new(false);
static PROPAGATE_PROBES: AtomicBool = AtomicBool::new(false);

/// Spans exported, and dropped because the queue was full or the export failed, since start.
pub fn span_counts() -> (u64, u64, u64) {
    (
        EXPORTED.load(Ordering::Relaxed),
        DROPPED_QUEUE_FULL.load(Ordering::Relaxed),
        DROPPED_EXPORT_FAILED.load(Ordering::Relaxed),
    )
}

/// Where the traces go, resolved from `[telemetry]` and the standard
/// `OTEL_…` environment variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Exporting {
    /// The URL spans are sent to (for HTTP, the full `…/v1/traces`).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub service_name: String,
}

/// Resolves where spans go; `None`: no endpoint anywhere, no traces.
pub fn resolve(
    t: &TelemetrySection,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Exporting>, String> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let (base, full) = match (&t.otlp_endpoint, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        (Some(e), _) => (e.clone(), false),
        (None, Some(e)) => (e, true),
        (None, None) => match env("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(e) => (e, false),
            None => return Ok(None),
        },
    };
    let base = base.trim().to_owned();
    let protocol = match (t.otlp_protocol, env("OTEL_EXPORTER_OTLP_PROTOCOL")) {
        (Some(p), _) => p,
        (None, Some(p)) => match p.trim() {
            "grpc" => OtlpProtocol::Grpc,
            "http/protobuf" => OtlpProtocol::HttpProtobuf,
            other => {
                return Err(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other:?}: assay exports \"grpc\" or \"http/protobuf\""
                ));
            }
        },
        (None, None) if port_of(&base) == Some(4317) => OtlpProtocol::Grpc,
        (None, None) => OtlpProtocol::HttpProtobuf,
    };
    let uri: http::Uri = base
        .parse()
        .map_err(|e| format!("the OTLP endpoint {base:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!(
            "the OTLP endpoint {base:?} must be an http:// or https:// URL"
        ));
    }
    let endpoint = match protocol {
        OtlpProtocol::HttpProtobuf
            if !full && !base.trim_end_matches('/').ends_with("/v1/traces") =>
        {
            format!("{}/v1/traces", base.trim_end_matches('/'))
        }
        _ => base,
    };
    let service_name = t
        .service_name
        .clone()
        .or_else(|| env("OTEL_SERVICE_NAME"))
        .unwrap_or_else(|| "assay".into());
    Ok(Some(Exporting {
        endpoint,
        protocol,
        service_name,
    }))
}

impl Exporting {
    /// The endpoint for a log line: without any `user:password@`.
    pub fn shown(&self) -> String {
        match self.endpoint.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('/') {
                Some((authority, path)) => {
                    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                    format!("{scheme}://{host}/{path}")
                }
                None => format!(
                    "{scheme}://{}",
                    rest.rsplit_once('@').map_or(rest, |(_, h)| h)
                ),
            },
            None => self.endpoint.clone(),
        }
    }
}

fn port_of(url: &str) -> Option<u16> {
    url.parse::<http::Uri>().ok()?.port_u16()
}

/// The exporting half of tracing, kept by `main` to flush at exit.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts exporting (inside a tokio runtime); answers the guard and the
    /// tracer for the `tracing` layer.
    pub fn start(
        t: &TelemetrySection,
        to: &Exporting,
    ) -> Result<(Traces, opentelemetry_sdk::trace::Tracer), String> {
        let built = match to.protocol {
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(&to.endpoint)
                .with_timeout(t.export_timeout)
                .build(),
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(&to.endpoint)
                .with_timeout(t.export_timeout)
                .build(),
        };
        let mut exporter =
            built.map_err(|e| format!("cannot export traces to {}: {e}", to.shown()))?;
        let resource = Resource::builder()
            .with_service_name(to.service_name.clone())
            .with_attributes([KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))])
            .build();
        exporter.set_resource(&resource);
        let processor = QueueProcessor::start(exporter, t.queue_size, t.export_timeout);
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                t.sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("assay");
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        PROPAGATE_CHANNELS.store(t.propagates(Propagate::Channels), Ordering::Relaxed);
        PROPAGATE_PROBES.store(t.propagates(Propagate::Probes), Ordering::Relaxed);
        Ok((Traces { provider }, tracer))
    }

    /// Exports what is queued (for up to `limit`) and stops.
    pub fn shutdown(self, limit: Duration) {
        if let Err(e) = self.provider.shutdown_with_timeout(limit) {
            eprintln!("assay: traces: {e}");
        }
    }
}

enum Msg {
    Span(Box<SpanData>),
    /// Export what is queued, then answer.
    Flush(std::sync::mpsc::Sender<()>),
}

/// Queues finished spans for one exporting task; never blocks.
#[derive(Debug)]
struct QueueProcessor {
    tx: mpsc::Sender<Msg>,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl QueueProcessor {
    fn start<E: SpanExporter + 'static>(exporter: E, queue: usize, timeout: Duration) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        tokio::spawn(export_loop(exporter, rx, timeout));
        QueueProcessor {
            tx,
            stopped: AtomicBool::new(false),
        }
    }

    /// Asks the task to export what it has; waits up to `limit` (off the async threads' hot path: only at shutdown).
    fn flush(&self, limit: Duration) -> OTelSdkResult {
        let (done, wait) = std::sync::mpsc::channel();
        self.tx.try_send(Msg::Flush(done)).map_err(|_| {
            OTelSdkError::InternalFailure("the span queue is full or closed".into())
        })?;
        wait.recv_timeout(limit)
            .map_err(|_| OTelSdkError::Timeout(limit))
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() || self.stopped.load(Ordering::Relaxed) {
            return;
        }
        if self.tx.try_send(Msg::Span(Box::new(span))).is_err() {
            DROPPED_QUEUE_FULL.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(Duration::from_secs(5))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let r = self.flush(timeout);
        self.stopped.store(true, Ordering::Relaxed);
        r
    }
}

async fn export_loop<E: SpanExporter>(exporter: E, mut rx: mpsc::Receiver<Msg>, timeout: Duration) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<std::sync::mpsc::Sender<()>> = Vec::new();
    loop {
        // Wait for the first span (or a flush), then fill the batch for up to DELAY.
        let first = match rx.recv().await {
            Some(m) => m,
            None => return,
        };
        let deadline = tokio::time::Instant::now() + DELAY;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Msg::Span(s)) => batch.push(*s),
                Some(Msg::Flush(done)) => {
                    waiting.push(done);
                    break;
                }
                None => {}
            }
            if batch.len() >= BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => next = Some(m),
                Ok(None) | Err(_) => break,
            }
        }
        // A flush takes everything already queued along.
        if !waiting.is_empty() {
            while let Ok(m) = rx.try_recv() {
                match m {
                    Msg::Span(s) => batch.push(*s),
                    Msg::Flush(done) => waiting.push(done),
                }
            }
        }
        for chunk in std::mem::take(&mut batch).chunks(BATCH) {
            let n = chunk.len() as u64;
            match tokio::time::timeout(timeout, exporter.export(chunk.to_vec())).await {
                Ok(Ok(())) => EXPORTED.fetch_add(n, Ordering::Relaxed),
                _ => DROPPED_EXPORT_FAILED.fetch_add(n, Ordering::Relaxed),
            };
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Marks `span` failed (`otel.status_code = "ERROR"`), with `message`,
/// scrubbed of the configuration's secrets (spans bypass the log's
/// redaction), as its `otel.status_message` where the span declares one.
pub fn failed(span: &tracing::Span, message: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.status_code", "ERROR");
    span.record(
        "otel.status_message",
        crate::redact::scrub(message).as_ref(),
    );
}

/// The trace context in `headers` (W3C `traceparent`/`tracestate`), for a
/// span to continue; empty if there is none or it is malformed.
pub fn extract(headers: &http::HeaderMap) -> Context {
    struct From<'a>(&'a http::HeaderMap);
    impl Extractor for From<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    TraceContextPropagator::new().extract(&From(headers))
}

/// The current span's context as a `traceparent` value, if it is recorded.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut out = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    out.remove("traceparent")
}

/// A context that continues the trace `traceparent` names.
pub fn from_traceparent(traceparent: &str) -> Context {
    let map = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    TraceContextPropagator::new().extract(&map)
}

/// Adds the current span's `traceparent` to an outgoing request's headers
/// when the operator turned that on for `what`.
pub fn inject(what: Propagate, headers: &mut http::HeaderMap) {
    let on = match what {
        Propagate::Channels => &PROPAGATE_CHANNELS,
        Propagate::Probes => &PROPAGATE_PROBES,
    };
    if !on.load(Ordering::Relaxed) {
        return;
    }
    struct Into<'a>(&'a mut http::HeaderMap);
    impl Injector for Into<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(key.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                self.0.insert(k, v);
            }
        }
    }
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut Into(headers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_endpoint_comes_from_the_config_else_the_standard_variables() {
        let mut t = TelemetrySection::default();
        assert_eq!(resolve(&t, env(&[])).unwrap(), None);
        let e = resolve(&t, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.endpoint.as_str(), e.protocol, e.service_name.as_str()),
            (
                "http://c:4318/v1/traces",
                OtlpProtocol::HttpProtobuf,
                "assay"
            )
        );
        let e = resolve(
            &t,
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_SERVICE_NAME", "ledger"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (e.endpoint.as_str(), e.protocol, e.service_name.as_str()),
            ("http://c:4317", OtlpProtocol::Grpc, "ledger")
        );
        let e = resolve(
            &t,
            env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:9/custom")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            e.endpoint, "http://c:9/custom",
            "the per-signal variable is the full URL"
        );
        t.otlp_endpoint = Some("https://c/otlp/v1/traces".into());
        t.service_name = Some("mine".into());
        let e = resolve(&t, env(&[("OTEL_SERVICE_NAME", "theirs")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.endpoint.as_str(), e.service_name.as_str()),
            ("https://c/otlp/v1/traces", "mine")
        );
        t.otlp_endpoint = Some("http://c:4318".into());
        let err = resolve(&t, env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])).unwrap_err();
        assert!(err.contains("http/json"), "{err}");
        t.otlp_endpoint = Some("collector:4318".into());
        assert!(resolve(&t, env(&[])).is_err());
        t.otlp_endpoint = Some("https://user:secret@c:4318".into());
        let e = resolve(&t, env(&[])).unwrap().unwrap();
        assert_eq!(e.shown(), "https://c:4318/v1/traces");
    }

    #[test]
    fn a_traceparent_round_trips_and_garbage_gives_no_parent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = from_traceparent(tp);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_sampled() && sc.is_remote());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", "not-a-traceparent".parse().unwrap());
        assert!(!extract(&headers).span().span_context().is_valid());
    }
}
