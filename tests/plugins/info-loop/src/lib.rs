//! Hostile: `info()` spins forever, so loading it must not hold up the other plugins or `/ready`.

use assay_plugin_sdk::{Level, NoConfig, PluginInfo, Subject, Validation, Validator};

pub struct InfoLoop;

impl Validator for InfoLoop {
    type Config = NoConfig;

    fn info() -> PluginInfo {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    fn validate(_: &Subject, _: Level, _: NoConfig) -> Result<Validation, String> {
        Ok(Validation::Findings(Vec::new()))
    }
}

assay_plugin_sdk::export_validator!(InfoLoop);
