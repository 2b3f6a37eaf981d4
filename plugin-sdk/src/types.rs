//! Plain Rust mirrors of the contract's types (`wit/plugin.wit`, interface `types`).
//!
//! These are what plugin authors see. They do not depend on generated
//! bindings, so plugin logic compiles and is unit-tested natively.

pub use assay_contract::{Level, Severity};

/// One problem (or remark) a validator found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// A stable dotted code, e.g. `chain.hash_mismatch`.
    pub code: String,
    pub message: String,
    /// A JSON Pointer into the subject (`""` is the whole document).
    pub path: Option<String>,
}

impl Finding {
    pub fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity,
            code: code.into(),
            message: message.into(),
            path: None,
        }
    }

    /// A finding of severity `error`.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Finding::new(Severity::Error, code, message)
    }

    /// A finding of severity `warning`.
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Finding::new(Severity::Warning, code, message)
    }

    /// Sets where in the subject the finding is (a JSON Pointer).
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// What a plugin says about itself. [`plugin_info!`](crate::plugin_info) fills it
/// from the crate's `Cargo.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
}

/// The thing a validator examines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Display name: a file path, `-` for stdin, or the name an API client gave.
    pub name: String,
    /// Media type, `application/octet-stream` when unknown.
    pub content_type: String,
    pub data: Vec<u8>,
}

impl Subject {
    /// A subject for tests: `Subject::new("ledger.json", "application/json", bytes)`.
    pub fn new(
        name: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        Subject {
            name: name.into(),
            content_type: content_type.into(),
            data: data.into(),
        }
    }

    /// Parses the subject as JSON, whatever its declared content type.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.data)
    }

    /// Parses the subject as JSON into a typed value.
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.data)
    }
}

/// A validator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// The subject was examined; empty means clean.
    Findings(Vec<Finding>),
    /// The subject is not something this plugin checks; the text says why.
    NotApplicable(String),
}

impl Validation {
    /// The findings, or an empty slice when not applicable.
    pub fn findings(&self) -> &[Finding] {
        match self {
            Validation::Findings(f) => f,
            Validation::NotApplicable(_) => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeStatus {
    Pass,
    Warn,
    Fail,
}

/// A number a probe measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub name: String,
    pub value: f64,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub status: ProbeStatus,
    pub message: String,
    pub observations: Vec<Observation>,
}

impl ProbeOutcome {
    pub fn new(status: ProbeStatus, message: impl Into<String>) -> Self {
        ProbeOutcome {
            status,
            message: message.into(),
            observations: Vec::new(),
        }
    }

    /// Adds a measured value.
    pub fn observe(mut self, name: impl Into<String>, value: f64, unit: Option<&str>) -> Self {
        self.observations.push(Observation {
            name: name.into(),
            value,
            unit: unit.map(str::to_owned),
        });
        self
    }
}

/// Space on a file system, from [`crate::system::disk_usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStats {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// Memory and swap, from [`crate::system::memory_usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_free_bytes: u64,
}

/// Load averages, from [`crate::system::load_average`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadStats {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// An alert as the alert engine hands it to a router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub name: String,
    pub status: AlertStatus,
    pub severity: Severity,
    pub summary: String,
    pub description: String,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub source: String,
    pub fingerprint: String,
    pub starts_at_ms: u64,
    pub ends_at_ms: Option<u64>,
}

impl Alert {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether every matcher matches the alert's labels (an absent label is `""`).
    #[cfg(feature = "router")]
    pub fn matches(&self, matchers: &[crate::Matcher]) -> bool {
        matchers
            .iter()
            .all(|m| m.matches_with(|name| self.label(name)))
    }
}

/// One notification a router asks for; the host delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// An operator-configured `[[channel]]` name.
    pub channel: String,
    /// A rendered title and body; `None` leaves the channel's own rendering.
    pub title: Option<String>,
    pub body: Option<String>,
    /// Labels added to this notification.
    pub labels: Vec<(String, String)>,
    /// Re-send while the alert keeps firing this often (milliseconds),
    /// instead of the host's `[alerting] repeat_interval`.
    pub repeat_interval_ms: Option<u64>,
}

impl Delivery {
    /// A delivery to `channel` with the channel's own rendering.
    pub fn to(channel: impl Into<String>) -> Self {
        Delivery {
            channel: channel.into(),
            ..Delivery::default()
        }
    }
}

/// What a router wants done with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingDecision {
    /// Send these (possibly none); `continue_chain` lets the next router decide too.
    Deliver {
        deliveries: Vec<Delivery>,
        continue_chain: bool,
    },
    /// Send nothing, for this reason (recorded with the alert).
    Suppress(String),
}

impl RoutingDecision {
    /// Deliveries to `channels` with their own rendering, ending the chain.
    pub fn to<S: Into<String>>(channels: impl IntoIterator<Item = S>) -> Self {
        RoutingDecision::Deliver {
            deliveries: channels.into_iter().map(Delivery::to).collect(),
            continue_chain: false,
        }
    }

    /// The channels this decision delivers to (none when suppressed).
    pub fn channels(&self) -> Vec<&str> {
        match self {
            RoutingDecision::Deliver { deliveries, .. } => {
                deliveries.iter().map(|d| d.channel.as_str()).collect()
            }
            RoutingDecision::Suppress(_) => Vec::new(),
        }
    }
}
