//! Hostile: `info()` answers a 10 MB version string, which the host must refuse at load.

use assay_plugin_sdk::{Level, NoConfig, PluginInfo, Subject, Validation, Validator};

pub struct InfoHuge;

impl Validator for InfoHuge {
    type Config = NoConfig;

    fn info() -> PluginInfo {
        PluginInfo {
            name: "info-huge".into(),
            version: "9".repeat(10 << 20),
            description: "a plugin whose version is ten megabytes".into(),
        }
    }

    fn validate(_: &Subject, _: Level, _: NoConfig) -> Result<Validation, String> {
        Ok(Validation::Findings(Vec::new()))
    }
}

assay_plugin_sdk::export_validator!(InfoHuge);
