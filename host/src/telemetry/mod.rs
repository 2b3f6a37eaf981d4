//! Observability: tracing set-up ([`init`]) and the Prometheus metric families ([`Metrics`]).

mod alert_metrics;
pub mod json;
mod metrics;
mod probe_metrics;

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
/// stderr is a terminal, so that log files get plain text.
pub fn init(default: &str, format: LogFormat) {
    let spec = std::env::var("ASSAY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_owned());
    let mut filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new(default));
    // Quieted unless the spec names them. wasmtime-wasi-http logs every
    // refused connection of a probe at warn; the probe's result already says
    // so. rustls warns about what any client sends (an IP address as SNI, as
    // wrk does): a line per handshake, a log flood anyone could cause;
    // assay_tls_handshake_failures_total counts the failures instead.
    for quiet in ["wasmtime_wasi_http=error", "rustls=error"] {
        let target = quiet.split('=').next().unwrap_or_default();
        if !spec.contains(target) {
            filter = filter.add_directive(quiet.parse().expect("a valid directive"));
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every line is scrubbed of the configuration's secret values first.
        .with_writer(crate::redact::RedactingStderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
