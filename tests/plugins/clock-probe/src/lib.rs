//! A probe that passes when the wall clock reads after 2020: the SDK's probe kind, end to end.

use assay_plugin_sdk::{NoConfig, PluginInfo, Probe, ProbeOutcome, ProbeStatus};

pub struct ClockProbe;

impl Probe for ClockProbe {
    type Config = NoConfig;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(_: NoConfig) -> Result<ProbeOutcome, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        let status = if now.as_secs() > 1_577_836_800 {
            ProbeStatus::Pass
        } else {
            ProbeStatus::Fail
        };
        Ok(ProbeOutcome::new(status, "wall clock read").observe(
            "unix_time",
            now.as_secs_f64(),
            Some("seconds"),
        ))
    }
}

assay_plugin_sdk::export_probe!(ClockProbe);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_today() {
        let out = ClockProbe::probe(NoConfig).unwrap();
        assert_eq!(out.status, ProbeStatus::Pass);
        assert_eq!(out.observations[0].name, "unix_time");
    }
}
