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
/// refuses is a load error naming the plugin. It may then keep the prepared
/// state and start each call's fresh instance from it; without that (an
/// older host, or before the host has it ready) each call prepares first,
/// so a plugin behaves the same either way. Rules: `prepare` depends on the
/// config only; it opens no files or sockets and prints nothing (use
/// [`log`](crate::log)); what a call changes in the prepared state is gone
/// by the next call.
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
/// [`PreparedValidator`] for how preparing works.
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
