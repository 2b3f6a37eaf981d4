//! `disk-space`: free space on the file system holding a granted path.
//!
//! Config:
//! ```json
//! {"path": "/var/lib/app", "warn_free_percent": 20, "fail_free_percent": 10,
//!  "warn_free_bytes": 10737418240, "fail_free_bytes": 1073741824}
//! ```
//! Needs `allow_system = true`, and `path` inside one of the probe's
//! `allow_read` directories. Every threshold is optional (default: fail
//! under 5 % free); the worst one crossed decides. Observations:
//! `available_bytes`, `total_bytes`, `available_ratio`.

use assay_plugin_sdk::thresholds::{LowWater, percent};
use assay_plugin_sdk::{PluginInfo, Probe, ProbeOutcome, ProbeStatus, system};
use serde::Deserialize;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub path: String,
    pub warn_free_percent: Option<f64>,
    pub fail_free_percent: Option<f64>,
    pub warn_free_bytes: Option<u64>,
    pub fail_free_bytes: Option<u64>,
}

pub struct DiskSpace;

impl Probe for DiskSpace {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(config: Config) -> Result<ProbeOutcome, String> {
        if config.path.is_empty() {
            return Err("path is required".into());
        }
        Ok(match system::disk_usage(&config.path) {
            Ok(d) => judge(&config, d.total_bytes, d.available_bytes),
            Err(e) => ProbeOutcome::new(ProbeStatus::Fail, e),
        })
    }
}

/// The verdict for `available` of `total` bytes.
pub fn judge(config: &Config, total: u64, available: u64) -> ProbeOutcome {
    let status = LowWater {
        warn_percent: config.warn_free_percent,
        fail_percent: config.fail_free_percent,
        warn_bytes: config.warn_free_bytes,
        fail_bytes: config.fail_free_bytes,
    }
    .judge(available, total);
    let percent = percent(available, total);
    let summary = format!(
        "{} free of {} ({percent:.1} %) on {}",
        gib(available),
        gib(total),
        config.path
    );
    ProbeOutcome::new(status, summary)
        .observe("available_bytes", available as f64, Some("bytes"))
        .observe("total_bytes", total as f64, Some("bytes"))
        .observe("available_ratio", percent / 100.0, None)
}

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / f64::from(1u32 << 30))
}

assay_plugin_sdk::export_probe!(DiskSpace);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_pick_the_worst() {
        let c = Config {
            path: "/d".into(),
            warn_free_percent: Some(20.0),
            fail_free_percent: Some(10.0),
            ..Config::default()
        };
        assert_eq!(judge(&c, 100, 50).status, ProbeStatus::Pass);
        assert_eq!(judge(&c, 100, 15).status, ProbeStatus::Warn);
        assert_eq!(judge(&c, 100, 5).status, ProbeStatus::Fail);
        let c = Config {
            path: "/d".into(),
            fail_free_bytes: Some(10),
            ..Config::default()
        };
        assert_eq!(judge(&c, 100, 9).status, ProbeStatus::Fail);
        let c = Config {
            path: "/d".into(),
            ..Config::default()
        };
        assert_eq!(judge(&c, 100, 4).status, ProbeStatus::Fail);
        assert_eq!(judge(&c, 100, 6).status, ProbeStatus::Pass);
    }

    #[test]
    fn natively_the_host_is_missing() {
        let c = Config {
            path: "/".into(),
            ..Config::default()
        };
        assert_eq!(DiskSpace::probe(c).unwrap().status, ProbeStatus::Fail);
    }
}
