//! What the criterion benches share: where the shipped plugins are, and the alerts they route.

use std::collections::BTreeMap;
use std::path::PathBuf;

use assay_contract::Severity;
use assay_host::alerts::Alert;
use assay_plugin_sdk::AlertStatus;

/// The shipped plugins: `ASSAY_SHIPPED_PLUGINS`, or `plugins.d` (`cargo xtask build`).
pub(crate) fn shipped_dir() -> PathBuf {
    std::env::var_os("ASSAY_SHIPPED_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins.d"))
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
