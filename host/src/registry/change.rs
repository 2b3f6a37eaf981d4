//! What a rescan of the plugin directory reports: one [`ReloadEvent`] per
//! plugin file that was added, changed, re-settled, removed or failed, and
//! one per routing change of the config file.

use serde::{Deserialize, Serialize};

/// What happened to a plugin file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadAction {
    Added,
    Changed,
    /// Only its sidecar changed: new settings on the compiled code.
    Settings,
    Removed,
    Failed,
    /// The config file's `[[router]]`s or `[[inhibit_rule]]`s changed.
    Routing,
}
crate::names::named!(ReloadAction, "reload action");

/// Whether the change took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadOutcome {
    Ok,
    Failed,
    /// It loaded, but the routing tests (`[alerting] route_tests`) failed
    /// with it: what was serving before keeps serving.
    Refused,
    /// It loaded, and asks for grants the running version did not that
    /// the operator's grants give: it waits for approval while the running
    /// version keeps serving.
    Pending,
}
crate::names::named!(ReloadOutcome, "reload outcome");

/// One change picked up from the plugin directory.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadEvent {
    pub at: String,
    pub plugin: String,
    pub file: String,
    pub action: ReloadAction,
    pub outcome: ReloadOutcome,
    pub old_digest: Option<String>,
    pub new_digest: Option<String>,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    /// Compile (or cached-compilation load) time, when it compiled.
    pub compile_ms: Option<f64>,
    pub error: Option<String>,
    /// `pending`: the grants it asks for that the running version did not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_grants: Vec<super::manifest::Grant>,
    /// What started the rescan: `start`, `watch`, `periodic`, `api`, `SIGHUP`.
    pub trigger: String,
}
