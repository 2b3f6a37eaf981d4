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
