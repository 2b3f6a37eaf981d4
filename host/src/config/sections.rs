//! The sections of `assay.toml`, each with its defaults. `deploy/assay.toml` shows every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;
use assay_contract::Level;

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
    /// `[server.tls]`: serve HTTPS (and only HTTPS) on `listen`.
    pub tls: Option<TlsSection>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 16 << 20,
            max_concurrent_validations: 64,
            shutdown_grace_secs: 30,
            tls: None,
        }
    }
}

/// `[server.tls]`: the server's certificate and key, and optionally the CA
/// its clients' certificates must chain to (mutual TLS). Relative paths start
/// at the config file's directory. The files are read again whenever they
/// change; connections already open keep going.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM: CA certificates; when set, every client must present a certificate they signed.
    pub client_ca: Option<PathBuf>,
    /// The oldest protocol accepted: `"1.2"` (the default) or `"1.3"`. TLS 1.3 is preferred either way.
    #[serde(default)]
    pub min_version: TlsVersion,
    /// How often the files are checked for changes, in seconds.
    #[serde(default = "tls_reload_default")]
    pub reload_secs: u64,
}

fn tls_reload_default() -> u64 {
    1
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
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
    /// How long a plugin's `info()` may take while it loads; past it the
    /// file is marked failed (and retried when it changes), so one bad file
    /// never holds up the others or `/ready`.
    pub load_timeout_ms: u64,
}

impl Default for PluginsSection {
    fn default() -> Self {
        PluginsSection {
            dir: PathBuf::from("./plugins.d"),
            rescan_secs: 30,
            load_timeout_ms: 500,
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
    /// Snapshot preparing plugins after `prepare` (default true); false
    /// runs every call on the plugin as shipped.
    pub snapshots: Option<bool>,
}

/// `[plugin_defaults]`: limits for plugins whose settings give none.
/// README "The sandbox" lists each with what a user sees when it is hit.
///
/// The quota keys repeat [`super::policy::Quotas`]'s fields on purpose:
/// serde's `flatten` cannot be combined with `deny_unknown_fields`, and a
/// misspelt key must stay an error. [`PluginDefaults::quotas`] maps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginDefaults {
    pub timeout_ms: u64,
    pub memory_limit_mib: u64,
    /// Call slots one plugin may hold at once (default: a quarter of the pool, half the cores, for validators and routers; half the probe pool for probes).
    pub max_concurrency: Option<u32>,
    /// The longest a call waits for a slot before it is refused (default: a tenth of its timeout).
    pub max_queue_ms: Option<u64>,
    /// Consecutive timeouts, traps or limit breaches that quarantine a plugin (0: never).
    pub quarantine_after: u32,
    /// The first quarantine's length; it doubles after each failed trial, up to the maximum.
    pub quarantine_cooldown_ms: u64,
    pub quarantine_max_cooldown_ms: u64,
    pub max_findings: u32,
    pub max_code_bytes: u32,
    pub max_message_bytes: u32,
    pub max_path_bytes: u32,
    pub max_result_bytes: u32,
    pub max_output_lines: u32,
    pub max_output_bytes: u32,
    pub max_sockets: u32,
    pub max_deliveries: u32,
    /// Whether a plugin whose manifest says `stateless` may run its calls on
    /// one kept instance (default false: a fresh instance for every call).
    pub reuse_instances: bool,
}

impl Default for PluginDefaults {
    fn default() -> Self {
        let q = super::policy::Quotas::default();
        let b = super::policy::BreakerPolicy::default();
        PluginDefaults {
            timeout_ms: 5_000,
            memory_limit_mib: 64,
            max_concurrency: None,
            max_queue_ms: None,
            reuse_instances: false,
            quarantine_after: b.after,
            quarantine_cooldown_ms: b.cooldown.as_millis() as u64,
            quarantine_max_cooldown_ms: b.max_cooldown.as_millis() as u64,
            max_findings: q.max_findings,
            max_code_bytes: q.max_code_bytes,
            max_message_bytes: q.max_message_bytes,
            max_path_bytes: q.max_path_bytes,
            max_result_bytes: q.max_result_bytes,
            max_output_lines: q.max_output_lines,
            max_output_bytes: q.max_output_bytes,
            max_sockets: q.max_sockets,
            max_deliveries: q.max_deliveries,
        }
    }
}

impl PluginDefaults {
    /// Checks the values that have to be positive; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("timeout_ms", self.timeout_ms),
            ("memory_limit_mib", self.memory_limit_mib),
            ("quarantine_cooldown_ms", self.quarantine_cooldown_ms),
            ("max_findings", u64::from(self.max_findings)),
            ("max_code_bytes", u64::from(self.max_code_bytes)),
            ("max_message_bytes", u64::from(self.max_message_bytes)),
            ("max_path_bytes", u64::from(self.max_path_bytes)),
            ("max_result_bytes", u64::from(self.max_result_bytes)),
            ("max_output_bytes", u64::from(self.max_output_bytes)),
            ("max_sockets", u64::from(self.max_sockets)),
            ("max_deliveries", u64::from(self.max_deliveries)),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(format!("[plugin_defaults] {key} must be at least 1"));
            }
        }
        if self.max_concurrency == Some(0) {
            return Err("[plugin_defaults] max_concurrency must be at least 1".into());
        }
        if self.quarantine_max_cooldown_ms < self.quarantine_cooldown_ms {
            return Err(
                "[plugin_defaults] quarantine_max_cooldown_ms must be at least quarantine_cooldown_ms"
                    .into(),
            );
        }
        Ok(())
    }

    /// The quotas these defaults give.
    pub fn quotas(&self) -> super::policy::Quotas {
        super::policy::Quotas {
            max_findings: self.max_findings,
            max_code_bytes: self.max_code_bytes,
            max_message_bytes: self.max_message_bytes,
            max_path_bytes: self.max_path_bytes,
            max_result_bytes: self.max_result_bytes,
            max_output_lines: self.max_output_lines,
            max_output_bytes: self.max_output_bytes,
            max_sockets: self.max_sockets,
            max_deliveries: self.max_deliveries,
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

/// `[storage]`: where reports, probe results, alerts and the outbox are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// The SQLite database file; its directory is created if missing.
    /// Unused when `url` is set.
    pub path: PathBuf,
    /// `postgres://USER:PASS@HOST:PORT/DB`: keep everything in PostgreSQL
    /// instead, shared by every replica given the same URL. A secret:
    /// `"${ENV_VAR}"` references resolve, and `url_file` reads it from a file.
    pub url: Option<Secret>,
    /// A file holding `url` (a mounted Kubernetes secret).
    pub url_file: Option<PathBuf>,
    /// Reports and audit entries older than this are pruned.
    pub retention_days: u64,
    /// At most this many reports are kept (oldest pruned first).
    pub max_reports: u64,
    /// The largest report body stored, in bytes: past it the report's
    /// findings are cut (the count of those cut is kept in the report).
    pub max_report_bytes: u64,
    /// `normal`: a committed report survives a crash of the process (kill -9);
    /// `full`: also a power cut, at the cost of an fsync per commit.
    pub synchronous: Synchronous,
    /// `[storage.backup]`: scheduled backups of the SQLite store.
    pub backup: Option<BackupSection>,
}

/// `[storage.backup]`: the service backs up its SQLite store every
/// `interval` into `dir`, keeping the newest `keep`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    /// Where backups are written (created if missing), as
    /// `assay-YYYYMMDDTHHMMSSZ.db.gz`. Only files so named are rotated.
    pub dir: PathBuf,
    /// How often, e.g. `"6h"`.
    #[serde(deserialize_with = "super::alerting::dur", default = "backup_interval")]
    pub interval: std::time::Duration,
    /// How many backups to keep; older ones are deleted after a new one is written.
    #[serde(default = "backup_keep")]
    pub keep: usize,
    /// gzip each backup.
    #[serde(default = "yes")]
    pub compress: bool,
}

fn backup_interval() -> std::time::Duration {
    std::time::Duration::from_secs(6 * 3600)
}

fn backup_keep() -> usize {
    8
}

fn yes() -> bool {
    true
}

impl BackupSection {
    pub fn check(&self) -> Result<(), String> {
        if self.dir.as_os_str().is_empty() {
            return Err("storage.backup.dir must name a directory".into());
        }
        if self.interval < std::time::Duration::from_secs(1) {
            return Err("storage.backup.interval must be at least 1s".into());
        }
        if self.keep == 0 {
            return Err("storage.backup.keep must be at least 1".into());
        }
        Ok(())
    }
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

    /// Reads `url_file` into `url` (relative paths start at `base`), and
    /// checks that `url` names PostgreSQL.
    pub fn read_url(&mut self, base: &std::path::Path) -> Result<(), String> {
        if let Some(path) = &self.url_file {
            if self.url.is_some() {
                return Err("storage: give url or url_file, not both".into());
            }
            let url = Secret::from_file(&base.join(path))
                .map_err(|e| format!("storage.url_file: {e}"))?;
            self.url = Some(url);
        }
        if let Some(url) = &self.url {
            let u = url.expose();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                return Err(
                    "storage.url must be a PostgreSQL URL (postgres://USER:PASS@HOST:PORT/DB)"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            path: PathBuf::from("./assay-data/assay.db"),
            url: None,
            url_file: None,
            retention_days: 30,
            max_reports: 1_000_000,
            max_report_bytes: 1 << 20,
            synchronous: Synchronous::Normal,
            backup: None,
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

/// `[[auth.tokens]]`: exactly one of `token`, `token_file` and `token_sha256`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// Who holds it: named in the audit log, never the token itself.
    pub name: String,
    /// The token, usually `"${ENV_VAR}"`.
    pub token: Option<Secret>,
    /// A file holding the token (a mounted secret); read at start and on reload.
    pub token_file: Option<std::path::PathBuf>,
    /// Only the token's SHA-256, in hex (`printf %s TOKEN | sha256sum`):
    /// the config then holds nothing a reader could use.
    pub token_sha256: Option<String>,
    pub role: Role,
}

impl TokenSection {
    /// The SHA-256 of the token, whichever way it was given (after
    /// [`super::HostConfig::check`], exactly one is).
    pub fn digest(&self) -> Option<[u8; 32]> {
        use sha2::Digest;
        match (&self.token, &self.token_sha256) {
            (Some(t), _) => Some(sha2::Sha256::digest(t.expose().as_bytes()).into()),
            (None, Some(h)) => hex::decode(h.trim()).ok()?.try_into().ok(),
            (None, None) => None,
        }
    }
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
