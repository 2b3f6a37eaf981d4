//! The smallest useful validator: accepts every subject. Measures the host's per-call overhead.

use assay_plugin_sdk::{Level, NoConfig, PluginInfo, Subject, Validation, Validator};

pub struct Trivial;

impl Validator for Trivial {
    type Config = NoConfig;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn validate(_: &Subject, _: Level, _: NoConfig) -> Result<Validation, String> {
        Ok(Validation::Findings(Vec::new()))
    }
}

assay_plugin_sdk::export_validator!(Trivial);
