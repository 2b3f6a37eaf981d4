//! `memory`: available memory and swap use against thresholds.
//!
//! Config (every key optional; default: fail under 5 % available):
//! ```json
//! {"warn_available_percent": 20, "fail_available_percent": 10,
//!  "warn_available_bytes": 1073741824, "fail_available_bytes": 268435456,
//!  "warn_swap_used_percent": 50}
//! ```
//! Needs `allow_system = true`. Observations: `available_bytes`,
//! `total_bytes`, `swap_used_bytes`.

use assay_plugin_sdk::thresholds::{LowWater, percent};
use assay_plugin_sdk::{MemoryStats, PluginInfo, Probe, ProbeOutcome, ProbeStatus, system};
use serde::Deserialize;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub warn_available_percent: Option<f64>,
    pub fail_available_percent: Option<f64>,
    pub warn_available_bytes: Option<u64>,
    pub fail_available_bytes: Option<u64>,
    pub warn_swap_used_percent: Option<f64>,
}

pub struct Memory;

impl Probe for Memory {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(config: Config) -> Result<ProbeOutcome, String> {
        Ok(match system::memory_usage() {
            Ok(m) => judge(&config, &m),
            Err(e) => ProbeOutcome::new(ProbeStatus::Fail, e),
        })
    }
}

/// The verdict on one reading.
pub fn judge(config: &Config, m: &MemoryStats) -> ProbeOutcome {
    let available = percent(m.available_bytes, m.total_bytes);
    let swap_used = m.swap_total_bytes.saturating_sub(m.swap_free_bytes);
    let swap_pct = percent(swap_used, m.swap_total_bytes);
    let status = match (LowWater {
        warn_percent: config.warn_available_percent,
        fail_percent: config.fail_available_percent,
        warn_bytes: config.warn_available_bytes,
        fail_bytes: config.fail_available_bytes,
    })
    .judge(m.available_bytes, m.total_bytes)
    {
        ProbeStatus::Pass if config.warn_swap_used_percent.is_some_and(|p| swap_pct > p) => {
            ProbeStatus::Warn
        }
        status => status,
    };
    let mib = |b: u64| b >> 20;
    ProbeOutcome::new(
        status,
        format!(
            "{} MiB available of {} MiB ({available:.1} %), swap {swap_pct:.1} % used",
            mib(m.available_bytes),
            mib(m.total_bytes)
        ),
    )
    .observe("available_bytes", m.available_bytes as f64, Some("bytes"))
    .observe("total_bytes", m.total_bytes as f64, Some("bytes"))
    .observe("swap_used_bytes", swap_used as f64, Some("bytes"))
}

assay_plugin_sdk::export_probe!(Memory);

#[cfg(test)]
mod tests {
    use super::*;

    fn m(avail: u64, swap_free: u64) -> MemoryStats {
        MemoryStats {
            total_bytes: 100,
            available_bytes: avail,
            swap_total_bytes: 100,
            swap_free_bytes: swap_free,
        }
    }

    #[test]
    fn thresholds() {
        let c = Config {
            warn_available_percent: Some(20.0),
            fail_available_percent: Some(10.0),
            warn_swap_used_percent: Some(50.0),
            ..Config::default()
        };
        assert_eq!(judge(&c, &m(50, 100)).status, ProbeStatus::Pass);
        assert_eq!(judge(&c, &m(15, 100)).status, ProbeStatus::Warn);
        assert_eq!(judge(&c, &m(50, 10)).status, ProbeStatus::Warn);
        assert_eq!(judge(&c, &m(5, 100)).status, ProbeStatus::Fail);
        assert_eq!(
            judge(&Config::default(), &m(4, 100)).status,
            ProbeStatus::Fail
        );
    }
}
