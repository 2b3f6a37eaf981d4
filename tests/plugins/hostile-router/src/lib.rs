//! Hostile router, by config: `{"mode": "tiny-repeat", "channel": "hook"}` asks for a
//! 1 ms repeat interval; `{"mode": "unknown-channels", "n": 100000}` asks for `n`
//! deliveries to channels that do not exist; `{"mode": "trap"}` panics (a trap).

use assay_plugin_sdk::{Alert, Delivery, PluginInfo, Router, RoutingDecision};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub n: u32,
}

pub struct HostileRouter;

impl Router for HostileRouter {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn route(_: &Alert, c: Config) -> Result<RoutingDecision, String> {
        match c.mode.as_str() {
            "tiny-repeat" => Ok(RoutingDecision::Deliver {
                deliveries: vec![Delivery {
                    repeat_interval_ms: Some(1),
                    ..Delivery::to(c.channel)
                }],
                continue_chain: false,
            }),
            "unknown-channels" => Ok(RoutingDecision::Deliver {
                deliveries: (0..c.n)
                    .map(|i| Delivery::to(format!("nowhere-{}", i % 3)))
                    .collect(),
                continue_chain: false,
            }),
            "trap" => panic!("hostile-router was told to trap"),
            m => Err(format!("unknown mode {m:?}")),
        }
    }
}

assay_plugin_sdk::export_router!(HostileRouter);
