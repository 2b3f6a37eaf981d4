//! assay: runs pluggable checks as sandboxed WebAssembly components.
//!
//! The binary (`assay`, in `main.rs`) is a thin shell over this library.
//! Modules, one per concern, from the bottom up (nothing imports upward;
//! the README's Layout section has the diagram):
//! - `clock`, `tasks`: the wall clock as stored and shown; background tasks
//!   under one stop signal;
//! - [`config`]: the TOML model of the host and of each plugin's sidecar
//!   file, the redactor, and the policy data the runtime enforces;
//! - `live`, `store`, [`telemetry`]: live settings, the store (SQLite or
//!   PostgreSQL: the writer and read/write only), tracing set-up and the
//!   metric families;
//! - `cluster`: replicas on one database: heartbeats, leases, fencing;
//! - [`runtime`]: the wasmtime engine, isolation and limits, guarded calls;
//! - [`registry`]: finding and loading plugins; the plugin host;
//! - `validate`: the validation pipeline, reports, the result cache, monitors;
//! - [`probes`]: health probes: one run, the state machine, the scheduler;
//! - [`alerts`]: alerts, router plugins, the engine and durable delivery;
//! - `audit`, `auth`: the audit log; tokens and roles;
//! - `backups`: scheduled backups of the SQLite store, their metrics and alerts;
//! - `service`: the composition root behind `assay serve`;
//! - `api`: the HTTP API; [`cli`]: the command line.
//!
//! What benches and tests reach is public; the rest is `pub(crate)`.

pub mod alerts;
pub(crate) mod api;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod backups;
pub mod cli;
pub(crate) mod clock;
pub(crate) mod cluster;
pub mod config;
pub(crate) mod console;
pub(crate) mod live;
mod names;
pub mod probes;
pub use config::redact;
pub mod registry;
pub mod runtime;
pub(crate) mod service;
pub(crate) mod store;
pub(crate) mod tasks;
pub mod telemetry;
pub(crate) mod validate;
