//! {{name}}: an assay alert router, in Rust.
//!
//! Critical alerts go to the `pager` channel, warnings and errors to `chat`,
//! and info alerts nowhere. Config: {"pager": "pager", "chat": "chat"} names
//! the channels (`[[channel]]` entries of the host's config).

use assay_plugin_sdk::{Alert, PluginInfo, Router, RoutingDecision, Severity};

assay_plugin_sdk::manifest!("../plugin.toml");

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pager: String,
    chat: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { pager: "pager".into(), chat: "chat".into() }
    }
}

pub struct Plugin;

impl Router for Plugin {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn route(alert: &Alert, config: Config) -> Result<RoutingDecision, String> {
        Ok(match alert.severity {
            Severity::Info => RoutingDecision::Suppress("info alerts notify no one".into()),
            Severity::Critical => RoutingDecision::to([config.pager]),
            _ => RoutingDecision::to([config.chat]),
        })
    }
}

assay_plugin_sdk::export_router!(Plugin);
