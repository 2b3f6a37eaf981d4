//! The host's TOML configuration (`assay.toml`) and each plugin's sidecar (`NAME.toml`).
//!
//! Every struct rejects unknown keys, so a typo is an error that names the
//! key instead of a silently ignored setting.

mod plugin;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use plugin::{PluginSettings, SettingsError, SubjectFilter};

use crate::runtime::RuntimeOptions;

/// `assay.toml`. Every key is optional.
///
/// ```toml
/// plugins_dir = "./plugins.d"      # also --plugins-dir, ASSAY_PLUGINS_DIR
///
/// [runtime]
/// max_concurrency = 8              # plugin calls in flight (default: 2 × cores, at least 4)
/// epoch_tick_ms = 10               # deadline granularity
/// max_memory_mib = 1024            # highest memory_limit_mib a plugin may have
/// cache_dir = "/var/cache/assay"   # compiled plugins; "" disables (default: ~/.cache/assay/compiled)
///
/// [plugin_defaults]                # for plugins whose sidecar does not say
/// timeout_ms = 5000
/// memory_limit_mib = 64
///
/// [validation]
/// cache_ttl_secs = 300             # result cache; 0 disables
/// cache_max_entries = 10000
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub plugins_dir: Option<PathBuf>,
    #[serde(default)]
    pub runtime: RuntimeSection,
    #[serde(default)]
    pub plugin_defaults: PluginDefaults,
    #[serde(default)]
    pub validation: ValidationSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    pub max_concurrency: Option<u32>,
    pub epoch_tick_ms: Option<u64>,
    pub max_memory_mib: Option<u64>,
    pub cache_dir: Option<PathBuf>,
}

/// Limits for plugins whose sidecar sets none.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginDefaults {
    pub timeout_ms: u64,
    pub memory_limit_mib: u64,
}

impl Default for PluginDefaults {
    fn default() -> Self {
        PluginDefaults {
            timeout_ms: 5_000,
            memory_limit_mib: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSection {
    pub cache_ttl_secs: u64,
    pub cache_max_entries: usize,
}

impl Default for ValidationSection {
    fn default() -> Self {
        ValidationSection {
            cache_ttl_secs: 300,
            cache_max_entries: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl HostConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.into(),
            message,
        };
        let config: HostConfig = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.runtime.max_concurrency == Some(0) {
            return Err("runtime.max_concurrency must be at least 1".into());
        }
        if let Some(t) = self.runtime.epoch_tick_ms
            && !(1..=1000).contains(&t)
        {
            return Err(format!(
                "runtime.epoch_tick_ms must be between 1 and 1000, not {t}"
            ));
        }
        if let Some(m) = self.runtime.max_memory_mib
            && !(1..=4096).contains(&m)
        {
            return Err(format!(
                "runtime.max_memory_mib must be between 1 and 4096, not {m}"
            ));
        }
        if self.plugin_defaults.timeout_ms == 0 {
            return Err("plugin_defaults.timeout_ms must be at least 1".into());
        }
        if self.plugin_defaults.memory_limit_mib > self.max_memory_mib() {
            return Err(format!(
                "plugin_defaults.memory_limit_mib ({}) is above runtime.max_memory_mib ({})",
                self.plugin_defaults.memory_limit_mib,
                self.max_memory_mib()
            ));
        }
        Ok(())
    }

    pub fn max_memory_mib(&self) -> u64 {
        self.runtime.max_memory_mib.unwrap_or(1024)
    }

    /// Runtime options from this config, defaults filling the gaps.
    pub fn runtime_options(&self) -> RuntimeOptions {
        let mut o = RuntimeOptions::default();
        if let Some(n) = self.runtime.max_concurrency {
            o.max_concurrency = n;
        }
        if let Some(t) = self.runtime.epoch_tick_ms {
            o.epoch_tick = std::time::Duration::from_millis(t);
        }
        o.max_memory = (self.max_memory_mib() as usize) << 20;
        match &self.runtime.cache_dir {
            Some(d) if d.as_os_str().is_empty() => o.cache_dir = None,
            Some(d) => o.cache_dir = Some(d.clone()),
            None => {}
        }
        o
    }
}
