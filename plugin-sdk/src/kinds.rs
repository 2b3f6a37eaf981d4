//! The three plugin traits. Implement one, then export it with its macro.

use serde::de::DeserializeOwned;

use crate::types::{Alert, Level, PluginInfo, ProbeOutcome, RoutingDecision, Subject, Validation};

/// A validator examines a subject at a [`Level`] and reports findings.
///
/// The host makes a fresh instance for each call, so associated functions
/// (no `self`) are all there is: keep no state between calls.
pub trait Validator {
    /// The operator's configuration, parsed from the JSON the host passes
    /// (`{}` when none is set). Use [`NoConfig`](crate::NoConfig) when the plugin
    /// takes none. A parse error becomes the call's error with a message
    /// naming the problem, before [`validate`](Self::validate) runs.
    type Config: DeserializeOwned;

    fn info() -> PluginInfo;

    /// Examines `subject`. Deeper `level`s add checks; findings are the
    /// result, not errors. Return `Err` only when the call cannot be done.
    fn validate(
        subject: &Subject,
        level: Level,
        config: Self::Config,
    ) -> Result<Validation, String>;
}

/// A validator with set-up: what it builds from its config once
/// ([`prepare`](Self::prepare): a compiled schema, regexes, a rule set)
/// every call receives ready-made.
///
/// The host runs `prepare` when it loads the plugin, so a config the plugin
/// refuses is a load error naming the plugin. It then snapshots an instance
/// right after `prepare` and starts each call's fresh instance from that
/// snapshot, so the set-up is paid once per config. Until the snapshot is
/// ready (or where the host has none: an older host, `[runtime] snapshots =
/// false`) each call prepares first, so a plugin behaves the same either way.
///
/// Rules: `prepare` depends on the config only; it opens no files or sockets
/// and prints nothing (use [`log`](crate::log)), since handles cannot outlive
/// a snapshot; what it reads from the clock or random seeds is the same in
/// every call started from the snapshot; what a call changes in the prepared
/// state is gone by the next call.
///
/// ```ignore
/// use assay_plugin_sdk::{Finding, Level, PluginInfo, PreparedValidator, Subject, Validation};
///
/// struct Banned;
///
/// #[derive(serde::Deserialize)]
/// struct Config { pattern: String }
///
/// impl PreparedValidator for Banned {
///     type Config = Config;
///     type Prepared = regex::Regex;
///
///     fn info() -> PluginInfo { assay_plugin_sdk::plugin_info!() }
///
///     fn prepare(config: Config) -> Result<regex::Regex, String> {
///         regex::Regex::new(&config.pattern).map_err(|e| format!("invalid pattern: {e}"))
///     }
///
///     fn validate(re: &regex::Regex, subject: &Subject, _: Level) -> Result<Validation, String> {
///         let text = String::from_utf8_lossy(&subject.data);
///         Ok(Validation::Findings(re.find_iter(&text).map(|m| {
///             Finding::error("banned.word", format!("{:?} is banned", m.as_str()))
///         }).collect()))
///     }
/// }
///
/// assay_plugin_sdk::export_prepared_validator!(Banned);
/// ```
pub trait PreparedValidator {
    type Config: DeserializeOwned;
    /// What [`prepare`](Self::prepare) builds. `Send + Sync` because it is
    /// kept in a static of the instance.
    type Prepared: Send + Sync + 'static;

    fn info() -> PluginInfo;

    /// Builds the calls' state from the config. `Err` refuses the config.
    fn prepare(config: Self::Config) -> Result<Self::Prepared, String>;

    /// Examines `subject` with the prepared state.
    fn validate(
        prepared: &Self::Prepared,
        subject: &Subject,
        level: Level,
    ) -> Result<Validation, String>;
}

/// A health probe checks the world and says pass, warn or fail.
pub trait Probe {
    type Config: DeserializeOwned;

    fn info() -> PluginInfo;

    fn probe(config: Self::Config) -> Result<ProbeOutcome, String>;
}

/// An alert router decides which channels an alert goes to.
pub trait Router {
    type Config: DeserializeOwned;

    fn info() -> PluginInfo;

    fn route(alert: &Alert, config: Self::Config) -> Result<RoutingDecision, String>;
}

/// A router with set-up (compiled matchers, templates, a time zone): see
/// [`PreparedValidator`] for how preparing works. Each `[[router]]` entry
/// naming the plugin has its own config, prepared (and snapshotted) apart.
///
/// ```ignore
/// use assay_plugin_sdk::{Alert, Matcher, PluginInfo, PreparedRouter, RoutingDecision};
///
/// struct Teams;
///
/// #[derive(serde::Deserialize)]
/// struct Config { routes: Vec<(String, String)> }      // (matcher, channel)
///
/// impl PreparedRouter for Teams {
///     type Config = Config;
///     type Prepared = Vec<(Matcher, String)>;
///
///     fn info() -> PluginInfo { assay_plugin_sdk::plugin_info!() }
///
///     fn prepare(config: Config) -> Result<Self::Prepared, String> {
///         config.routes.into_iter()
///             .map(|(m, channel)| Ok((Matcher::parse(&m).map_err(|e| e.to_string())?, channel)))
///             .collect()
///     }
///
///     fn route(routes: &Self::Prepared, alert: &Alert) -> Result<RoutingDecision, String> {
///         match routes.iter().find(|(m, _)| alert.matches(std::slice::from_ref(m))) {
///             Some((_, channel)) => Ok(RoutingDecision::to([channel.as_str()])),
///             None => Ok(RoutingDecision::Suppress("no team matches".into())),
///         }
///     }
/// }
///
/// assay_plugin_sdk::export_prepared_router!(Teams);
/// ```
pub trait PreparedRouter {
    type Config: DeserializeOwned;
    type Prepared: Send + Sync + 'static;

    fn info() -> PluginInfo;

    fn prepare(config: Self::Config) -> Result<Self::Prepared, String>;

    fn route(prepared: &Self::Prepared, alert: &Alert) -> Result<RoutingDecision, String>;
}

/// Parses the host's config JSON into the plugin's config type.
///
/// Public so that authors' native tests can go through exactly the path the
/// component does: `Validator::validate(&s, level, parse_config(r#"{...}"#)?)`.
pub fn parse_config<C: DeserializeOwned>(json: &str) -> Result<C, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| format!("invalid plugin config: {e}"))
}

/// A config type for plugins that take no configuration: accepts any JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConfig;

impl<'de> serde::Deserialize<'de> for NoConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| NoConfig)
    }
}
