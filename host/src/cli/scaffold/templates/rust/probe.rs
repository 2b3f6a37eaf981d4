//! {{name}}: an assay health probe, in Rust.
//!
//! It GETs `url` and passes on a 2xx answer, warns when the answer took
//! longer than `warn_ms`, and fails otherwise. Config:
//! {"url": "http://127.0.0.1:8080/health", "warn_ms": 500}. The operator
//! must grant the host and port (`allow_http`): a probe reaches nothing else.

use std::time::{Duration, Instant};

use assay_plugin_sdk::http::{Request, send};
use assay_plugin_sdk::{PluginInfo, Probe, ProbeOutcome, ProbeStatus};

assay_plugin_sdk::manifest!("../plugin.toml");

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    url: String,
    #[serde(default = "default_warn_ms")]
    warn_ms: u64,
}

fn default_warn_ms() -> u64 {
    500
}

pub struct Plugin;

impl Probe for Plugin {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(config: Config) -> Result<ProbeOutcome, String> {
        let started = Instant::now();
        let mut request = Request::get(&config.url);
        request.timeout = Some(Duration::from_secs(5));
        let response = match send(&request) {
            Ok(r) => r,
            Err(e) => return Ok(ProbeOutcome::new(ProbeStatus::Fail, format!("{}: {e}", config.url))),
        };
        let ms = started.elapsed().as_millis() as u64;
        let status = if !(200..300).contains(&response.status) {
            ProbeStatus::Fail
        } else if ms > config.warn_ms {
            ProbeStatus::Warn
        } else {
            ProbeStatus::Pass
        };
        Ok(ProbeOutcome::new(status, format!("{} answered {} in {ms} ms", config.url, response.status))
            .observe("status_code", f64::from(response.status), None)
            .observe("latency_seconds", ms as f64 / 1000.0, Some("seconds")))
    }
}

assay_plugin_sdk::export_probe!(Plugin);
