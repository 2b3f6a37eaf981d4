//! The sections of `assay.toml`, each with its defaults. `deploy/assay.toml` shows every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;
use crate::validate::Level;

/// `[server]`: the HTTP listener of `assay serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address and port; port 0 picks a free one (the log says which).
    pub listen: SocketAddr,
    /// Largest request body (a subject to validate) accepted.
    pub max_body_bytes: usize,
    /// Validations in progress at once; beyond it the API answers 503 with `Retry-After`.
    pub max_concurrent_validations: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests get to finish.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 16 << 20,
            max_concurrent_validations: 64,
            shutdown_grace_secs: 30,
        }
    }
}

/// `[plugins]`: where plugins are found.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsSection {
    pub dir: PathBuf,
    /// `assay serve` also rescans the directory this often (0: only on file
    /// events, SIGHUP and `POST /v1/plugins/reload`); catches what file
    /// events miss, such as a symlink's target changing elsewhere.
    pub rescan_secs: u64,
}

impl Default for PluginsSection {
    fn default() -> Self {
        PluginsSection {
            dir: PathBuf::from("./plugins.d"),
            rescan_secs: 30,
        }
    }
}

/// `[runtime]`: the WebAssembly engine.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    pub max_concurrency: Option<u32>,
    pub epoch_tick_ms: Option<u64>,
    pub max_memory_mib: Option<u64>,
    pub cache_dir: Option<PathBuf>,
}

/// `[plugin_defaults]`: limits for plugins whose settings give none.
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

/// `[validation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSection {
    /// The level of `POST /v1/validate` and monitors that name none.
    pub default_level: Level,
    pub cache: CacheSection,
    /// `[validation.budget_ms]`: per level, the longest any plugin call may
    /// take (it caps each plugin's own `timeout_ms`). Unset: no cap.
    pub budget_ms: Budgets,
}

impl Default for ValidationSection {
    fn default() -> Self {
        ValidationSection {
            default_level: Level::Standard,
            cache: CacheSection::default(),
            budget_ms: Budgets::default(),
        }
    }
}

/// `[validation.cache]`: the in-memory result cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    pub enabled: bool,
    pub ttl_secs: u64,
    pub max_entries: usize,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            enabled: true,
            ttl_secs: 300,
            max_entries: 10_000,
        }
    }
}

/// Time budgets per level, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    pub minimal: Option<u64>,
    pub standard: Option<u64>,
    pub comprehensive: Option<u64>,
    pub full: Option<u64>,
}

impl Budgets {
    pub fn get(&self, level: Level) -> Option<u64> {
        match level {
            Level::Minimal => self.minimal,
            Level::Standard => self.standard,
            Level::Comprehensive => self.comprehensive,
            Level::Full => self.full,
        }
    }

    pub fn check(&self, key: &str) -> Result<(), String> {
        for level in Level::ALL {
            if self.get(*level) == Some(0) {
                return Err(format!("{key}.{level} must be at least 1 (ms)"));
            }
        }
        Ok(())
    }
}

/// `[storage]`: the SQLite history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// The database file; its directory is created if missing.
    pub path: PathBuf,
    /// Reports and audit entries older than this are pruned.
    pub retention_days: u64,
    /// At most this many reports are kept (oldest pruned first).
    pub max_reports: u64,
    /// `normal`: a committed report survives a crash of the process (kill -9);
    /// `full`: also a power cut, at the cost of an fsync per commit.
    pub synchronous: Synchronous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    #[default]
    Normal,
    Full,
}

impl StorageSection {
    pub fn synchronous_full(&self) -> bool {
        self.synchronous == Synchronous::Full
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            path: PathBuf::from("./assay-data/assay.db"),
            retention_days: 30,
            max_reports: 1_000_000,
            synchronous: Synchronous::Normal,
        }
    }
}

/// `[auth]`: bearer tokens and what they may do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Endpoints served without a token (of `/health`, `/ready`, `/metrics`).
    pub public: Vec<String>,
    /// Serve without tokens on a non-loopback address (behind a proxy that
    /// authenticates). Off by default: such a server refuses to start.
    pub allow_unauthenticated: bool,
    pub tokens: Vec<TokenSection>,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            public: ["/health", "/ready", "/metrics"].map(String::from).to_vec(),
            allow_unauthenticated: false,
            tokens: Vec::new(),
        }
    }
}

/// `[[auth.tokens]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// Who holds it: named in the audit log, never the token itself.
    pub name: String,
    /// Usually `"${ENV_VAR}"`.
    pub token: Secret,
    pub role: Role,
}

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read: every `GET`.
    Viewer,
    /// Also validate and clear the cache.
    Operator,
    /// Also change the live configuration and read the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// `[[monitor]]`: a file, or the files of a directory, validated on an
/// interval and whenever they change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSection {
    pub name: String,
    /// A file, or a directory whose files matching `glob` are each a subject.
    pub path: PathBuf,
    /// For a directory: which files, relative to it (`*.json`; `**/*.json`
    /// descends). Default `*`.
    pub glob: Option<String>,
    /// Default: `[validation] default_level`.
    pub level: Option<Level>,
    /// Only these validators (default: every enabled one).
    #[serde(default)]
    pub plugins: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
}

fn default_interval() -> u64 {
    300
}

/// Monitor intervals by name, as the live configuration holds them.
pub type MonitorIntervals = BTreeMap<String, u64>;
