//! Routes critical alerts to `pager`, the rest to `chat`: the SDK's router kind, end to end.

use assay_plugin_sdk::{Alert, PluginInfo, Router, RoutingDecision, Severity};

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub pager: String,
    pub chat: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pager: "pager".into(),
            chat: "chat".into(),
        }
    }
}

pub struct SeverityRouter;

impl Router for SeverityRouter {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn route(alert: &Alert, config: Config) -> Result<RoutingDecision, String> {
        let channel = if alert.severity >= Severity::Critical {
            config.pager
        } else {
            config.chat
        };
        Ok(RoutingDecision::to([channel]))
    }
}

assay_plugin_sdk::export_router!(SeverityRouter);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::AlertStatus;

    fn alert(severity: Severity) -> Alert {
        Alert {
            name: "ProbeFailing".into(),
            status: AlertStatus::Firing,
            severity,
            summary: "s".into(),
            description: "d".into(),
            labels: vec![("probe".into(), "api".into())],
            annotations: vec![],
            source: "probe:api".into(),
            fingerprint: "f".into(),
            starts_at_ms: 0,
            ends_at_ms: None,
        }
    }

    #[test]
    fn critical_goes_to_the_pager() {
        assert_eq!(
            SeverityRouter::route(&alert(Severity::Critical), Config::default())
                .unwrap()
                .channels(),
            ["pager"]
        );
        assert_eq!(
            SeverityRouter::route(&alert(Severity::Warning), Config::default())
                .unwrap()
                .channels(),
            ["chat"]
        );
    }
}
