//! The live settings: the part of the configuration that `PUT /v1/config` changes without a restart.
//!
//! A change is a partial document ([`LivePatch`]); it is checked as a whole
//! against the current settings and either replaces them atomically (one
//! `watch` send, with a new revision) or leaves them untouched.
//!
//! Alone (SQLite), changes last until the process stops: at start the
//! config file is the truth again. Among replicas (PostgreSQL) they are
//! stored and every replica follows them ([`shared`]), restarts included,
//! until the config file's own settings change.

pub(crate) mod shared;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Budgets, HostConfig};
use assay_contract::Level;

/// What `GET /v1/config` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    /// Bumped by every applied change; a `PUT` may name the revision it read.
    pub revision: u64,
    pub default_level: Level,
    pub cache: LiveCache,
    pub budget_ms: Budgets,
    pub monitors: BTreeMap<String, LiveMonitor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCache {
    pub enabled: bool,
    pub ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveMonitor {
    pub interval_secs: u64,
}

/// The body of `PUT /v1/config`: every field optional; what is absent stays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivePatch {
    /// When given, the change applies only if this is still the current revision.
    pub revision: Option<u64>,
    pub default_level: Option<Level>,
    pub cache: Option<CachePatch>,
    /// Replaces all four budgets (a level left out has none).
    pub budget_ms: Option<Budgets>,
    pub monitors: Option<BTreeMap<String, MonitorPatch>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePatch {
    pub enabled: Option<bool>,
    pub ttl_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorPatch {
    pub interval_secs: u64,
}

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error(
        "the configuration changed meanwhile: revision is {current}, the change was made against {given}"
    )]
    Conflict { current: u64, given: u64 },
    #[error("{0}")]
    Invalid(String),
}

impl Live {
    pub fn from_config(c: &HostConfig) -> Live {
        Live {
            revision: 1,
            default_level: c.validation.default_level,
            cache: LiveCache {
                enabled: c.validation.cache.enabled,
                ttl_secs: c.validation.cache.ttl_secs,
            },
            budget_ms: c.validation.budget_ms,
            monitors: c
                .monitors
                .iter()
                .map(|m| {
                    let live = LiveMonitor {
                        interval_secs: m.interval_secs,
                    };
                    (m.name.clone(), live)
                })
                .collect(),
        }
    }

    /// The settings with `patch` applied, or why not; `self` is not touched.
    pub fn patched(&self, patch: &LivePatch) -> Result<Live, PatchError> {
        if let Some(given) = patch.revision
            && given != self.revision
        {
            return Err(PatchError::Conflict {
                current: self.revision,
                given,
            });
        }
        let invalid = |m: String| PatchError::Invalid(m);
        let mut next = self.clone();
        if let Some(level) = patch.default_level {
            next.default_level = level;
        }
        if let Some(c) = &patch.cache {
            if let Some(e) = c.enabled {
                next.cache.enabled = e;
            }
            if let Some(t) = c.ttl_secs {
                if t == 0 {
                    return Err(invalid(
                        "cache.ttl_secs must be at least 1 (to turn the cache off, set cache.enabled = false)".into(),
                    ));
                }
                next.cache.ttl_secs = t;
            }
        }
        if let Some(b) = patch.budget_ms {
            b.check("budget_ms").map_err(invalid)?;
            next.budget_ms = b;
        }
        for (name, m) in patch.monitors.iter().flatten() {
            let Some(live) = next.monitors.get_mut(name) else {
                let known: Vec<&str> = self.monitors.keys().map(String::as_str).collect();
                return Err(invalid(format!(
                    "monitors: there is no monitor {name:?} (configured: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            if m.interval_secs == 0 {
                return Err(invalid(format!(
                    "monitors.{name}.interval_secs must be at least 1"
                )));
            }
            live.interval_secs = m.interval_secs;
        }
        next.revision = self.revision + 1;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Live {
        let (c, _) = HostConfig::parse(
            "[[monitor]]\nname = \"m\"\npath = \"x\"\n",
            "t",
            std::iter::empty(),
        )
        .unwrap();
        Live::from_config(&c)
    }

    fn patch(json: &str) -> LivePatch {
        serde_json::from_str(json).unwrap()
    }

    /// `live()` patched so that monitor `monitor` runs every 5 s, at level full.
    fn every_5s(l: &Live, monitor: &str) -> Result<Live, PatchError> {
        let json = format!(
            r#"{{"default_level":"full","monitors":{{"{monitor}":{{"interval_secs":5}}}}}}"#
        );
        l.patched(&patch(&json))
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let l = live();
        let n = every_5s(&l, "m").unwrap();
        assert_eq!(n.default_level, Level::Full);
        assert_eq!(n.monitors["m"].interval_secs, 5);
        assert_eq!(n.cache, l.cache);
        assert_eq!(n.revision, 2);
    }

    #[test]
    fn a_bad_patch_is_refused_whole() {
        let l = live();
        let e = every_5s(&l, "nope").unwrap_err();
        assert!(
            e.to_string()
                .contains("no monitor \"nope\" (configured: m)"),
            "{e}"
        );
        assert!(matches!(
            l.patched(&patch(r#"{"revision":7}"#)),
            Err(PatchError::Conflict {
                current: 1,
                given: 7
            })
        ));
        assert!(l.patched(&patch(r#"{"cache":{"ttl_secs":0}}"#)).is_err());
        assert!(serde_json::from_str::<LivePatch>(r#"{"cache":{"ttl":3}}"#).is_err());
    }
}
