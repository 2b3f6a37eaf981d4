//! The host's TOML configuration (`assay.toml`), its `ASSAY_…` environment
//! overrides and `${ENV}` secrets, and each plugin's settings (`NAME.toml`
//! sidecars or `[[validator]]` entries).
//!
//! Every struct rejects unknown keys, so a typo is an error that names the
//! key (and its line) instead of a silently ignored setting. Semantic checks
//! ([`HostConfig::check`]) name the key too.

mod alerting;
mod cluster;
pub mod env;
mod errors;
pub mod grants;
mod plugin;
pub mod policy;
mod probe;
pub mod redact;
mod secret;
mod sections;
mod telemetry;
mod ui;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use alerting::{
    AlertRuleSection, AlertingSection, ChannelSection, ChannelType, InhibitRuleSection,
    RouterSection, RuleMetric, SmtpTls, WebhookFormat,
};
pub use cluster::ClusterSection;
pub use plugin::{PluginSection, PluginSettings, SettingsError, SubjectFilter};
pub use probe::{ProbeConfig, ProbeSection, ProbeSpec, ProbesSection};
pub use secret::Secret;
pub use sections::*;
pub use telemetry::{OtlpProtocol, Propagate, TelemetrySection};
pub use ui::UiSection;

/// `assay.toml`. Every key is optional; `deploy/assay.toml` documents each.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub plugins: PluginsSection,
    #[serde(default)]
    pub runtime: RuntimeSection,
    #[serde(default)]
    pub plugin_defaults: PluginDefaults,
    #[serde(default)]
    pub validation: ValidationSection,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default)]
    pub cluster: ClusterSection,
    #[serde(default)]
    pub auth: AuthSection,
    /// `[ui]`: the console and the public status page.
    #[serde(default)]
    pub ui: UiSection,
    /// `[telemetry]`: OpenTelemetry traces.
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// `[[validator]]`: plugin settings kept in this file instead of sidecars.
    #[serde(default, rename = "validator")]
    pub validators: Vec<PluginSection>,
    #[serde(default, rename = "monitor")]
    pub monitors: Vec<MonitorSection>,
    #[serde(default)]
    pub probes: ProbesSection,
    /// `[[probe]]`: probe instances (sidecars of probe plugins may declare more).
    #[serde(default, rename = "probe")]
    pub probe_entries: Vec<ProbeSection>,
    #[serde(default)]
    pub alerting: AlertingSection,
    /// `[[channel]]`: where notifications go.
    #[serde(default, rename = "channel")]
    pub channels: Vec<ChannelSection>,
    /// `[[router]]`: the router chain, in order (none: every channel whose `min_severity` an alert meets).
    #[serde(default, rename = "router")]
    pub routers: Vec<RouterSection>,
    #[serde(default, rename = "inhibit_rule")]
    pub inhibit_rules: Vec<InhibitRuleSection>,
    #[serde(default, rename = "alert_rule")]
    pub alert_rules: Vec<AlertRuleSection>,
    /// The config file's directory: relative `config_file`s of `[[validator]]` entries start there.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    /// The file this was read from, if any (`assay serve` watches it).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

impl HostConfig {
    /// Reads `path` (or starts from the defaults when `None`), applies the
    /// process's `ASSAY_…__…` overrides, and checks the result.
    pub fn load(path: Option<&Path>) -> Result<(Self, Vec<env::Override>), ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.into(),
                source,
            })?,
            None => String::new(),
        };
        let source_name = path.map_or("(built-in defaults)".into(), |p| p.display().to_string());
        let base = path.map_or(Path::new("."), |p| p.parent().unwrap_or(Path::new(".")));
        let (mut config, overrides) = Self::parse_at(&text, &source_name, std::env::vars(), base)?;
        config.base_dir = path.map(|p| p.parent().unwrap_or(Path::new(".")).to_owned());
        config.file = path.map(Path::to_owned);
        Ok((config, overrides))
    }

    /// Parses `text` with the overrides among `vars`, and checks it;
    /// `*_file` secrets are relative to the working directory.
    pub fn parse(
        text: &str,
        source_name: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<env::Override>), ConfigError> {
        Self::parse_at(text, source_name, vars, Path::new("."))
    }

    /// [`HostConfig::parse`], with `*_file` secrets relative to `base`.
    ///
    /// No error echoes a secret: toml's own messages quote the offending
    /// line, so they are rebuilt from its position and message
    /// ([`errors::describe`]), with the value left out for secret-bearing
    /// and unknown keys, and override values of secret keys are scrubbed.
    pub fn parse_at(
        text: &str,
        source_name: &str,
        vars: impl IntoIterator<Item = (String, String)>,
        base: &Path,
    ) -> Result<(Self, Vec<env::Override>), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            message,
        };
        // The file alone first: errors then point at the line.
        let mut config: HostConfig =
            toml::from_str(text).map_err(|e| invalid(errors::describe(text, &e)))?;
        let vars: Vec<_> = vars
            .into_iter()
            .filter(|(k, _)| env::is_override(k))
            .collect();
        let mut overrides = Vec::new();
        if !vars.is_empty() {
            // Overrides apply to the document, which is then read again.
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| invalid(errors::describe(text, &e)))?;
            let secret_values: Vec<String> = vars
                .iter()
                .filter(|(k, _)| errors::is_secret_path(k))
                .map(|(_, v)| v.clone())
                .collect();
            overrides = env::apply(&mut table, vars).map_err(&invalid)?;
            let names: Vec<&str> = overrides.iter().map(|o| o.var.as_str()).collect();
            config = table.try_into().map_err(|e: toml::de::Error| {
                let message = format!(
                    "after the environment overrides {}: {}",
                    names.join(", "),
                    e.message()
                );
                invalid(
                    redact::Redactor::new(&secret_values)
                        .scrub(&message)
                        .into_owned(),
                )
            })?;
        }
        config.read_secret_files(base).map_err(&invalid)?;
        if let Some(p) = &mut config.alerting.route_tests {
            *p = base.join(&*p);
        }
        config.check().map_err(invalid)?;
        Ok((config, overrides))
    }

    /// Reads every `*_file` secret into its value.
    fn read_secret_files(&mut self, base: &Path) -> Result<(), String> {
        for (i, t) in self.auth.tokens.iter_mut().enumerate() {
            if let Some(path) = &t.token_file {
                if t.token.is_some() {
                    return Err(format!(
                        "auth.tokens[{i}] ({}): give token or token_file, not both",
                        t.name
                    ));
                }
                t.token = Some(
                    Secret::from_file(&base.join(path))
                        .map_err(|e| format!("auth.tokens[{i}] ({}): token_file: {e}", t.name))?,
                );
            }
        }
        for c in &mut self.channels {
            c.read_secret_files(base)?;
        }
        self.storage.read_url(base)
    }

    /// Every secret value in the configuration (tokens, channel URLs and
    /// their pieces, headers, HMAC keys, passwords), for the redactor.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .auth
            .tokens
            .iter()
            .filter_map(|t| t.token.as_ref().map(|s| s.expose().to_owned()))
            .collect();
        for c in &self.channels {
            out.extend(c.secret_values());
        }
        if let Some(url) = &self.storage.url {
            let url = url.expose();
            out.push(url.to_owned());
            // The password alone, as a driver's error may quote it.
            let userinfo = url
                .split_once("://")
                .and_then(|(_, rest)| rest.rsplit_once('@'))
                .map(|(info, _)| info);
            if let Some((_, password)) = userinfo.and_then(|i| i.split_once(':'))
                && !password.is_empty()
            {
                out.push(password.to_owned());
            }
        }
        out
    }

    /// The files secrets were read from (a reload follows their changes).
    pub fn secret_files(&self) -> Vec<PathBuf> {
        let base = self.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let tokens = self
            .auth
            .tokens
            .iter()
            .filter_map(|t| t.token_file.as_ref());
        let channels = self.channels.iter().flat_map(|c| {
            [
                &c.url_file,
                &c.secret_file,
                &c.password_file,
                &c.routing_key_file,
            ]
            .into_iter()
            .flatten()
        });
        tokens.chain(channels).map(|p| base.join(p)).collect()
    }

    /// Checks what the types cannot: ranges, uniqueness, cross-references.
    pub fn check(&self) -> Result<(), String> {
        let s = &self.server;
        if s.max_body_bytes == 0 {
            return Err("server.max_body_bytes must be at least 1".into());
        }
        if s.max_concurrent_validations == 0 {
            return Err("server.max_concurrent_validations must be at least 1".into());
        }
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
        self.plugin_defaults.check()?;
        if self.plugins.load_timeout_ms == 0 {
            return Err("plugins.load_timeout_ms must be at least 1".into());
        }
        if self.plugin_defaults.memory_limit_mib > self.max_memory_mib() {
            return Err(format!(
                "plugin_defaults.memory_limit_mib ({}) is above runtime.max_memory_mib ({})",
                self.plugin_defaults.memory_limit_mib,
                self.max_memory_mib()
            ));
        }
        self.validation.budget_ms.check("validation.budget_ms")?;
        if self.storage.path.as_os_str().is_empty() {
            return Err("storage.path must name a file".into());
        }
        if self.storage.retention_days == 0 || self.storage.max_reports == 0 {
            return Err("storage.retention_days and storage.max_reports must be at least 1".into());
        }
        if self.storage.max_report_bytes < 4096 {
            return Err("storage.max_report_bytes must be at least 4096".into());
        }
        if let Some(b) = &self.storage.backup {
            if self.storage.url.is_some() {
                return Err("storage.backup backs up the SQLite store; with storage.url (PostgreSQL) use pg_dump instead (README, \"Operations\")".into());
            }
            b.check()?;
        }
        self.cluster.check()?;
        self.check_auth()?;
        self.ui.check()?;
        self.telemetry.check()?;
        self.check_validators()?;
        self.check_monitors()?;
        self.probes.check()?;
        self.probe_specs()?;
        self.check_alerting()
    }

    fn check_alerting(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for c in &self.channels {
            c.check()?;
            if !names.insert(c.name.as_str()) {
                return Err(format!("channel: the name {:?} is used twice", c.name));
            }
        }
        self.alerting.check(&self.channels)?;
        for (i, r) in self.inhibit_rules.iter().enumerate() {
            r.check()
                .map_err(|e| format!("inhibit_rule #{}: {e}", i + 1))?;
        }
        let mut rules = BTreeSet::new();
        for r in &self.alert_rules {
            r.check()?;
            if !rules.insert(r.name.as_str()) {
                return Err(format!("alert_rule: the name {:?} is used twice", r.name));
            }
        }
        for r in &self.routers {
            if r.plugin.is_empty() {
                return Err("router: plugin must name a router plugin".into());
            }
        }
        Ok(())
    }

    /// The `[[probe]]` entries of this file, resolved; names must be unique.
    pub fn probe_specs(&self) -> Result<Vec<ProbeSpec>, String> {
        let mut names = BTreeSet::new();
        let mut specs = Vec::new();
        for p in &self.probe_entries {
            if !names.insert(p.name.as_str()) {
                return Err(format!("probe: the name {:?} is used twice", p.name));
            }
            specs.push(p.resolve(None, "assay.toml", self.max_memory_mib())?);
        }
        Ok(specs)
    }

    fn check_auth(&self) -> Result<(), String> {
        for p in &self.auth.public {
            if ![
                "/health",
                "/ready",
                "/metrics",
                "/v1/metrics",
                "/api/v2/alerts",
            ]
            .contains(&p.as_str())
            {
                return Err(format!(
                    "auth.public: {p:?} cannot be public (only /health, /ready, /metrics, /v1/metrics and /api/v2/alerts, for posting alerts, can)"
                ));
            }
        }
        let mut names = BTreeSet::new();
        let mut digests = BTreeSet::new();
        for (i, t) in self.auth.tokens.iter().enumerate() {
            let at = format!("auth.tokens[{i}] ({})", t.name);
            if t.name.trim().is_empty() {
                return Err(format!("auth.tokens[{i}].name must not be empty"));
            }
            if !names.insert(&t.name) {
                return Err(format!("auth.tokens: the name {:?} is used twice", t.name));
            }
            let given = [
                t.token.is_some() && t.token_file.is_none(),
                t.token_file.is_some(),
                t.token_sha256.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(format!(
                    "{at}: give exactly one of token, token_file and token_sha256"
                ));
            }
            if let Some(h) = &t.token_sha256 {
                let h = h.trim();
                if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "{at}: token_sha256 must be 64 hex digits (printf %s TOKEN | sha256sum)"
                    ));
                }
            } else if t.token.as_ref().is_some_and(|v| v.expose().len() < 16) {
                return Err(format!(
                    "{at}: the token is shorter than 16 characters; use a random one (openssl rand -hex 32)"
                ));
            }
            if let Some(d) = t.digest()
                && !digests.insert(d)
            {
                return Err(format!("{at}: the same token is given to two names"));
            }
        }
        Ok(())
    }

    fn check_validators(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for (i, v) in self.validators.iter().enumerate() {
            let Some(name) = v.name.as_deref().filter(|n| !n.is_empty()) else {
                return Err(format!(
                    "validator[{i}]: `name` is required (the plugin's file stem)"
                ));
            };
            if !names.insert(name) {
                return Err(format!("validator: {name:?} is configured twice"));
            }
            if !v.probes.is_empty() {
                return Err(format!(
                    "validator {name:?}: probe instances are top-level [[probe]] entries with `plugin = ...`, not part of a [[validator]]"
                ));
            }
            PluginSettings::from_section(
                v,
                self.base_dir.as_deref(),
                &self.plugin_defaults,
                self.max_memory_mib(),
            )
            .map_err(|e| format!("validator {name:?}: {e}"))?;
        }
        Ok(())
    }

    fn check_monitors(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for (i, m) in self.monitors.iter().enumerate() {
            let valid_name = !m.name.is_empty()
                && m.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid_name {
                return Err(format!(
                    "monitor[{i}].name {:?}: use letters, digits, '-', '_' and '.'",
                    m.name
                ));
            }
            if !names.insert(&m.name) {
                return Err(format!("monitor: the name {:?} is used twice", m.name));
            }
            if m.interval_secs == 0 {
                return Err(format!(
                    "monitor {:?}: interval_secs must be at least 1",
                    m.name
                ));
            }
            if let Some(g) = &m.glob {
                globset::Glob::new(g)
                    .map_err(|e| format!("monitor {:?}: invalid glob {g:?}: {e}", m.name))?;
            }
        }
        Ok(())
    }

    /// Checks that only matter to a server: the plugin directory exists, and
    /// the API is not open on a non-loopback address.
    pub fn check_serve(&self) -> Result<(), String> {
        if self.auth.tokens.is_empty()
            && !self.server.listen.ip().is_loopback()
            && !self.auth.allow_unauthenticated
        {
            return Err(format!(
                "server.listen is {}, reachable from other machines, and no [[auth.tokens]] are configured: \
                 anyone could change the configuration. Add tokens, listen on 127.0.0.1, or set \
                 auth.allow_unauthenticated = true if a proxy in front authenticates",
                self.server.listen
            ));
        }
        if !self.plugins.dir.is_dir() {
            return Err(format!(
                "plugin directory {} does not exist (set --plugins-dir, or [plugins] dir in the config, or ASSAY_PLUGINS__DIR)",
                self.plugins.dir.display()
            ));
        }
        Ok(())
    }

    pub fn max_memory_mib(&self) -> u64 {
        self.runtime.max_memory_mib.unwrap_or(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HostConfig, String> {
        parse_env(text, &[])
    }

    fn parse_env(text: &str, vars: &[(&str, &str)]) -> Result<HostConfig, String> {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        HostConfig::parse(text, "t.toml", vars)
            .map(|(c, _)| c)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn empty_text_is_the_embedded_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.plugins.dir, PathBuf::from("./plugins.d"));
        assert_eq!(c.storage.path, PathBuf::from("./assay-data/assay.db"));
        assert!(c.validation.cache.enabled);
        // Loopback without tokens is allowed; only the plugin directory may be missing here.
        if let Err(e) = c.check_serve() {
            assert!(
                e.contains("plugin directory ./plugins.d does not exist"),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let e = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
        assert!(
            e.contains("line 3") && e.contains("unknown field `lisen`"),
            "{e}"
        );
    }

    #[test]
    fn environment_overrides_win_and_are_checked() {
        let c = parse_env(
            "[server]\nlisten = \"127.0.0.1:1\"\n",
            &[("ASSAY_SERVER__LISTEN", "127.0.0.1:9")],
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9);
        let e = parse_env("", &[("ASSAY_SERVER__LISTN", "x")]).unwrap_err();
        assert!(
            e.contains("ASSAY_SERVER__LISTN") && e.contains("listn"),
            "{e}"
        );
    }

    #[test]
    fn tokens_come_as_a_value_a_file_or_a_hash() {
        let dir = std::env::temp_dir().join(format!("assay-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t"), "from-a-file-0123456789\n").unwrap();
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            b"hashed-token-0123456789",
        ));
        let text = format!(
            "[[auth.tokens]]\nname = \"a\"\ntoken_file = \"t\"\nrole = \"admin\"\n\
             [[auth.tokens]]\nname = \"b\"\ntoken_sha256 = \"{hash}\"\nrole = \"viewer\"\n"
        );
        let (c, _) = HostConfig::parse_at(&text, "t.toml", Vec::new(), &dir).unwrap();
        let t = &c.auth.tokens;
        assert_eq!(
            t[0].token.as_ref().unwrap().expose(),
            "from-a-file-0123456789"
        );
        assert_eq!(t[1].digest().unwrap().to_vec(), hex::decode(&hash).unwrap());
        assert!(
            c.secret_values()
                .contains(&"from-a-file-0123456789".to_owned())
        );
        assert_eq!(c.secret_files(), vec![PathBuf::from(".").join("t")]);
        // Two forms at once, a bad hash, a missing file: errors that name the key.
        let both = "[[auth.tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef0\"\ntoken_sha256 = \"00\"\nrole = \"admin\"\n";
        let e = HostConfig::parse_at(both, "t.toml", Vec::new(), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one of token"), "{e}");
        let bad = "[[auth.tokens]]\nname = \"a\"\ntoken_sha256 = \"xyz\"\nrole = \"admin\"\n";
        let e = HostConfig::parse_at(bad, "t.toml", Vec::new(), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        let missing = "[[auth.tokens]]\nname = \"a\"\ntoken_file = \"nope\"\nrole = \"admin\"\n";
        let e = HostConfig::parse_at(missing, "t.toml", Vec::new(), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("token_file") && e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_channel_url_is_a_secret_even_in_errors() {
        let dir = std::env::temp_dir().join(format!("assay-urls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("u"),
            "https://hooks.example.com/services/T/B/url-from-file",
        )
        .unwrap();
        let text = "[[channel]]\nname = \"s\"\ntype = \"slack\"\nurl_file = \"u\"\n";
        let (c, _) = HostConfig::parse_at(text, "t.toml", Vec::new(), &dir).unwrap();
        assert!(format!("{:?}", c.channels[0]).contains("<redacted>"));
        assert!(!format!("{:?}", c.channels[0]).contains("url-from-file"));
        let e = parse(
            "[[channel]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"ftp://x/very-secret-path\"\n",
        )
        .unwrap_err();
        assert!(
            e.contains("http:// or https://") && !e.contains("very-secret-path"),
            "{e}"
        );
        let e = parse_env(
            "[[channel]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"http://x\"\n",
            &[("ASSAY_CHANNEL__0__PASSWORD", "1234567890123")],
        )
        .unwrap_err();
        assert!(!e.contains("1234567890123"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_non_loopback_servers_are_refused() {
        let c = parse("[server]\nlisten = \"0.0.0.0:8080\"\n").unwrap();
        assert!(c.check_serve().unwrap_err().contains("no [[auth.tokens]]"));
    }

    #[test]
    fn weak_or_duplicate_tokens_are_refused() {
        let t = |name: &str, token: &str| {
            format!("[[auth.tokens]]\nname = \"{name}\"\ntoken = \"{token}\"\nrole = \"admin\"\n")
        };
        assert!(
            parse(&t("a", "short"))
                .unwrap_err()
                .contains("shorter than 16")
        );
        let twice = t("a", "0123456789abcdef0") + &t("b", "0123456789abcdef0");
        assert!(parse(&twice).unwrap_err().contains("two names"));
        let e = parse("[[auth.tokens]]\nname = \"a\"\ntoken = \"${ASSAY_TEST_UNSET_VAR}\"\nrole = \"admin\"\n")
            .unwrap_err();
        assert!(e.contains("ASSAY_TEST_UNSET_VAR is not set"), "{e}");
        let e = parse(&t("a", "0123456789abcdef0").replace("admin", "root")).unwrap_err();
        assert!(e.contains("unknown variant `root`"), "{e}");
    }

    #[test]
    fn monitors_and_validators_are_checked_by_name() {
        let e = parse("[[monitor]]\nname = \"m\"\npath = \"x\"\ninterval_secs = 0\n").unwrap_err();
        assert!(e.contains("monitor \"m\": interval_secs"), "{e}");
        let e = parse("[[validator]]\nname = \"v\"\ntimeout_ms = 0\n").unwrap_err();
        assert!(e.contains("validator \"v\": timeout_ms"), "{e}");
        let e = parse("[[validator]]\nmin_level = \"full\"\n").unwrap_err();
        assert!(e.contains("`name` is required"), "{e}");
        let e = parse("[validation.budget_ms]\nfull = 0\n").unwrap_err();
        assert!(e.contains("validation.budget_ms.full"), "{e}");
    }
}
