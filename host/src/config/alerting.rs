//! Alerting configuration: `[alerting]` (timings and delivery policy),
//! `[[channel]]`, `[[router]]`, `[[inhibit_rule]]` and `[[alert_rule]]`.
//!
//! Channels are one flat struct with every type's settings optional, then
//! checked per type: serde's tagged enums cannot reject unknown keys across
//! shared fields, and an error like "`path` is not a setting of webhook
//! channels" is clearer than "unknown field" anyway.

use assay_contract::Matcher;
use std::collections::BTreeMap;
use std::time::Duration;

use assay_contract::Severity;
use serde::{Deserialize, Deserializer};

use super::Secret;

pub(super) fn dur<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(text.trim())
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration ({e})")))
}

fn opt_dur<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    dur(d).map(Some)
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `[alerting]`: how alerts become notifications and how those are delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingSection {
    /// Alerts sharing these labels' values go out together, per channel.
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification.
    #[serde(deserialize_with = "dur")]
    pub group_wait: Duration,
    /// How long a group that was notified waits before notifying changes.
    #[serde(deserialize_with = "dur")]
    pub group_interval: Duration,
    /// How often a group with firing (unacknowledged) alerts is notified again.
    #[serde(deserialize_with = "dur")]
    pub repeat_interval: Duration,
    /// After an alert resolves, a new firing of it within this long is held back until it ends.
    #[serde(deserialize_with = "dur")]
    pub resolve_cooldown: Duration,
    /// A critical alert firing this long, not acknowledged, goes to `escalation_channels`.
    #[serde(deserialize_with = "dur")]
    pub escalate_after: Duration,
    pub escalation_channels: Vec<String>,
    /// Delivery attempts before a notification is dead-lettered.
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long (with jitter)...
    #[serde(deserialize_with = "dur")]
    pub backoff_base: Duration,
    /// ...up to this.
    #[serde(deserialize_with = "dur")]
    pub backoff_max: Duration,
    /// Consecutive failures that open a channel's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker waits before one trial delivery (doubling while it fails, to 10 min).
    #[serde(deserialize_with = "dur")]
    pub breaker_cooldown: Duration,
    /// The window a channel's `max_per_hour` counts over: an hour, unless
    /// shortened (for tests and demonstrations).
    #[serde(deserialize_with = "dur")]
    pub rate_window: Duration,
    /// How often `[[alert_rule]]`s are evaluated.
    #[serde(deserialize_with = "dur")]
    pub rule_interval: Duration,
    /// How often groups, silences, holds and escalations are looked at.
    #[serde(deserialize_with = "dur")]
    pub tick: Duration,
    /// Where links in notifications point (this host's public URL), if set.
    pub external_url: Option<String>,
    /// An alert posted to `/api/v2/alerts` without `endsAt` resolves this
    /// long after its last re-send (Alertmanager's `resolve_timeout`).
    #[serde(deserialize_with = "dur")]
    pub resolve_timeout: Duration,
    /// Routing test cases (`assay alert route-test`) that every routing
    /// change must pass before it takes effect: a router plugin's file or
    /// sidecar, and the config file's `[[router]]`s and `[[inhibit_rule]]`s.
    /// A relative path starts at the config file's directory.
    pub route_tests: Option<std::path::PathBuf>,
}

impl Default for AlertingSection {
    fn default() -> Self {
        AlertingSection {
            group_by: vec!["alertname".into()],
            group_wait: secs(10),
            group_interval: secs(60),
            repeat_interval: secs(4 * 3600),
            resolve_cooldown: Duration::ZERO,
            escalate_after: secs(15 * 60),
            escalation_channels: Vec::new(),
            max_attempts: 10,
            backoff_base: secs(1),
            backoff_max: secs(300),
            breaker_failures: 5,
            breaker_cooldown: secs(30),
            rate_window: secs(3600),
            rule_interval: secs(30),
            tick: Duration::from_millis(200),
            external_url: None,
            resolve_timeout: secs(300),
            route_tests: None,
        }
    }
}

/// The kinds of `[[channel]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    Webhook,
    Slack,
    Email,
    Alertmanager,
    Log,
    File,
    /// PagerDuty's Events API v2.
    Pagerduty,
}

impl ChannelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Webhook => "webhook",
            ChannelType::Slack => "slack",
            ChannelType::Email => "email",
            ChannelType::Alertmanager => "alertmanager",
            ChannelType::Log => "log",
            ChannelType::File => "file",
            ChannelType::Pagerduty => "pagerduty",
        }
    }
}

/// A webhook's payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// assay's own: the notification as the API shows it.
    #[default]
    Assay,
    /// Prometheus Alertmanager's webhook payload, version 4.
    Alertmanager,
}

/// How an email channel talks to its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required); port 587 by default.
    #[default]
    Starttls,
    /// TLS from the first byte; port 465 by default.
    Tls,
    /// No encryption, for a local relay; port 25 by default.
    None,
}

/// `[[channel]]`: somewhere notifications go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSection {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// Alerts below this severity never reach the channel, whoever routes them.
    #[serde(default = "min_severity_default")]
    pub min_severity: Severity,
    /// Most notifications per rolling hour; the excess is counted and summarised.
    pub max_per_hour: Option<u32>,
    /// Deliveries in flight at once.
    #[serde(default = "concurrency_default")]
    pub concurrency: usize,
    #[serde(default = "timeout_default", deserialize_with = "dur")]
    pub timeout: Duration,
    // webhook, slack, alertmanager
    /// A secret: for Slack, Teams, Discord and Mattermost the URL is the
    /// credential. Shown nowhere; the channel is known by its name.
    pub url: Option<Secret>,
    /// A file holding the URL (read at start and on reload).
    pub url_file: Option<std::path::PathBuf>,
    /// Header values are secrets (`Authorization = "Bearer ${TOKEN}"`).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    pub format: Option<WebhookFormat>,
    /// The body, rendered with minijinja over the notification (instead of `format`).
    pub body_template: Option<String>,
    /// A file holding `body_template` (relative paths start at the config's directory).
    pub body_template_file: Option<std::path::PathBuf>,
    /// The body's `Content-Type` with a `body_template` (default `application/json`).
    pub content_type: Option<String>,
    /// Signs the body: `X-Assay-Signature: sha256=HEX` (HMAC-SHA256).
    pub secret: Option<Secret>,
    pub secret_file: Option<std::path::PathBuf>,
    // pagerduty
    /// The integration's routing key (a secret).
    pub routing_key: Option<Secret>,
    pub routing_key_file: Option<std::path::PathBuf>,
    // email
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<SmtpTls>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<std::path::PathBuf>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    // file
    pub path: Option<std::path::PathBuf>,
}

fn min_severity_default() -> Severity {
    Severity::Info
}
fn concurrency_default() -> usize {
    4
}
fn timeout_default() -> Duration {
    secs(10)
}

impl ChannelSection {
    /// Reads the `*_file` forms into their values; relative paths start at `base`.
    pub fn read_secret_files(&mut self, base: &std::path::Path) -> Result<(), String> {
        let at = format!("channel {:?}", self.name);
        for (key, file, value) in [
            ("url", &self.url_file, &mut self.url),
            ("secret", &self.secret_file, &mut self.secret),
            ("password", &self.password_file, &mut self.password),
            ("routing_key", &self.routing_key_file, &mut self.routing_key),
        ] {
            if let Some(path) = file {
                if value.is_some() {
                    return Err(format!("{at}: give {key} or {key}_file, not both"));
                }
                *value = Some(
                    Secret::from_file(&base.join(path))
                        .map_err(|e| format!("{at}: {key}_file: {e}"))?,
                );
            }
        }
        // Not a secret, but read at the same moment.
        if let Some(path) = &self.body_template_file {
            if self.body_template.is_some() {
                return Err(format!(
                    "{at}: give body_template or body_template_file, not both"
                ));
            }
            let path = base.join(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{at}: body_template_file {}: {e}", path.display()))?;
            self.body_template = Some(text);
        }
        Ok(())
    }

    /// Whether `other` has the same secret values.
    pub fn same_secrets(&self, other: &ChannelSection) -> bool {
        self.url == other.url
            && self.headers == other.headers
            && self.secret == other.secret
            && self.password == other.password
            && self.routing_key == other.routing_key
    }

    /// These settings with `other`'s secrets (a reload: secrets apply at
    /// once, the rest on restart).
    pub fn with_secrets_of(&self, other: &ChannelSection) -> ChannelSection {
        ChannelSection {
            url: other.url.clone(),
            headers: other.headers.clone(),
            secret: other.secret.clone(),
            password: other.password.clone(),
            routing_key: other.routing_key.clone(),
            ..self.clone()
        }
    }

    /// Every secret value of the channel, and the pieces of its URL a
    /// message could quote, for the [`super::redact::Redactor`].
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = &self.url {
            out.extend(super::redact::url_fragments(u.expose()));
        }
        for s in self
            .headers
            .values()
            .chain(&self.secret)
            .chain(&self.password)
            .chain(&self.routing_key)
        {
            out.push(s.expose().to_owned());
        }
        out
    }

    /// Checks the settings against the channel's type.
    pub fn check(&self) -> Result<(), String> {
        let at = format!("channel {:?}", self.name);
        if self.name.is_empty() || self.name.contains(char::is_whitespace) {
            return Err(format!("{at}: the name must be non-empty, without spaces"));
        }
        if self.concurrency == 0 || self.concurrency > 256 {
            return Err(format!("{at}: concurrency must be between 1 and 256"));
        }
        if self.timeout.is_zero() {
            return Err(format!("{at}: timeout must be above 0"));
        }
        if self.max_per_hour == Some(0) {
            return Err(format!(
                "{at}: max_per_hour must be at least 1 (leave it out for no limit)"
            ));
        }
        let t = self.kind;
        let set: [(&str, bool, &[ChannelType]); 20] = {
            use ChannelType::*;
            [
                (
                    "url",
                    self.url.is_some(),
                    &[Webhook, Slack, Alertmanager, Pagerduty],
                ),
                (
                    "url_file",
                    self.url_file.is_some(),
                    &[Webhook, Slack, Alertmanager, Pagerduty],
                ),
                ("routing_key", self.routing_key.is_some(), &[Pagerduty]),
                (
                    "routing_key_file",
                    self.routing_key_file.is_some(),
                    &[Pagerduty],
                ),
                ("secret_file", self.secret_file.is_some(), &[Webhook]),
                ("password_file", self.password_file.is_some(), &[Email]),
                (
                    "headers",
                    !self.headers.is_empty(),
                    &[Webhook, Alertmanager],
                ),
                ("format", self.format.is_some(), &[Webhook]),
                ("body_template", self.body_template.is_some(), &[Webhook]),
                (
                    "body_template_file",
                    self.body_template_file.is_some(),
                    &[Webhook],
                ),
                ("content_type", self.content_type.is_some(), &[Webhook]),
                ("secret", self.secret.is_some(), &[Webhook]),
                ("smtp_host", self.smtp_host.is_some(), &[Email]),
                ("smtp_port", self.smtp_port.is_some(), &[Email]),
                ("smtp_tls", self.smtp_tls.is_some(), &[Email]),
                ("username", self.username.is_some(), &[Email]),
                ("password", self.password.is_some(), &[Email]),
                ("from", self.from.is_some(), &[Email]),
                ("to", !self.to.is_empty(), &[Email]),
                ("path", self.path.is_some(), &[File]),
            ]
        };
        for (key, present, types) in set {
            if present && !types.contains(&t) {
                return Err(format!(
                    "{at}: `{key}` is not a setting of {} channels",
                    t.as_str()
                ));
            }
        }
        let need = |key: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err(format!("{at}: {} channels need `{key}`", t.as_str()))
            }
        };
        match t {
            ChannelType::Webhook | ChannelType::Slack | ChannelType::Alertmanager => {
                need("url", self.url.is_some())?;
                // The URL is a secret: the error names the rule, not the value.
                let url = self.url.as_ref().map(Secret::expose).unwrap_or_default();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "{at}: url must start with http:// or https:// (the value is not shown: it is a secret)"
                    ));
                }
                if reqwest::Url::parse(url).is_err() {
                    return Err(format!(
                        "{at}: url is not a valid URL (the value is not shown: it is a secret)"
                    ));
                }
            }
            ChannelType::Email => {
                need("smtp_host", self.smtp_host.is_some())?;
                need("from", self.from.is_some())?;
                need("to", !self.to.is_empty())?;
                if self.username.is_some() != self.password.is_some() {
                    return Err(format!("{at}: set both username and password, or neither"));
                }
            }
            ChannelType::File => need("path", self.path.is_some())?,
            ChannelType::Log => {}
            ChannelType::Pagerduty => {
                need("routing_key", self.routing_key.is_some())?;
                let url = self.url.as_ref().map(Secret::expose).unwrap_or("https://");
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("{at}: url must start with http:// or https://"));
                }
            }
        }
        if self.format.is_some() && self.body_template.is_some() {
            return Err(format!("{at}: give format or body_template, not both"));
        }
        if self.content_type.is_some() && self.body_template.is_none() {
            return Err(format!("{at}: content_type goes with a body_template"));
        }
        Ok(())
    }
}

/// `[[router]]`: a router plugin in the chain, with its configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSection {
    /// The router plugin's name (its file stem in the plugin directory).
    pub plugin: String,
    /// Handed to the plugin as JSON on every call.
    #[serde(default)]
    pub config: toml::Table,
}

/// `[[inhibit_rule]]`: while an alert matching `source_matchers` fires,
/// alerts matching `target_matchers` with the same values of `equal` are muted.
/// The matchers are parsed as the file is read (Alertmanager's syntax,
/// [`assay_contract::Matcher`]), so a bad one is reported with its line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleSection {
    #[serde(deserialize_with = "matchers")]
    pub source_matchers: Vec<Matcher>,
    #[serde(deserialize_with = "matchers")]
    pub target_matchers: Vec<Matcher>,
    #[serde(default)]
    pub equal: Vec<String>,
}

impl InhibitRuleSection {
    pub(super) fn check(&self) -> Result<(), String> {
        if self.source_matchers.is_empty() || self.target_matchers.is_empty() {
            return Err("source_matchers and target_matchers must not be empty".into());
        }
        Ok(())
    }
}

fn matchers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Matcher>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    Matcher::parse_all(&texts).map_err(serde::de::Error::custom)
}

/// What an `[[alert_rule]]` watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMetric {
    /// Result-cache hits over lookups (0–1).
    CacheHitRate,
    /// The 95th percentile of validation durations, in seconds (bucket upper bound).
    ValidationP95Seconds,
    /// Plugin calls that did not end `ok`, over all plugin calls (0–1).
    PluginErrorRate,
}

impl RuleMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMetric::CacheHitRate => "cache_hit_rate",
            RuleMetric::ValidationP95Seconds => "validation_p95_seconds",
            RuleMetric::PluginErrorRate => "plugin_error_rate",
        }
    }
}

/// `[[alert_rule]]`: a threshold on a host metric over a window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSection {
    /// The alert's name, e.g. `LowCacheHitRate`.
    pub name: String,
    pub metric: RuleMetric,
    /// Fires while the value is below this...
    pub below: Option<f64>,
    /// ...or above this (exactly one of the two).
    pub above: Option<f64>,
    #[serde(deserialize_with = "dur")]
    pub window: Duration,
    #[serde(default = "rule_severity_default")]
    pub severity: Severity,
    pub summary: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Skips the rule while the window holds fewer events (lookups, calls, validations) than this.
    #[serde(default = "min_events_default")]
    pub min_events: u64,
    /// Overrides `[alerting] rule_interval` for this rule's window samples (optional).
    #[serde(default, deserialize_with = "opt_dur")]
    pub interval: Option<Duration>,
}

fn rule_severity_default() -> Severity {
    Severity::Warning
}
fn min_events_default() -> u64 {
    1
}

impl AlertRuleSection {
    pub fn check(&self) -> Result<(), String> {
        let at = format!("alert_rule {:?}", self.name);
        if self.name.is_empty() {
            return Err("alert_rule: name must not be empty".into());
        }
        if self.below.is_some() == self.above.is_some() {
            return Err(format!("{at}: set exactly one of `below` and `above`"));
        }
        if self.window.is_zero() {
            return Err(format!("{at}: window must be above 0"));
        }
        Ok(())
    }
}

impl AlertingSection {
    pub fn check(&self, channels: &[ChannelSection]) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("alerting.max_attempts must be at least 1".into());
        }
        if self.breaker_failures == 0 {
            return Err("alerting.breaker_failures must be at least 1".into());
        }
        if self.resolve_timeout.is_zero() {
            return Err("alerting.resolve_timeout must be more than 0s".into());
        }
        if self.tick.is_zero() || self.tick > secs(10) {
            return Err("alerting.tick must be between 1ms and 10s".into());
        }
        if self.rule_interval.is_zero() {
            return Err("alerting.rule_interval must be above 0".into());
        }
        if self.backoff_base.is_zero() || self.backoff_max < self.backoff_base {
            return Err("alerting.backoff_base must be above 0 and at most backoff_max".into());
        }
        if self.repeat_interval.is_zero() {
            return Err("alerting.repeat_interval must be above 0".into());
        }
        if self.rate_window.is_zero() {
            return Err("alerting.rate_window must be above 0".into());
        }
        for c in &self.escalation_channels {
            if !channels.iter().any(|ch| &ch.name == c) {
                return Err(format!(
                    "alerting.escalation_channels: no [[channel]] is named {c:?}"
                ));
            }
        }
        Ok(())
    }
}
