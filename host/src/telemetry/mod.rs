//! Tracing set-up: human-readable events on stderr, filtered by `ASSAY_LOG` (`RUST_LOG` syntax).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Colours only when stderr is a terminal,
/// so that log files and collectors get plain text.
/// `default` applies when `ASSAY_LOG` is unset
/// (the CLI uses `warn`, so that plugin warnings and load problems show).
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_env("ASSAY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
