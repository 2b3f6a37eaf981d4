//! What the criterion benches share: where the shipped plugins are, the
//! runtime they call through, and the alerts they route.

// Each bench uses some of these helpers, none uses all.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use assay_contract::Severity;
use assay_host::alerts::Alert;
use assay_host::config::{HostConfig, PluginDefaults};
use assay_host::runtime::{Runtime, RuntimeOptions};
use assay_plugin_sdk::AlertStatus;

/// The shipped plugins: `ASSAY_SHIPPED_PLUGINS`, or `plugins.d` (`cargo xtask build`).
pub(crate) fn shipped_dir() -> PathBuf {
    std::env::var_os("ASSAY_SHIPPED_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins.d"))
}

/// A current-thread tokio runtime to drive calls, and a plugin runtime with
/// the default options and no compiled-artifact cache (every run compiles).
pub(crate) fn runtimes() -> (tokio::runtime::Runtime, Arc<Runtime>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    });
    (rt, Arc::new(runtime.unwrap()))
}

/// A host config whose plugins get a minute and `memory_mib` per call:
/// generous, so the bench measures the work and never the limits.
pub(crate) fn generous(memory_mib: u64) -> HostConfig {
    HostConfig {
        plugin_defaults: PluginDefaults {
            timeout_ms: 60_000,
            memory_limit_mib: memory_mib,
            ..PluginDefaults::default()
        },
        ..HostConfig::default()
    }
}

/// A firing warning named `name` with `labels`: as the host hands it to a
/// router plugin, and as the same plugin crate sees it natively.
pub(crate) fn alert(name: &str, labels: &[(&str, &str)]) -> (Alert, assay_plugin_sdk::Alert) {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let alert = Alert::firing(name, Severity::Warning, "bench", labels, "an alert");
    let native = assay_plugin_sdk::Alert {
        name: alert.name.clone(),
        status: AlertStatus::Firing,
        severity: alert.severity,
        summary: alert.summary.clone(),
        description: String::new(),
        labels: alert.labels.clone().into_iter().collect(),
        annotations: Vec::new(),
        source: alert.source.clone(),
        fingerprint: alert.fingerprint.clone(),
        starts_at_ms: alert.starts_ms as u64,
        ends_at_ms: None,
    };
    (alert, native)
}
