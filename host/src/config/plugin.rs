//! A plugin's sidecar file, `NAME.toml` next to `NAME.wasm`: the operator's settings for it.
//!
//! ```toml
//! enabled = true             # default true
//! min_level = "standard"     # run only at this level and deeper (default minimal)
//! timeout_ms = 2000          # default: [plugin_defaults] of assay.toml (5000)
//! memory_limit_mib = 128     # default: [plugin_defaults] of assay.toml (64)
//! subjects = ["*ledger*.json"] # only subjects whose name matches a glob (default: all)
//! max_concurrency = 2        # call slots it may hold at once (default: half the cores)
//! max_queue_ms = 100         # longest wait for a slot (default: a tenth of timeout_ms; routers: timeout_ms)
//! quarantine_after = 5       # consecutive timeouts/traps/breaches before quarantine (0: never)
//! max_findings = 1000        # and the other quotas of [plugin_defaults]
//! reuse_instances = true     # run its calls on one kept instance, if its manifest says `stateless`
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
use super::policy::{BreakerPolicy, CallLimits, GatePolicy};
use assay_contract::Level;

/// A plugin's settings as written: a sidecar file, or a `[[validator]]` entry
/// of `assay.toml` (which also names the plugin).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// Which plugin (`[[validator]]` entries only; a sidecar is named by its file).
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub min_level: Level,
    pub timeout_ms: Option<u64>,
    pub memory_limit_mib: Option<u64>,
    #[serde(default)]
    pub subjects: Vec<String>,
    pub max_concurrency: Option<u32>,
    pub max_queue_ms: Option<u64>,
    pub quarantine_after: Option<u32>,
    pub max_findings: Option<u32>,
    pub max_result_bytes: Option<u32>,
    pub max_output_lines: Option<u32>,
    pub max_output_bytes: Option<u32>,
    pub max_sockets: Option<u32>,
    pub max_deliveries: Option<u32>,
    pub reuse_instances: Option<bool>,
    pub config: Option<toml::Table>,
    pub config_file: Option<PathBuf>,
    /// `[[probe]]` instances of this plugin (probe plugins' sidecars only).
    #[serde(default, rename = "probe")]
    pub probes: Vec<super::ProbeSection>,
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
    /// Call slots the plugin may hold at once (`None`: the runtime's default share).
    pub max_concurrency: Option<u32>,
    /// Longest wait for a slot (`None`: a tenth of the timeout).
    pub max_queue_ms: Option<u64>,
    /// Whether its calls may run on one kept instance, when its manifest
    /// says it is `stateless` (the operator's grant; default false).
    pub reuse_instances: bool,
    pub breaker: BreakerPolicy,
    /// The config handed to the plugin, as JSON text (`{}` when none).
    pub config_json: String,
    /// Which subjects the plugin runs on, by name (`None`: all).
    pub subjects: Option<SubjectFilter>,
    /// Where the settings came from, if a sidecar exists.
    pub sidecar: Option<PathBuf>,
    /// Probe instances the sidecar declares (resolved; names not yet checked
    /// against other plugins').
    pub probes: Vec<super::ProbeSpec>,
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
                quotas: defaults.quotas(),
            },
            max_concurrency: defaults.max_concurrency,
            max_queue_ms: defaults.max_queue_ms,
            reuse_instances: defaults.reuse_instances,
            breaker: BreakerPolicy {
                after: defaults.quarantine_after,
                cooldown: Duration::from_millis(defaults.quarantine_cooldown_ms),
                max_cooldown: Duration::from_millis(defaults.quarantine_max_cooldown_ms),
            },
            config_json: "{}".into(),
            subjects: None,
            sidecar: None,
            probes: Vec::new(),
        }
    }

    /// Reads the sidecar at `path` if it exists; defaults otherwise.
    pub fn load(
        path: &Path,
        defaults: &PluginDefaults,
        max_memory_mib: u64,
    ) -> Result<Self, SettingsError> {
        if !path.exists() {
            return Ok(Self::defaults(defaults));
        }
        let err = |message: String| SettingsError {
            path: path.into(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let section: PluginSection = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        if section.name.is_some() {
            return Err(err(
                "`name` belongs in [[validator]] entries of assay.toml; a sidecar is named by its file".into(),
            ));
        }
        let mut settings =
            Self::from_section(&section, path.parent(), defaults, max_memory_mib).map_err(err)?;
        let plugin = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let mut names = std::collections::BTreeSet::new();
        for p in &section.probes {
            if !names.insert(p.name.as_str()) {
                return Err(err(format!("probe: the name {:?} is used twice", p.name)));
            }
            let origin = path.display().to_string();
            settings.probes.push(
                p.resolve(Some(plugin), &origin, max_memory_mib)
                    .map_err(err)?,
            );
        }
        settings.sidecar = Some(path.into());
        Ok(settings)
    }

    /// Settings from a section; `config_file` is relative to `base` (the
    /// sidecar's or the config file's directory).
    pub fn from_section(
        section: &PluginSection,
        base: Option<&Path>,
        defaults: &PluginDefaults,
        max_memory_mib: u64,
    ) -> Result<Self, String> {
        let mut settings = Self::defaults(defaults);
        settings.enabled = section.enabled;
        settings.min_level = section.min_level;
        if let Some(ms) = section.timeout_ms {
            if ms == 0 {
                return Err("timeout_ms must be at least 1".into());
            }
            settings.limits.timeout = Duration::from_millis(ms);
        }
        if let Some(mib) = section.memory_limit_mib {
            if mib == 0 || mib > max_memory_mib {
                return Err(format!(
                    "memory_limit_mib must be between 1 and {max_memory_mib} (runtime.max_memory_mib), not {mib}"
                ));
            }
            settings.limits.memory = (mib as usize) << 20;
        }
        settings.apply_limits(section)?;
        if !section.subjects.is_empty() {
            settings.subjects = Some(SubjectFilter::new(&section.subjects)?);
        }
        settings.config_json = match (&section.config, &section.config_file) {
            (Some(_), Some(_)) => {
                return Err("set either [config] or config_file, not both".into());
            }
            (Some(table), None) => {
                serde_json::to_string(table).map_err(|e| format!("[config]: {e}"))?
            }
            (None, Some(file)) => {
                let file = base.unwrap_or(Path::new(".")).join(file);
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("config_file {}: {e}", file.display()))?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| format!("config_file {} is not JSON: {e}", file.display()))?;
                value.to_string()
            }
            (None, None) => "{}".into(),
        };
        Ok(settings)
    }
}

impl PluginSettings {
    /// The sidecar's (or `[[validator]]` entry's) own limits over the defaults.
    fn apply_limits(&mut self, section: &PluginSection) -> Result<(), String> {
        let positive = |key: &str, v: Option<u32>| match v {
            Some(0) => Err(format!("{key} must be at least 1")),
            v => Ok(v),
        };
        if let Some(n) = positive("max_concurrency", section.max_concurrency)? {
            self.max_concurrency = Some(n);
        }
        if let Some(ms) = section.max_queue_ms {
            self.max_queue_ms = Some(ms);
        }
        if let Some(reuse) = section.reuse_instances {
            self.reuse_instances = reuse;
        }
        if let Some(n) = section.quarantine_after {
            self.breaker.after = n;
        }
        let q = &mut self.limits.quotas;
        for (key, value, slot) in [
            ("max_findings", section.max_findings, &mut q.max_findings),
            (
                "max_result_bytes",
                section.max_result_bytes,
                &mut q.max_result_bytes,
            ),
            (
                "max_output_lines",
                section.max_output_lines,
                &mut q.max_output_lines,
            ),
            (
                "max_output_bytes",
                section.max_output_bytes,
                &mut q.max_output_bytes,
            ),
            ("max_sockets", section.max_sockets, &mut q.max_sockets),
            (
                "max_deliveries",
                section.max_deliveries,
                &mut q.max_deliveries,
            ),
        ] {
            if let Some(v) = positive(key, value)? {
                *slot = v;
            }
        }
        Ok(())
    }

    /// How the plugin's calls are admitted, with the pool's default share;
    /// `shared` is false for probes (the scheduler shares their slots).
    /// `patient` (routers): without `max_queue_ms`, a call waits up to its
    /// whole timeout for a slot, not a tenth of it: a router's refusal sends
    /// the alert by the default routing, which in a burst is the wrong place.
    pub fn gate_policy(&self, default_share: u32, shared: bool, patient: bool) -> GatePolicy {
        let default_queue = if patient {
            self.limits.timeout
        } else {
            self.limits.timeout / 10
        };
        GatePolicy {
            share: shared.then(|| self.max_concurrency.unwrap_or(default_share)),
            max_queue: self
                .max_queue_ms
                .map_or(default_queue, Duration::from_millis),
            // Probes are not quarantined: their timeouts and failures are
            // mostly the world's (a target down), which is what they report,
            // and one instance's failures must not silence the plugin's others.
            breaker: if shared {
                self.breaker
            } else {
                BreakerPolicy {
                    after: 0,
                    ..self.breaker
                }
            },
        }
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
    fn limits_override_the_defaults_and_zero_is_named() {
        let s = load(
            "max_concurrency = 1\nmax_findings = 10\nquarantine_after = 0\ntimeout_ms = 2000\n",
        )
        .unwrap();
        assert_eq!(s.limits.quotas.max_findings, 10);
        assert_eq!(s.breaker.after, 0);
        let g = s.gate_policy(4, true, false);
        assert_eq!(g.share, Some(1));
        assert_eq!(g.max_queue, Duration::from_millis(200));
        assert_eq!(s.gate_policy(4, false, false).share, None);
        assert_eq!(s.gate_policy(4, true, true).max_queue, s.limits.timeout);
        let e = load("max_sockets = 0\n").unwrap_err();
        assert!(e.message.contains("max_sockets must be at least 1"), "{e}");
    }

    #[test]
    fn instance_reuse_is_off_unless_the_operator_allows_it() {
        assert!(!load("").unwrap().reuse_instances);
        assert!(load("reuse_instances = true\n").unwrap().reuse_instances);
        let on = PluginDefaults {
            reuse_instances: true,
            ..PluginDefaults::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "reuse_instances = false\n").unwrap();
        assert!(
            !PluginSettings::load(&path, &on, 1024)
                .unwrap()
                .reuse_instances
        );
        assert!(PluginSettings::defaults(&on).reuse_instances);
    }

    #[test]
    fn memory_above_the_pool_is_rejected() {
        let e = load("memory_limit_mib = 5000\n").unwrap_err();
        assert!(e.message.contains("memory_limit_mib"), "{e}");
    }
}
