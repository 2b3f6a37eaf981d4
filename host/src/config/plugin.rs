//! A plugin's sidecar file, `NAME.toml` next to `NAME.wasm`: the operator's settings for it.
//!
//! ```toml
//! enabled = true             # default true
//! min_level = "standard"     # run only at this level and deeper (default minimal)
//! timeout_ms = 2000          # default: [plugin_defaults] of assay.toml (5000)
//! memory_limit_mib = 128     # default: [plugin_defaults] of assay.toml (64)
//! subjects = ["*ledger*.json"] # only subjects whose name matches a glob (default: all)
//!
//! [config]                   # handed to the plugin as JSON on every call
//! key = ["id"]
//! ```
//! Instead of `[config]`, `config_file = "schema.json"` names a JSON file
//! (relative to the sidecar) holding the plugin's config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::PluginDefaults;
use crate::runtime::CallLimits;
use crate::validate::Level;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    min_level: Level,
    timeout_ms: Option<u64>,
    memory_limit_mib: Option<u64>,
    #[serde(default)]
    subjects: Vec<String>,
    config: Option<toml::Table>,
    config_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// A plugin's effective settings: its sidecar over the host's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSettings {
    pub enabled: bool,
    pub min_level: Level,
    pub limits: CallLimits,
    /// The config handed to the plugin, as JSON text (`{}` when none).
    pub config_json: String,
    /// Which subjects the plugin runs on, by name (`None`: all).
    pub subjects: Option<SubjectFilter>,
    /// Where the settings came from, if a sidecar exists.
    pub sidecar: Option<PathBuf>,
}

/// Glob patterns over subject names (`*` also crosses `/`, so `*ledger*` matches `data/ledger.json`).
#[derive(Debug, Clone)]
pub struct SubjectFilter {
    patterns: Vec<String>,
    set: globset::GlobSet,
}

impl SubjectFilter {
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut b = globset::GlobSetBuilder::new();
        for p in patterns {
            b.add(globset::Glob::new(p).map_err(|e| format!("subjects: invalid glob {p:?}: {e}"))?);
        }
        let set = b.build().map_err(|e| format!("subjects: {e}"))?;
        Ok(SubjectFilter {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn matches(&self, subject_name: &str) -> bool {
        self.set.is_match(subject_name)
    }
}

impl PartialEq for SubjectFilter {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct SettingsError {
    pub path: PathBuf,
    pub message: String,
}

impl PluginSettings {
    /// Settings for a plugin without a sidecar.
    pub fn defaults(defaults: &PluginDefaults) -> Self {
        PluginSettings {
            enabled: true,
            min_level: Level::Minimal,
            limits: CallLimits {
                timeout: Duration::from_millis(defaults.timeout_ms),
                memory: (defaults.memory_limit_mib as usize) << 20,
            },
            config_json: "{}".into(),
            subjects: None,
            sidecar: None,
        }
    }

    /// Reads the sidecar at `path` if it exists; defaults otherwise.
    pub fn load(
        path: &Path,
        defaults: &PluginDefaults,
        max_memory_mib: u64,
    ) -> Result<Self, SettingsError> {
        let mut settings = Self::defaults(defaults);
        if !path.exists() {
            return Ok(settings);
        }
        let err = |message: String| SettingsError {
            path: path.into(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let sidecar: Sidecar = toml::from_str(&text).map_err(|e| err(e.to_string()))?;

        settings.sidecar = Some(path.into());
        settings.enabled = sidecar.enabled;
        settings.min_level = sidecar.min_level;
        if let Some(ms) = sidecar.timeout_ms {
            if ms == 0 {
                return Err(err("timeout_ms must be at least 1".into()));
            }
            settings.limits.timeout = Duration::from_millis(ms);
        }
        if let Some(mib) = sidecar.memory_limit_mib {
            if mib == 0 || mib > max_memory_mib {
                return Err(err(format!(
                    "memory_limit_mib must be between 1 and {max_memory_mib} (runtime.max_memory_mib), not {mib}"
                )));
            }
            settings.limits.memory = (mib as usize) << 20;
        }
        if !sidecar.subjects.is_empty() {
            settings.subjects = Some(SubjectFilter::new(&sidecar.subjects).map_err(err)?);
        }
        settings.config_json = match (sidecar.config, sidecar.config_file) {
            (Some(_), Some(_)) => {
                return Err(err("set either [config] or config_file, not both".into()));
            }
            (Some(table), None) => {
                serde_json::to_string(&table).map_err(|e| err(format!("[config]: {e}")))?
            }
            (None, Some(file)) => {
                let file = path.parent().unwrap_or(Path::new(".")).join(file);
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| err(format!("config_file {}: {e}", file.display())))?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| err(format!("config_file {} is not JSON: {e}", file.display())))?;
                value.to_string()
            }
            (None, None) => "{}".into(),
        };
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<PluginSettings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        PluginSettings::load(&path, &PluginDefaults::default(), 1024)
    }

    #[test]
    fn config_table_becomes_json() {
        let s = load("min_level = \"full\"\ntimeout_ms = 20\n[config]\nkey = [\"id\"]\n").unwrap();
        assert_eq!(s.min_level, Level::Full);
        assert_eq!(s.limits.timeout, Duration::from_millis(20));
        assert_eq!(s.config_json, r#"{"key":["id"]}"#);
    }

    #[test]
    fn subject_globs_cross_directories() {
        let s = load("subjects = [\"*ledger*.json\"]\n").unwrap();
        let f = s.subjects.unwrap();
        assert!(f.matches("examples/bad-ledger.json"));
        assert!(!f.matches("examples/customers.json"));
        assert!(
            load("subjects = [\"[\"]\n")
                .unwrap_err()
                .message
                .contains("invalid glob")
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let e = load("timeout = 5\n").unwrap_err();
        assert!(e.message.contains("unknown field `timeout`"), "{e}");
    }

    #[test]
    fn memory_above_the_pool_is_rejected() {
        let e = load("memory_limit_mib = 5000\n").unwrap_err();
        assert!(e.message.contains("memory_limit_mib"), "{e}");
    }
}
