//! Logging into the host's tracing output (`assay:plugin/host.log`).
//!
//! Inside a component these call the host; natively (in unit tests) they
//! write to stderr, so the same plugin code runs in both places.

/// Log levels, as in the contract's `host.log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes one log line tagged with the plugin's name by the host.
pub fn log(level: LogLevel, message: &str) {
    imp::log(level, message)
}

pub fn debug(message: &str) {
    log(LogLevel::Debug, message)
}

pub fn info(message: &str) {
    log(LogLevel::Info, message)
}

pub fn warn(message: &str) {
    log(LogLevel::Warn, message)
}

pub fn error(message: &str) {
    log(LogLevel::Error, message)
}

#[cfg(all(
    target_arch = "wasm32",
    any(feature = "validator", feature = "probe", feature = "router")
))]
mod imp {
    use super::LogLevel;
    use crate::bindings::host as h;

    pub(super) fn log(level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => h::LogLevel::Trace,
            LogLevel::Debug => h::LogLevel::Debug,
            LogLevel::Info => h::LogLevel::Info,
            LogLevel::Warn => h::LogLevel::Warn,
            LogLevel::Error => h::LogLevel::Error,
        };
        h::log(level, message)
    }
}

#[cfg(not(all(
    target_arch = "wasm32",
    any(feature = "validator", feature = "probe", feature = "router")
)))]
mod imp {
    use super::LogLevel;

    pub(super) fn log(level: LogLevel, message: &str) {
        eprintln!("[{level:?}] {message}");
    }
}
