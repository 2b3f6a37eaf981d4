//! assay: runs pluggable checks as sandboxed WebAssembly components.
//!
//! The binary (`assay`, in `main.rs`) is a thin shell over this library.
//! Modules, one per concern:
//! - [`config`]: the TOML model of the host and of each plugin's sidecar file;
//! - [`runtime`]: the wasmtime engine, isolation and limits, guarded calls;
//! - [`registry`]: finding and loading plugins from the plugin directory;
//! - [`validate`]: levels, the validation pipeline, reports and the result cache;
//! - [`probes`]: health probes: one run, the state machine, the scheduler;
//! - [`alerts`]: alerts, router plugins, the engine and durable delivery;
//! - [`redact`]: scrubbing secret values out of logs, stored errors and answers;
//! - [`cli`]: the command line;
//! - [`telemetry`]: tracing set-up.

pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod live;
mod names;
pub mod probes;
pub use config::redact;
pub mod registry;
pub mod runtime;
pub mod service;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod validate;
