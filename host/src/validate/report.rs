//! The validation report, its verdict and how plugin outcomes map into it.

use serde::Serialize;

pub use assay_contract::Severity;

use super::Level;
use crate::runtime::bindings;

impl From<bindings::Severity> for Severity {
    fn from(s: bindings::Severity) -> Self {
        match s {
            bindings::Severity::Info => Severity::Info,
            bindings::Severity::Warning => Severity::Warning,
            bindings::Severity::Error => Severity::Error,
            bindings::Severity::Critical => Severity::Critical,
        }
    }
}

/// The overall answer for a subject.
///
/// `fail` if any finding is error or critical; else `warn` if any is a
/// warning; else `error` if a plugin errored or timed out; else `pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Error,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Error => "error",
            Verdict::Fail => "fail",
        }
    }

    /// How far from `pass`: pass 0, warn 1, error 2, fail 3. `--fail-on`
    /// compares against this.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Warn => 1,
            Verdict::Error => 2,
            Verdict::Fail => 3,
        }
    }
}

/// How one plugin's call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    NotApplicable,
    Error,
    Timeout,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotApplicable => "not_applicable",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportFinding {
    pub plugin: String,
    pub severity: Severity,
    pub code: String,
    pub message: String,
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginRun {
    pub name: String,
    pub version: String,
    pub outcome: Outcome,
    pub duration_us: u64,
    /// Why the call failed (`error`, `timeout`) or was not applicable.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub subject: String,
    /// `sha256:<hex>` of the subject's bytes.
    pub digest: String,
    pub level: Level,
    pub verdict: Verdict,
    pub findings: Vec<ReportFinding>,
    pub plugins: Vec<PluginRun>,
    pub cached: bool,
    pub duration_us: u64,
}

/// The verdict for a set of findings and plugin runs.
pub(super) fn verdict(findings: &[ReportFinding], plugins: &[PluginRun]) -> Verdict {
    let worst = findings.iter().map(|f| f.severity).max();
    if worst >= Some(Severity::Error) {
        Verdict::Fail
    } else if worst == Some(Severity::Warning) {
        Verdict::Warn
    } else if plugins
        .iter()
        .any(|p| matches!(p.outcome, Outcome::Error | Outcome::Timeout))
    {
        Verdict::Error
    } else {
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> ReportFinding {
        ReportFinding {
            plugin: "p".into(),
            severity,
            code: "c".into(),
            message: "m".into(),
            path: None,
        }
    }

    fn run(outcome: Outcome) -> PluginRun {
        PluginRun {
            name: "p".into(),
            version: "1".into(),
            outcome,
            duration_us: 1,
            error: None,
        }
    }

    #[test]
    fn findings_outrank_plugin_errors() {
        assert_eq!(
            verdict(&[finding(Severity::Critical)], &[run(Outcome::Error)]),
            Verdict::Fail
        );
        assert_eq!(
            verdict(&[finding(Severity::Warning)], &[run(Outcome::Timeout)]),
            Verdict::Warn
        );
        assert_eq!(
            verdict(&[finding(Severity::Info)], &[run(Outcome::Timeout)]),
            Verdict::Error
        );
        assert_eq!(
            verdict(&[finding(Severity::Info)], &[run(Outcome::NotApplicable)]),
            Verdict::Pass
        );
        assert_eq!(verdict(&[], &[]), Verdict::Pass);
    }
}
