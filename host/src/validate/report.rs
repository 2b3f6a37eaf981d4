//! The validation report, its verdict and how plugin outcomes map into it.

use serde::{Deserialize, Serialize};

pub(crate) use assay_contract::Severity;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warn,
    Error,
    Fail,
}
crate::names::named!(Verdict, "verdict");

impl Verdict {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    NotApplicable,
    Error,
    Timeout,
    /// The answer or output was over a quota (`max_result_bytes`, `max_output_bytes`).
    OutputLimit,
    /// Not run: the plugin is quarantined.
    Quarantined,
    /// Not run: no call slot within `max_queue_ms`. The API answers 503
    /// rather than record a report with it; monitors skip the run.
    Busy,
}
crate::names::named!(Outcome, "outcome");

impl Outcome {
    /// Whether the plugin gave no answer (the verdict is then at least `error`).
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::NotApplicable)
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
    /// Time spent waiting for a call slot before the call ran.
    pub queue_us: u64,
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
    } else if plugins.iter().any(|p| p.outcome.is_failure()) {
        Verdict::Error
    } else {
        Verdict::Pass
    }
}

/// The code of the finding that stands for the findings a stored report had to drop.
pub(crate) const REPORT_TRUNCATED: &str = "assay.report_truncated";

impl Report {
    /// The plugins that were refused a call slot (`busy`), comma-separated, if any.
    pub fn busy_plugins(&self) -> Option<String> {
        let busy: Vec<&str> = self
            .plugins
            .iter()
            .filter(|p| p.outcome == Outcome::Busy)
            .map(|p| p.name.as_str())
            .collect();
        (!busy.is_empty()).then(|| busy.join(", "))
    }

    /// The report as JSON of at most `max_bytes`: past it, findings are
    /// dropped from the end and one marker finding (as severe as the worst
    /// dropped, so the verdict still reads true) says how many.
    pub fn to_bounded_json(&self, max_bytes: usize) -> String {
        let whole = serde_json::to_string(self).expect("reports serialise");
        if whole.len() <= max_bytes {
            return whole;
        }
        let mut cut = self.clone();
        cut.findings.clear();
        // Room for the marker and the separators.
        let mut room = max_bytes.saturating_sub(
            serde_json::to_string(&cut)
                .expect("reports serialise")
                .len()
                + 512,
        );
        for f in &self.findings {
            let len = serde_json::to_string(f).expect("findings serialise").len() + 1;
            if len > room {
                break;
            }
            room -= len;
            cut.findings.push(f.clone());
        }
        let dropped = &self.findings[cut.findings.len()..];
        cut.findings.push(ReportFinding {
            plugin: "assay".into(),
            severity: dropped
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Info),
            code: REPORT_TRUNCATED.into(),
            message: format!(
                "{} finding(s) were dropped to keep the stored report within storage.max_report_bytes ({max_bytes})",
                dropped.len()
            ),
            path: None,
        });
        serde_json::to_string(&cut).expect("reports serialise")
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
            queue_us: 0,
            error: None,
        }
    }

    #[test]
    fn a_stored_report_stays_within_its_cap_and_keeps_its_worst_severity() {
        let mut findings = vec![finding(Severity::Info); 5000];
        findings.push(finding(Severity::Critical));
        let report = Report {
            subject: "s".into(),
            digest: "d".into(),
            level: Level::Full,
            verdict: Verdict::Fail,
            findings,
            plugins: vec![run(Outcome::Ok)],
            cached: false,
            duration_us: 1,
        };
        let json = report.to_bounded_json(16 << 10);
        assert!(json.len() <= 16 << 10, "{}", json.len());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let last = v["findings"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["code"], REPORT_TRUNCATED);
        assert_eq!(last["severity"], "critical");
        assert_eq!(
            report.to_bounded_json(1 << 30).len(),
            serde_json::to_string(&report).unwrap().len()
        );
    }

    #[test]
    fn findings_outrank_plugin_errors() {
        for (worst, outcome, want) in [
            (Severity::Critical, Outcome::Error, Verdict::Fail),
            (Severity::Warning, Outcome::Timeout, Verdict::Warn),
            (Severity::Info, Outcome::Timeout, Verdict::Error),
            (Severity::Info, Outcome::NotApplicable, Verdict::Pass),
        ] {
            let got = verdict(&[finding(worst)], &[run(outcome)]);
            assert_eq!(got, want, "{worst:?} and {outcome:?}");
        }
        assert_eq!(verdict(&[], &[]), Verdict::Pass);
    }
}
