//! Observability: tracing set-up ([`init`]) and the Prometheus metric families ([`Metrics`]).

mod alert_metrics;
pub mod json;
mod metrics;
mod probe_metrics;
pub mod traces;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub use alert_metrics::AlertMetrics;
pub use metrics::Metrics;
pub use probe_metrics::ProbeMetrics;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line per event, coloured on a terminal.
    #[default]
    Pretty,
    /// One JSON object per event, for collectors.
    Json,
}

/// Installs the global subscriber, filtered by `ASSAY_LOG` or else `RUST_LOG`
/// (`RUST_LOG` syntax), else `default` (the CLI uses `warn` so that plugin
/// warnings and load problems show; `serve` uses `info`). Colours only when
/// stderr is a terminal, so that log files get plain text. With a `tracer`
/// ([`traces::Traces::start`]), the host's spans are exported too; the log
/// filter does not apply to them, and the log lines never show them.
pub fn init(default: &str, format: LogFormat, tracer: Option<opentelemetry_sdk::trace::Tracer>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let spec = std::env::var("ASSAY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_owned());
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new(default));
    // Quieted unless the spec names them. wasmtime-wasi-http logs every
    // refused connection of a probe at warn; the probe's result already says
    // so. rustls warns about what any client sends (an IP address as SNI, as
    // wrk does): a line per handshake, a log flood anyone could cause;
    // assay_tls_handshake_failures_total counts the failures instead.
    // The trace spans are for the exporter, not the log.
    let quiet = [
        "wasmtime_wasi_http=error",
        "rustls=error",
        "assay_trace=off",
        "opentelemetry=off",
        "opentelemetry_sdk=off",
        "opentelemetry_otlp=off",
    ];
    for quiet in quiet {
        let target = quiet.split('=').next().unwrap_or_default();
        if !spec.contains(target) {
            filter = filter.add_directive(quiet.parse().expect("a valid directive"));
        }
    }
    type Boxed = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
    let fmt = tracing_subscriber::fmt::layer()
        // Every line is scrubbed of the configuration's secret values first.
        .with_writer(crate::redact::RedactingStderr)
        .with_target(false);
    let log: Boxed = match format {
        LogFormat::Pretty => fmt
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_filter(filter).boxed(),
    };
    let mut layers = vec![log];
    if let Some(tracer) = tracer {
        // The host's spans only: log lines are scrubbed of secrets on their way to
        // stderr (`RedactingStderr`), so none is copied into a span as an event.
        let only = tracing_subscriber::filter::Targets::new()
            .with_target(traces::TARGET, tracing::Level::TRACE);
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_filter(only)
                .boxed(),
        );
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
}
