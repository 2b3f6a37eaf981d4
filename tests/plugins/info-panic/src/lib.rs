//! Hostile: `info()` panics; the load error must carry the panic's message.

use assay_plugin_sdk::{Level, NoConfig, PluginInfo, Subject, Validation, Validator};

pub struct InfoPanic;

impl Validator for InfoPanic {
    type Config = NoConfig;

    fn info() -> PluginInfo {
        panic!("info-panic cannot describe itself")
    }

    fn validate(_: &Subject, _: Level, _: NoConfig) -> Result<Validation, String> {
        Ok(Validation::Findings(Vec::new()))
    }
}

assay_plugin_sdk::export_validator!(InfoPanic);
