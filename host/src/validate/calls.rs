//! Each validator's calls by outcome and its last error, for `GET /v1/plugins`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Outcome, Report};
use crate::clock::{now_ms, rfc3339};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Calls {
    pub ok: u64,
    pub not_applicable: u64,
    pub error: u64,
    pub timeout: u64,
    pub output_limit: u64,
    pub quarantined: u64,
    pub busy: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    pub at: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginStats {
    pub calls: Calls,
    pub last_error: Option<LastError>,
}

/// Every validator's [`PluginStats`], by name.
#[derive(Debug, Default)]
pub struct CallCounts {
    pub stats: BTreeMap<String, PluginStats>,
}

impl CallCounts {
    /// Counts the plugin runs of a fresh (not cached) report.
    pub fn count(&mut self, report: &Report) {
        if report.cached {
            return;
        }
        for run in &report.plugins {
            let s = self.stats.entry(run.name.clone()).or_default();
            match run.outcome {
                Outcome::Ok => s.calls.ok += 1,
                Outcome::NotApplicable => s.calls.not_applicable += 1,
                Outcome::Error => s.calls.error += 1,
                Outcome::Timeout => s.calls.timeout += 1,
                Outcome::OutputLimit => s.calls.output_limit += 1,
                Outcome::Quarantined => s.calls.quarantined += 1,
                Outcome::Busy => s.calls.busy += 1,
            }
            if matches!(
                run.outcome,
                Outcome::Error | Outcome::Timeout | Outcome::OutputLimit
            ) {
                s.last_error = Some(LastError {
                    at: rfc3339(now_ms()),
                    message: run.error.clone().unwrap_or_default(),
                });
            }
        }
    }
}
