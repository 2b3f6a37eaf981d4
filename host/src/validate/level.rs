//! Validation levels as the host sees them: parsed from the CLI and config, passed to plugins.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::runtime::bindings;

/// How deep validation goes. Ordered; each level includes the ones below.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Cheap structural checks.
    #[default]
    Minimal,
    /// The checks most deployments want on every subject.
    Standard,
    /// Adds expensive checks (recomputing hashes, normalising text).
    Comprehensive,
    /// Everything the plugins know how to check.
    Full,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Minimal,
        Level::Standard,
        Level::Comprehensive,
        Level::Full,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Minimal => "minimal",
            Level::Standard => "standard",
            Level::Comprehensive => "comprehensive",
            Level::Full => "full",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!("unknown level {s:?} (expected minimal, standard, comprehensive or full)")
            })
    }
}

impl From<Level> for bindings::Level {
    fn from(l: Level) -> Self {
        match l {
            Level::Minimal => bindings::Level::Minimal,
            Level::Standard => bindings::Level::Standard,
            Level::Comprehensive => bindings::Level::Comprehensive,
            Level::Full => bindings::Level::Full,
        }
    }
}
