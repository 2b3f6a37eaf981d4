//! `file-freshness`: a granted file exists, was modified recently, and is big enough.
//!
//! Config:
//! ```json
//! {"path": "/var/backups/db.dump", "max_age_secs": 90000, "warn_age_secs": 86400, "min_size_bytes": 1024}
//! ```
//! The file must lie inside one of the probe's `allow_read` directories; any
//! other path reads as missing. Fails when the file is missing, older than
//! `max_age_secs` or smaller than `min_size_bytes`; warns when older than
//! `warn_age_secs`. Observations: `age_seconds`, `size_bytes`.

use std::time::{Duration, SystemTime};

use assay_plugin_sdk::{PluginInfo, Probe, ProbeOutcome, ProbeStatus};
use serde::Deserialize;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub path: String,
    pub max_age_secs: Option<u64>,
    pub warn_age_secs: Option<u64>,
    pub min_size_bytes: Option<u64>,
}

pub struct FileFreshness;

impl Probe for FileFreshness {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(config: Config) -> Result<ProbeOutcome, String> {
        if config.path.is_empty() {
            return Err("path is required".into());
        }
        let meta = match std::fs::metadata(&config.path) {
            Ok(m) => m,
            Err(e) => {
                return Ok(ProbeOutcome::new(
                    ProbeStatus::Fail,
                    format!(
                        "cannot read {}: {e} (paths outside allow_read are not visible)",
                        config.path
                    ),
                ));
            }
        };
        if !meta.is_file() {
            return Ok(ProbeOutcome::new(
                ProbeStatus::Fail,
                format!("{} is not a file", config.path),
            ));
        }
        let modified = meta
            .modified()
            .map_err(|e| format!("modification time of {}: {e}", config.path))?;
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO);
        Ok(judge(&config, age, meta.len()))
    }
}

/// The verdict for a file of `size` bytes last modified `age` ago.
pub fn judge(config: &Config, age: Duration, size: u64) -> ProbeOutcome {
    let secs = age.as_secs();
    let summary = format!("{} is {secs} s old, {size} bytes", config.path);
    let (status, why) = if let Some(max) = config.max_age_secs.filter(|m| secs > *m) {
        (ProbeStatus::Fail, format!("older than {max} s"))
    } else if let Some(min) = config.min_size_bytes.filter(|m| size < *m) {
        (ProbeStatus::Fail, format!("smaller than {min} bytes"))
    } else if let Some(w) = config.warn_age_secs.filter(|w| secs > *w) {
        (ProbeStatus::Warn, format!("older than {w} s"))
    } else {
        (ProbeStatus::Pass, String::new())
    };
    let message = if why.is_empty() {
        summary
    } else {
        format!("{summary}: {why}")
    };
    ProbeOutcome::new(status, message)
        .observe("age_seconds", age.as_secs_f64(), Some("seconds"))
        .observe("size_bytes", size as f64, Some("bytes"))
}

assay_plugin_sdk::export_probe!(FileFreshness);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_and_size() {
        let c = Config {
            path: "f".into(),
            max_age_secs: Some(100),
            warn_age_secs: Some(50),
            min_size_bytes: Some(10),
        };
        let s = |age: u64, size: u64| judge(&c, Duration::from_secs(age), size).status;
        assert_eq!(s(10, 20), ProbeStatus::Pass);
        assert_eq!(s(60, 20), ProbeStatus::Warn);
        assert_eq!(s(101, 20), ProbeStatus::Fail);
        assert_eq!(s(10, 5), ProbeStatus::Fail);
    }

    #[test]
    fn a_real_file_natively() {
        let dir = std::env::temp_dir().join(format!("ff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x");
        std::fs::write(&f, b"hello").unwrap();
        let c = Config {
            path: f.display().to_string(),
            max_age_secs: Some(60),
            ..Config::default()
        };
        assert_eq!(FileFreshness::probe(c).unwrap().status, ProbeStatus::Pass);
        let c = Config {
            path: dir.join("missing").display().to_string(),
            ..Config::default()
        };
        assert_eq!(FileFreshness::probe(c).unwrap().status, ProbeStatus::Fail);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
