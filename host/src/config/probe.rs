//! Probe instances: `[[probe]]` entries (in `assay.toml`, or in a probe plugin's sidecar) and the `[probes]` section.
//!
//! ```toml
//! [[probe]]
//! name = "api"                  # unique; letters, digits, '-', '_', '.'
//! plugin = "http"               # the plugin's file stem (implied in a sidecar)
//! interval = "30s"              # default 30s, at least 100ms
//! timeout = "5s"                # default 5s
//! jitter = "0s"                 # each run starts up to this much later (default 0)
//! critical = true               # its failure fails /ready (default false)
//! failure_threshold = 3         # consecutive results to turn warning/failing (default 3)
//! success_threshold = 1         # consecutive passes to turn passing (default 1)
//! labels = { team = "core" }
//! allow_http = ["127.0.0.1:8080"]
//! allow_tcp = ["10.0.0.0/8:5432", "db.internal:5432"]
//! allow_dns = false             # may resolve names
//! allow_read = ["/var/lib/app"] # read-only, at the same path
//! allow_system = false          # disk, memory, load, uptime statistics
//! [probe.config]                # handed to the plugin as JSON (or: config = '{"url": ...}')
//! url = "http://127.0.0.1:8080/health"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::grants::{Grants, HostPort};

/// One `[[probe]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    pub name: String,
    pub plugin: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub jitter: Option<String>,
    #[serde(default)]
    pub critical: bool,
    pub failure_threshold: Option<u32>,
    pub success_threshold: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub config: Option<ProbeConfig>,
    #[serde(default)]
    pub allow_http: Vec<String>,
    #[serde(default)]
    pub allow_tcp: Vec<String>,
    #[serde(default)]
    pub allow_dns: bool,
    #[serde(default)]
    pub allow_read: Vec<PathBuf>,
    #[serde(default)]
    pub allow_system: bool,
    pub memory_limit_mib: Option<u64>,
}

fn yes() -> bool {
    true
}

impl ProbeSection {
    /// An instance of plugin `plugin` named after it, with `config` (JSON),
    /// no grants and every other setting at its default: what the command
    /// line (`probe run --plugin`, `plugin test`, `plugin bench`) starts from.
    pub fn ad_hoc(plugin: &str, config: String) -> ProbeSection {
        ProbeSection {
            name: plugin.to_owned(),
            plugin: Some(plugin.to_owned()),
            enabled: true,
            interval: None,
            timeout: None,
            jitter: None,
            critical: false,
            failure_threshold: None,
            success_threshold: None,
            labels: BTreeMap::new(),
            config: Some(ProbeConfig::Json(config)),
            allow_http: Vec::new(),
            allow_tcp: Vec::new(),
            allow_dns: false,
            allow_read: Vec::new(),
            allow_system: false,
            memory_limit_mib: None,
        }
    }
}

/// A probe's plugin config: a TOML table, or a string of JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ProbeConfig {
    Table(toml::Table),
    Json(String),
}

/// `[probes]`: the scheduler.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbesSection {
    /// Probe calls in flight at once (also their share of the instance pool).
    pub max_concurrency: u32,
    /// More than `flap_threshold` state changes within `flap_window` is flapping.
    pub flap_window: String,
    pub flap_threshold: u32,
    /// How long results stay in the store.
    pub retention_hours: u64,
    /// Results kept in memory per probe (for `GET /v1/probes/{name}`).
    pub recent_results: usize,
}

impl Default for ProbesSection {
    fn default() -> Self {
        ProbesSection {
            max_concurrency: 64,
            flap_window: "10m".into(),
            flap_threshold: 5,
            retention_hours: 24,
            recent_results: 20,
        }
    }
}

impl ProbesSection {
    pub fn flap_window(&self) -> Result<Duration, String> {
        parse_duration("probes.flap_window", &self.flap_window)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.max_concurrency == 0 {
            return Err("probes.max_concurrency must be at least 1".into());
        }
        if self.flap_window()?.is_zero() || self.flap_threshold == 0 {
            return Err("probes.flap_window and probes.flap_threshold must be above 0".into());
        }
        if self.retention_hours == 0 || self.recent_results == 0 {
            return Err(
                "probes.retention_hours and probes.recent_results must be at least 1".into(),
            );
        }
        Ok(())
    }
}

/// A probe instance ready to schedule: every default applied, every value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub name: String,
    pub plugin: String,
    pub enabled: bool,
    pub interval: Duration,
    pub timeout: Duration,
    pub jitter: Duration,
    pub critical: bool,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub labels: BTreeMap<String, String>,
    /// The config handed to the plugin, as JSON text.
    pub config_json: String,
    pub grants: Arc<Grants>,
    /// Memory cap in bytes; `None`: the plugin's.
    pub memory: Option<usize>,
    /// Where it was declared: `assay.toml` or the sidecar's path.
    pub origin: String,
}

fn parse_duration(key: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{key}: {text:?} is not a duration like \"30s\" or \"1m\": {e}"))
}

/// Whether `name` is usable as a probe name (it appears in URLs and metric labels).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl ProbeSection {
    /// Resolves the entry; `plugin` fills in a sidecar's implied plugin.
    /// Errors name the probe and the key.
    pub fn resolve(
        &self,
        implied_plugin: Option<&str>,
        origin: &str,
        max_memory_mib: u64,
    ) -> Result<ProbeSpec, String> {
        let name = &self.name;
        if !valid_name(name) {
            return Err(format!(
                "probe {name:?}: the name must be 1-128 letters, digits, '-', '_' or '.'"
            ));
        }
        let e = |m: String| format!("probe {name:?}: {m}");
        let plugin = match (&self.plugin, implied_plugin) {
            (Some(p), Some(implied)) if p != implied => {
                return Err(e(format!(
                    "plugin = {p:?}, but this sidecar belongs to {implied:?}; leave `plugin` out in a sidecar"
                )));
            }
            (Some(p), _) => p.clone(),
            (None, Some(implied)) => implied.to_owned(),
            (None, None) => {
                return Err(e(
                    "`plugin` is required (the probe plugin's file stem)".into()
                ));
            }
        };
        let duration = |key: &str, v: &Option<String>, default: Duration| match v {
            Some(t) => parse_duration(key, t).map_err(e),
            None => Ok(default),
        };
        let interval = duration("interval", &self.interval, Duration::from_secs(30))?;
        let timeout = duration("timeout", &self.timeout, Duration::from_secs(5))?;
        let jitter = duration("jitter", &self.jitter, Duration::ZERO)?;
        if interval < Duration::from_millis(100) {
            return Err(e(format!(
                "interval must be at least 100ms, not {interval:?}"
            )));
        }
        if timeout.is_zero() || timeout > Duration::from_secs(600) {
            return Err(e(format!(
                "timeout must be between 1ms and 10m, not {timeout:?}"
            )));
        }
        if jitter > interval {
            return Err(e("jitter must not be longer than the interval".into()));
        }
        let threshold = |key: &str, v: Option<u32>, default: u32| match v {
            Some(0) => Err(e(format!("{key} must be at least 1"))),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let failure_threshold = threshold("failure_threshold", self.failure_threshold, 3)?;
        let success_threshold = threshold("success_threshold", self.success_threshold, 1)?;
        let config_json = match &self.config {
            None => "{}".to_owned(),
            Some(ProbeConfig::Table(t)) => {
                serde_json::to_string(t).map_err(|x| e(format!("config: {x}")))?
            }
            Some(ProbeConfig::Json(s)) => serde_json::from_str::<serde_json::Value>(s)
                .map_err(|x| e(format!("config is not JSON: {x}")))?
                .to_string(),
        };
        let hosts = |key: &str, list: &[String]| -> Result<Vec<HostPort>, String> {
            list.iter()
                .map(|s| HostPort::parse(s).map_err(|m| e(format!("{key}: {m}"))))
                .collect()
        };
        for dir in &self.allow_read {
            if !dir.is_absolute() {
                return Err(e(format!(
                    "allow_read: {} is not an absolute path",
                    dir.display()
                )));
            }
        }
        let grants = Grants {
            http: hosts("allow_http", &self.allow_http)?,
            tcp: hosts("allow_tcp", &self.allow_tcp)?,
            dns: self.allow_dns,
            read: self.allow_read.clone(),
            system: self.allow_system,
        };
        let memory = match self.memory_limit_mib {
            Some(m) if m == 0 || m > max_memory_mib => {
                return Err(e(format!(
                    "memory_limit_mib must be between 1 and {max_memory_mib}, not {m}"
                )));
            }
            Some(m) => Some((m as usize) << 20),
            None => None,
        };
        Ok(ProbeSpec {
            name: name.clone(),
            plugin,
            enabled: self.enabled,
            interval,
            timeout,
            jitter,
            critical: self.critical,
            failure_threshold,
            success_threshold,
            labels: self.labels.clone(),
            config_json,
            grants: Arc::new(grants),
            memory,
            origin: origin.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> ProbeSection {
        toml::from_str(text).unwrap()
    }

    fn resolve(text: &str) -> Result<ProbeSpec, String> {
        section(text).resolve(None, "assay.toml", 1024)
    }

    #[test]
    fn defaults_and_config_forms() {
        let s =
            resolve("name = \"a\"\nplugin = \"http\"\n[config]\nurl = \"http://x/\"\n").unwrap();
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!((s.failure_threshold, s.success_threshold), (3, 1));
        assert_eq!(s.config_json, r#"{"url":"http://x/"}"#);
        assert_eq!(*s.grants, Grants::default());
        let s = resolve("name = \"a\"\nplugin = \"http\"\nconfig = '{\"url\": 1}'\n").unwrap();
        assert_eq!(s.config_json, r#"{"url":1}"#);
    }

    #[test]
    fn errors_name_the_probe_and_key() {
        let e = resolve("name = \"a\"\nplugin = \"p\"\ninterval = \"fast\"\n").unwrap_err();
        assert!(e.contains("probe \"a\": interval"), "{e}");
        let e = resolve("name = \"a\"\nplugin = \"p\"\ninterval = \"10ms\"\n").unwrap_err();
        assert!(e.contains("at least 100ms"), "{e}");
        let e = resolve("name = \"a\"\nplugin = \"p\"\nallow_http = [\"nohost\"]\n").unwrap_err();
        assert!(e.contains("allow_http") && e.contains("no port"), "{e}");
        let e = resolve("name = \"a\"\nplugin = \"p\"\nallow_read = [\"rel/dir\"]\n").unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = resolve("name = \"a b\"\nplugin = \"p\"\n").unwrap_err();
        assert!(e.contains("name"), "{e}");
        assert!(
            resolve("name = \"a\"\n")
                .unwrap_err()
                .contains("`plugin` is required")
        );
        let e = resolve("name = \"a\"\nplugin = \"p\"\nfailure_threshold = 0\n").unwrap_err();
        assert!(e.contains("failure_threshold"), "{e}");
        let e = toml::from_str::<ProbeSection>("name = \"a\"\nallow_htp = []\n").unwrap_err();
        assert!(e.to_string().contains("allow_htp"), "{e}");
    }

    #[test]
    fn a_sidecar_implies_its_plugin() {
        let s = section("name = \"a\"\n")
            .resolve(Some("http"), "http.toml", 64)
            .unwrap();
        assert_eq!(s.plugin, "http");
        let e = section("name = \"a\"\nplugin = \"tcp\"\n")
            .resolve(Some("http"), "http.toml", 64)
            .unwrap_err();
        assert!(e.contains("belongs to \"http\""), "{e}");
    }
}
