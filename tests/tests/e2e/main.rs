//! End-to-end tests: the real `assay` binary, real `.wasm` plugins, real files.
//!
//! Run through `cargo xtask test`, which builds the binary and the plugins
//! and points these tests at them (`ASSAY_BIN`, `ASSAY_SHIPPED_PLUGINS`,
//! `ASSAY_TEST_PLUGINS`). One test binary with a module per area.

mod alert_channels;
mod alert_delivery;
mod alert_routing;
mod alert_semantics;
mod alertmanager_api;
mod backup;
mod browser;
mod cli;
mod cluster;
mod common;
mod config;
mod conformance;
mod console;
mod duplicate_records;
mod hash_chain;
mod hostile;
mod json_schema;
mod permission_diff;
mod pg;
mod plugin_kit;
mod prepared;
mod probe_cli;
mod receivers;
mod required_fields;
mod route_tests;
mod sandbox;
mod scripted;
mod secrets;
mod serve_api;
mod serve_auth;
mod serve_ops;
mod serve_probes;
mod serve_reload;
mod server;
mod targets;
mod tls;
mod traces;
mod warm;
