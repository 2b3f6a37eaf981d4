//! What a run of routing tests found: per case and alert, what was expected
//! and what happened, as a diff for people or JSON for machines.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::cases::Expect;
use crate::clock::rfc3339;

/// What happened to one alert of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Got {
    /// Notified to these channels, as these routers decided.
    Delivered {
        channels: BTreeSet<String>,
        routers: BTreeSet<String>,
    },
    /// Muted by these silences (comment, or matchers).
    Silenced { by: Vec<String> },
    /// Muted by these firing alerts of the case.
    Inhibited { by: Vec<String> },
    /// A router suppressed it, saying why.
    Suppressed { why: String },
}

impl Got {
    fn matches(&self, want: &Expect) -> bool {
        match (self, want) {
            (Got::Delivered { channels, .. }, Expect::Delivered(want)) => channels == want,
            (Got::Silenced { .. }, Expect::Silenced)
            | (Got::Inhibited { .. }, Expect::Inhibited)
            | (Got::Suppressed { .. }, Expect::Suppressed) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |s: &mut dyn Iterator<Item = &String>| s.cloned().collect::<Vec<_>>().join(", ");
        match self {
            Got::Delivered { channels, .. } if channels.is_empty() => f.write_str("no channel"),
            Got::Delivered { channels, routers } => write!(
                f,
                "{} (routed by {})",
                list(&mut channels.iter()),
                list(&mut routers.iter())
            ),
            Got::Silenced { by } => write!(f, "silenced by {}", list(&mut by.iter())),
            Got::Inhibited { by } => write!(f, "inhibited by {}", list(&mut by.iter())),
            Got::Suppressed { why } => write!(f, "suppressed: {why}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertResult {
    pub alert: String,
    pub labels: BTreeMap<String, String>,
    pub expected: Expect,
    pub got: Got,
    /// How the router chain decided, router by router.
    pub routing: String,
    pub passed: bool,
}

impl AlertResult {
    pub fn new(
        alert: String,
        labels: BTreeMap<String, String>,
        expected: Expect,
        got: Got,
        routing: String,
    ) -> AlertResult {
        AlertResult {
            passed: got.matches(&expected),
            alert,
            labels,
            expected,
            got,
            routing,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub at: String,
    pub passed: bool,
    pub alerts: Vec<AlertResult>,
}

impl CaseResult {
    pub fn new(name: String, at_ms: i64, alerts: Vec<AlertResult>) -> CaseResult {
        CaseResult {
            name,
            at: rfc3339(at_ms),
            passed: alerts.iter().all(|a| a.passed),
            alerts,
        }
    }
}

/// Every case's result, in file order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: String,
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub fn new(file: String, cases: Vec<CaseResult>) -> Report {
        let passed = cases.iter().filter(|c| c.passed).count();
        Report {
            file,
            failed: cases.len() - passed,
            passed,
            cases,
        }
    }

    pub fn ok(&self) -> bool {
        self.failed == 0
    }

    /// One line: how many failed, and which (for logs, events and alerts).
    pub fn summary(&self) -> String {
        if self.ok() {
            return format!("{} routing test case(s) passed", self.passed);
        }
        let failed: Vec<&str> = (self.cases.iter())
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        format!(
            "{} of {} routing test case(s) failed: {}",
            self.failed,
            self.cases.len(),
            failed.join("; ")
        )
    }

    /// The diff: a line per case, and for each alert that went otherwise
    /// than expected, `-` what was expected and `+` what happened.
    pub fn diff(&self, verbose: bool) -> String {
        let mut out = String::new();
        for c in &self.cases {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "{mark}  {}", c.name);
            for a in c.alerts.iter().filter(|a| verbose || !a.passed) {
                let _ = writeln!(
                    out,
                    "      {}{} at {}",
                    a.alert,
                    crate::alerts::Alert::label_text(&a.labels),
                    c.at
                );
                if a.passed {
                    let _ = writeln!(out, "        {}", a.got);
                } else {
                    let _ = writeln!(out, "      - {}", a.expected);
                    let _ = writeln!(out, "      + {}", a.got);
                    if !a.routing.is_empty() {
                        let _ = writeln!(out, "        routing: {}", a.routing);
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "{}: {} passed, {} failed",
            self.file, self.passed, self.failed
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(c: &[&str]) -> Got {
        Got::Delivered {
            channels: c.iter().map(|s| s.to_string()).collect(),
            routers: ["severity-routes".to_owned()].into(),
        }
    }

    #[test]
    fn the_diff_shows_expected_and_got_for_failures_only() {
        let want = |c: &[&str]| Expect::Delivered(c.iter().map(|s| s.to_string()).collect());
        let labels = BTreeMap::from([("service".to_owned(), "db".to_owned())]);
        let r = Report::new(
            "routes.toml".into(),
            vec![
                CaseResult::new(
                    "good".into(),
                    0,
                    vec![AlertResult::new(
                        "A".into(),
                        labels.clone(),
                        want(&["chat"]),
                        delivered(&["chat"]),
                        String::new(),
                    )],
                ),
                CaseResult::new(
                    "bad".into(),
                    0,
                    vec![
                        AlertResult::new(
                            "B".into(),
                            labels.clone(),
                            want(&["pager"]),
                            delivered(&["chat"]),
                            "r: deliver to chat; ends the chain".into(),
                        ),
                        AlertResult::new(
                            "C".into(),
                            labels,
                            Expect::Silenced,
                            Got::Suppressed {
                                why: "r: info".into(),
                            },
                            "r: suppressed: info".into(),
                        ),
                    ],
                ),
            ],
        );
        assert!(!r.ok());
        assert_eq!(r.summary(), "1 of 2 routing test case(s) failed: bad");
        let d = r.diff(false);
        assert!(d.contains("ok    good\nFAIL  bad\n"), "{d}");
        assert!(
            d.contains("      - pager\n      + chat (routed by severity-routes)\n        routing: r: deliver to chat; ends the chain\n"),
            "{d}"
        );
        assert!(
            d.contains("      - silenced\n      + suppressed: r: info\n"),
            "{d}"
        );
        assert!(!d.contains("A{"), "passing alerts are not shown: {d}");
        assert!(d.ends_with("routes.toml: 1 passed, 1 failed\n"), "{d}");
    }
}
