//! Write [assay](https://example.invalid/assay) plugins in plain Rust.
//!
//! An assay plugin is a WebAssembly component that the assay host runs in a
//! sandbox. This crate hides the component plumbing: implement one trait —
//! [`Validator`], [`Probe`] or [`Router`] — and export it with one macro.
//! The traits are ordinary Rust, so the same code is unit-tested natively
//! with `cargo test`, no WebAssembly involved.
//!
//! # Setting up a plugin crate
//!
//! ```toml
//! [package]
//! name = "no-tabs"
//! version = "0.1.0"
//! edition = "2024"
//! description = "Rejects documents that contain tab characters"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]   # cdylib: the component; rlib: native tests
//!
//! [dependencies]
//! # Enable exactly one kind: validator, probe or router.
//! assay-plugin-sdk = { version = "0.1", features = ["validator"] }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is the component. Drop it into the
//! host's plugin directory. Never build two plugins of *different* kinds in
//! one cargo invocation: features unify, and a component carrying two worlds
//! fails to link.
//!
//! Recommended: a 64 KiB stack, in the plugin workspace's `.cargo/config.toml`:
//!
//! ```toml
//! [target.wasm32-wasip2]
//! rustflags = ["-C", "link-arg=-zstack-size=65536"]
//! ```
//!
//! The host keeps the first 256 KiB of a plugin's memory resident between
//! calls; with Rust's default 1 MiB stack the heap starts above that and
//! every call page-faults it in (a trivial call: ~25 µs instead of ~9 µs).
//! A stack overflow traps; it never corrupts memory.
//!
//! Hashing: use [`digest::sha256`], which the host computes natively (with
//! the CPU's SHA instructions that WebAssembly cannot use).
//!
//! # A validator
//!
//! ```
//! use assay_plugin_sdk::{Finding, Level, PluginInfo, Subject, Validation, Validator};
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct Config {
//!     /// Also flag trailing whitespace, from `standard` up.
//!     trailing_whitespace: bool,
//! }
//!
//! pub struct NoTabs;
//!
//! impl Validator for NoTabs {
//!     type Config = Config;
//!
//!     fn info() -> PluginInfo {
//!         assay_plugin_sdk::plugin_info!()
//!     }
//!
//!     fn validate(subject: &Subject, level: Level, config: Config) -> Result<Validation, String> {
//!         let Ok(text) = std::str::from_utf8(&subject.data) else {
//!             return Ok(Validation::NotApplicable("not UTF-8 text".into()));
//!         };
//!         let mut findings = Vec::new();
//!         for (n, line) in text.lines().enumerate() {
//!             if line.contains('\t') {
//!                 findings.push(Finding::error("text.tab", format!("tab on line {}", n + 1)));
//!             }
//!             if level >= Level::Standard && config.trailing_whitespace && line.ends_with(' ') {
//!                 findings.push(Finding::warning("text.trailing", format!("trailing space on line {}", n + 1)));
//!             }
//!         }
//!         Ok(Validation::Findings(findings))
//!     }
//! }
//!
//! // In the plugin crate: `assay_plugin_sdk::export_validator!(NoTabs);`
//!
//! // A native unit test, exactly as the host would call it:
//! let doc = Subject::new("a.txt", "text/plain", "a\tb\nc \n");
//! let config = assay_plugin_sdk::parse_config(r#"{"trailing_whitespace": true}"#).unwrap();
//! let out = NoTabs::validate(&doc, Level::Full, config).unwrap();
//! assert_eq!(out.findings().len(), 2);
//! ```
//!
//! # A health probe
//!
//! ```
//! use assay_plugin_sdk::{NoConfig, PluginInfo, Probe, ProbeOutcome, ProbeStatus};
//!
//! pub struct Clock;
//!
//! impl Probe for Clock {
//!     type Config = NoConfig;
//!
//!     fn info() -> PluginInfo {
//!         assay_plugin_sdk::plugin_info!()
//!     }
//!
//!     fn probe(_: NoConfig) -> Result<ProbeOutcome, String> {
//!         let now = std::time::SystemTime::now()
//!             .duration_since(std::time::UNIX_EPOCH)
//!             .map_err(|e| e.to_string())?;
//!         Ok(ProbeOutcome::new(ProbeStatus::Pass, "clock readable")
//!             .observe("unix_time", now.as_secs_f64(), Some("seconds")))
//!     }
//! }
//! // In the plugin crate (features = ["probe"]): `assay_plugin_sdk::export_probe!(Clock);`
//! assert_eq!(Clock::probe(NoConfig).unwrap().status, ProbeStatus::Pass);
//! ```
//!
//! A probe reaches the world only where the operator granted it: HTTP through
//! the `http` module (over `wasi:http`, checked against `allow_http`), TCP and
//! name lookups through `std::net` (`allow_tcp`, `allow_dns`), files through
//! `std::fs` (`allow_read`), and machine statistics through the `system`
//! module (`allow_system`). Both modules need the `probe` feature, and both
//! answer `Err` natively, so keep the judging in a function your unit tests
//! call. The shipped probes in `plugins/` show the pattern.
//!
//! # An alert router
//!
//! ```
//! use assay_plugin_sdk::{Alert, PluginInfo, Router, RoutingDecision, Severity};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     pager: String,
//!     chat: String,
//! }
//!
//! pub struct BySeverity;
//!
//! impl Router for BySeverity {
//!     type Config = Config;
//!
//!     fn info() -> PluginInfo {
//!         assay_plugin_sdk::plugin_info!()
//!     }
//!
//!     fn route(alert: &Alert, config: Config) -> Result<RoutingDecision, String> {
//!         if alert.label("env") == Some("test") {
//!             return Ok(RoutingDecision::Suppress("test environments page nobody".into()));
//!         }
//!         let channel = if alert.severity >= Severity::Critical { config.pager } else { config.chat };
//!         // `Delivery` also carries a rendered title and body, and extra labels.
//!         Ok(RoutingDecision::to([channel]))
//!     }
//! }
//! // In the plugin crate (features = ["router"]): `assay_plugin_sdk::export_router!(BySeverity);`
//! ```

// The generated bindings refer to this crate by name (see `bindings.rs`).
extern crate self as assay_plugin_sdk;

#[doc(hidden)]
pub mod bindings;
pub mod digest;
mod export;
#[cfg(feature = "probe")]
pub mod http;
mod kinds;
pub mod log;
pub mod pointer;
#[cfg(any(feature = "validator", feature = "router"))]
mod prepared;
#[cfg(feature = "probe")]
pub mod system;
pub mod thresholds;
mod types;

/// Alertmanager-style label matchers (`team="db"`, `probe=~"api-.*"`, `env!="dev"`),
/// read exactly as the host reads silences and inhibition rules.
#[cfg(feature = "router")]
pub use assay_contract::Matcher;
pub use kinds::{
    NoConfig, PreparedRouter, PreparedValidator, Probe, Router, Validator, parse_config,
};
pub use pointer::pointer;
pub use types::{
    Alert, AlertStatus, Delivery, DiskStats, Finding, Level, LoadStats, MemoryStats, Observation,
    PluginInfo, ProbeOutcome, ProbeStatus, RoutingDecision, Severity, Subject, Validation,
};

/// Implementation details of the export macros. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    #[cfg(feature = "probe")]
    pub use crate::export::probe::ProbeAdapter;
    #[cfg(feature = "router")]
    pub use crate::export::router::{PreparedRouterAdapter, RouterAdapter};
    #[cfg(feature = "validator")]
    pub use crate::export::validator::{PreparedValidatorAdapter, ValidatorAdapter};
    pub use wit_bindgen;
}

/// A [`PluginInfo`] from the calling crate's `Cargo.toml` (name, version, description).
#[macro_export]
macro_rules! plugin_info {
    () => {
        $crate::PluginInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: env!("CARGO_PKG_DESCRIPTION").to_string(),
        }
    };
}

/// Exports a [`Validator`] as the component's `validation` interface.
/// Needs the `validator` feature. Natively it expands to nothing.
#[cfg(feature = "validator")]
#[macro_export]
macro_rules! export_validator {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __AssayValidatorExport = $crate::__private::ValidatorAdapter<$t>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::bindings::validator::__export_validator_world!(__AssayValidatorExport with_types_in $crate::__private::bindings::validator);
    };
}

/// Exports a [`PreparedValidator`]: the component's `validation` interface
/// and its `prepare` function, and asks the host to snapshot it after
/// `prepare` (the `assay:snapshot` section). Needs the `validator` feature.
/// Natively it expands to nothing.
#[cfg(feature = "validator")]
#[macro_export]
macro_rules! export_prepared_validator {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __AssayValidatorExport = $crate::__private::PreparedValidatorAdapter<$t>;
        // Asks the host to snapshot instances after `prepare` (the custom
        // section `assay:snapshot`; see `wit/plugin.wit`). Plain plugins,
        // whose `prepare` only checks their config, go without.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(link_section = "assay:snapshot")]
        #[used]
        static __ASSAY_SNAPSHOT: [u8; 1] = [1];
        #[cfg(target_arch = "wasm32")]
        $crate::__private::bindings::validator::__export_validator_world!(__AssayValidatorExport with_types_in $crate::__private::bindings::validator);
    };
}

/// Exports a [`Probe`] as the component's `probing` interface.
/// Needs the `probe` feature. Natively it expands to nothing.
#[cfg(feature = "probe")]
#[macro_export]
macro_rules! export_probe {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __AssayProbeExport = $crate::__private::ProbeAdapter<$t>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::bindings::probe::__export_probe_world!(__AssayProbeExport with_types_in $crate::__private::bindings::probe);
    };
}

/// Exports a [`Router`] as the component's `routing` interface.
/// Needs the `router` feature. Natively it expands to nothing.
#[cfg(feature = "router")]
#[macro_export]
macro_rules! export_router {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __AssayRouterExport = $crate::__private::RouterAdapter<$t>;
        #[cfg(target_arch = "wasm32")]
        $crate::__private::bindings::router::__export_router_world!(__AssayRouterExport with_types_in $crate::__private::bindings::router);
    };
}

/// Exports a [`PreparedRouter`]: the component's `routing` interface and its
/// `prepare` function, and asks the host to snapshot it after `prepare`.
/// Needs the `router` feature. Natively it expands to nothing.
#[cfg(feature = "router")]
#[macro_export]
macro_rules! export_prepared_router {
    ($t:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __AssayRouterExport = $crate::__private::PreparedRouterAdapter<$t>;
        // Asks the host to snapshot instances after `prepare` (the custom
        // section `assay:snapshot`; see `wit/plugin.wit`). Plain plugins,
        // whose `prepare` only checks their config, go without.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(link_section = "assay:snapshot")]
        #[used]
        static __ASSAY_SNAPSHOT: [u8; 1] = [1];
        #[cfg(target_arch = "wasm32")]
        $crate::__private::bindings::router::__export_router_world!(__AssayRouterExport with_types_in $crate::__private::bindings::router);
    };
}

/// Embeds the plugin's manifest (its `plugin.toml`: kind, contract and
/// minimum host versions, the grants it needs and why, authors, license,
/// source) in the component, as the `assay:manifest` custom section that
/// `assay plugin inspect` shows and the host checks at load. The path is
/// relative to the file that invokes the macro, as for `include_bytes!`:
///
/// ```ignore
/// assay_plugin_sdk::manifest!("../plugin.toml");
/// ```
///
/// Natively it expands to nothing.
#[macro_export]
macro_rules! manifest {
    ($path:literal) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(link_section = "assay:manifest")]
        #[used]
        static __ASSAY_MANIFEST: [u8; include_bytes!($path).len()] = *include_bytes!($path);
    };
}
