//! The routing-test file: reading it, and checking each case before any runs
//! (a bad case is an input error, exit 2, never a failed test).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use assay_contract::Severity;
use serde::{Deserialize, Serialize};

use crate::alerts::matchers::Matcher;
use crate::alerts::model::{Alert, is_label_name};
use crate::alerts::silences::Silence;
use crate::clock::{now_ms, parse_rfc3339};

/// The routing-test file, checked.
#[derive(Debug, Clone)]
pub struct Cases {
    pub path: PathBuf,
    pub cases: Vec<Case>,
}

/// One case: alerts raised together at one time, with the silences in force.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// Unix ms: the routers' wall clock and the engine's now.
    pub at_ms: i64,
    pub alerts: Vec<(Alert, Expect)>,
    pub silences: Vec<Silence>,
}

/// What an alert should come to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Notified to exactly these channels (none: routed nowhere).
    Delivered(BTreeSet<String>),
    Silenced,
    Inhibited,
    /// A router suppressed it.
    Suppressed,
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Delivered(c) if c.is_empty() => f.write_str("no channel"),
            Expect::Delivered(c) => f.write_str(&c.iter().cloned().collect::<Vec<_>>().join(", ")),
            Expect::Silenced => f.write_str("silenced"),
            Expect::Inhibited => f.write_str("inhibited"),
            Expect::Suppressed => f.write_str("suppressed"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("cannot read the routing tests {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("routing tests {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    at: Option<String>,
    #[serde(default, rename = "case")]
    cases: Vec<CaseText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseText {
    name: String,
    at: Option<String>,
    #[serde(default, rename = "alert")]
    alerts: Vec<AlertText>,
    #[serde(default, rename = "silence")]
    silences: Vec<SilenceText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertText {
    name: String,
    #[serde(default = "warning")]
    severity: Severity,
    summary: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    expect: ExpectText,
}

fn warning() -> Severity {
    Severity::Warning
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExpectText {
    Channels(Vec<String>),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceText {
    /// Alertmanager's matcher syntax; all must match.
    matchers: Vec<String>,
    #[serde(default)]
    comment: String,
    /// RFC 3339; default: in force for the whole case.
    starts_at: Option<String>,
    ends_at: Option<String>,
}

impl Cases {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Cases, CasesError> {
        let text = std::fs::read_to_string(path).map_err(|error| CasesError::Read {
            path: path.to_owned(),
            error,
        })?;
        Cases::parse(path, &text)
    }

    /// Checks `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Cases, CasesError> {
        let invalid = |message: String| CasesError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: FileText = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if file.cases.is_empty() {
            return Err(invalid(
                "no [[case]]: give at least one (see `assay alert route-test --help`)".into(),
            ));
        }
        let now = now_ms();
        let default_at = match &file.at {
            Some(t) => time("at", t).map_err(invalid)?,
            None => now,
        };
        let mut names = BTreeSet::new();
        let mut cases = Vec::with_capacity(file.cases.len());
        for (i, c) in file.cases.into_iter().enumerate() {
            let label = format!("case {} ({:?})", i + 1, c.name);
            let in_case = |m: String| invalid(format!("{label}: {m}"));
            if c.name.trim().is_empty() {
                return Err(in_case("give it a name".into()));
            }
            if !names.insert(c.name.clone()) {
                return Err(in_case("another case has this name".into()));
            }
            let case = Case::check(c, default_at).map_err(in_case)?;
            cases.push(case);
        }
        Ok(Cases {
            path: path.to_owned(),
            cases,
        })
    }

    /// Reads `path` and checks it against `config`: what `serve`, `config
    /// check`, `route-test` and the gate all need.
    pub fn load_for(path: &Path, config: &crate::config::HostConfig) -> Result<Cases, CasesError> {
        let cases = Cases::load(path)?;
        cases.check_channels(config.channels.iter().map(|c| c.name.as_str()))?;
        Ok(cases)
    }

    /// Checks that every channel an expectation names is configured: a typo
    /// there would fail forever, and say nothing useful.
    pub fn check_channels<'a>(
        &self,
        channels: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), CasesError> {
        let known: BTreeSet<&str> = channels.into_iter().collect();
        for c in &self.cases {
            for (alert, expect) in &c.alerts {
                let Expect::Delivered(names) = expect else {
                    continue;
                };
                if let Some(bad) = names.iter().find(|n| !known.contains(n.as_str())) {
                    return Err(CasesError::Invalid {
                        path: self.path.clone(),
                        message: format!(
                            "case {:?}, alert {}: expects channel {bad:?}, which is not a [[channel]] of the config (configured: {})",
                            c.name,
                            alert.name,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.into_iter().collect::<Vec<_>>().join(", ")
                            }
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Case {
    fn check(c: CaseText, default_at: i64) -> Result<Case, String> {
        let at_ms = match &c.at {
            Some(t) => time("at", t)?,
            None => default_at,
        };
        if c.alerts.is_empty() {
            return Err("no [[case.alert]]: give the alert(s) it raises".into());
        }
        let mut alerts: Vec<(Alert, Expect)> = Vec::with_capacity(c.alerts.len());
        for (j, a) in c.alerts.into_iter().enumerate() {
            let (alert, expect) = a
                .check(at_ms)
                .map_err(|m| format!("alert {}: {m}", j + 1))?;
            if let Some((same, _)) = alerts
                .iter()
                .find(|(o, _)| o.fingerprint == alert.fingerprint)
            {
                return Err(format!(
                    "alert {}: {} has the same labels as an earlier alert ({}): they would be one alert",
                    j + 1,
                    alert.name,
                    same.name
                ));
            }
            alerts.push((alert, expect));
        }
        let silences = (c.silences.into_iter().enumerate())
            .map(|(j, s)| {
                s.check(j, at_ms)
                    .map_err(|m| format!("silence {}: {m}", j + 1))
            })
            .collect::<Result<_, _>>()?;
        Ok(Case {
            name: c.name,
            at_ms,
            alerts,
            silences,
        })
    }
}

impl AlertText {
    fn check(self, at_ms: i64) -> Result<(Alert, Expect), String> {
        if !is_label_name(&self.name) {
            return Err(format!(
                "name {:?} is not a valid alert name ([a-zA-Z_][a-zA-Z0-9_]*)",
                self.name
            ));
        }
        for k in self.labels.keys() {
            if !is_label_name(k) {
                return Err(format!(
                    "label {k:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                ));
            }
            if k == "alertname" || k == "severity" {
                return Err(format!(
                    "label {k:?} comes from the alert's `name`/`severity`; do not give it"
                ));
            }
        }
        let expect = match self.expect {
            ExpectText::Channels(c) => {
                let set: BTreeSet<String> = c.iter().cloned().collect();
                if set.len() != c.len() {
                    return Err("expect names a channel twice".into());
                }
                Expect::Delivered(set)
            }
            ExpectText::Word(w) => match w.as_str() {
                "silenced" => Expect::Silenced,
                "inhibited" => Expect::Inhibited,
                "suppressed" => Expect::Suppressed,
                other => {
                    return Err(format!(
                        "expect {other:?}: give a list of channels, or one of \"silenced\", \"inhibited\", \"suppressed\""
                    ));
                }
            },
        };
        let summary = self.summary.unwrap_or_else(|| self.name.clone());
        let mut alert = Alert::firing(
            &self.name,
            self.severity,
            "route-test",
            self.labels,
            summary,
        );
        alert.annotations = self.annotations;
        alert.starts_ms = at_ms;
        Ok((alert, expect))
    }
}

impl SilenceText {
    fn check(self, j: usize, at_ms: i64) -> Result<Silence, String> {
        if self.matchers.is_empty() {
            return Err("matchers: give at least one".into());
        }
        let matchers = Matcher::parse_all(&self.matchers).map_err(|e| format!("matchers: {e}"))?;
        let starts_ms = match &self.starts_at {
            Some(t) => time("starts_at", t)?,
            None => i64::MIN,
        };
        let ends_ms = match &self.ends_at {
            Some(t) => time("ends_at", t)?,
            None => i64::MAX,
        };
        if ends_ms <= starts_ms {
            return Err("ends_at must come after starts_at".into());
        }
        Ok(Silence {
            id: format!("case-silence-{}", j + 1),
            matchers,
            created_by: "route-test".into(),
            comment: self.comment,
            created_ms: at_ms,
            starts_ms,
            ends_ms,
        })
    }
}

fn time(key: &str, text: &str) -> Result<i64, String> {
    parse_rfc3339(text).ok_or_else(|| {
        format!("{key}: {text:?} is not an RFC 3339 time (e.g. 2026-11-23T09:30:00+01:00)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Cases, String> {
        Cases::parse(Path::new("routes.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_case_reads_alerts_times_silences_and_expectations() {
        let c = parse(
            r#"
            at = "2026-11-23T15:00:00Z"
            [[case]]
            name = "one"
            [[case.alert]]
            name = "DiskFull"
            severity = "critical"
            labels = { service = "db" }
            expect = ["pager", "chat"]
            [[case.alert]]
            name = "DiskSlow"
            expect = "inhibited"
            [[case.silence]]
            matchers = ['service="db"']
            [[case]]
            name = "two"
            at = "2026-11-23T16:00:00+01:00"
            [[case.alert]]
            name = "X"
            expect = []
            "#,
        )
        .unwrap();
        let [one, two] = &c.cases[..] else { panic!() };
        assert_eq!(one.at_ms, two.at_ms);
        assert_eq!(one.alerts[0].0.starts_ms, one.at_ms);
        assert_eq!(one.alerts[0].0.labels["severity"], "critical");
        assert_eq!(one.alerts[1].0.severity, Severity::Warning);
        assert_eq!(
            one.alerts[0].1,
            Expect::Delivered(["chat".into(), "pager".into()].into())
        );
        assert_eq!(one.alerts[1].1, Expect::Inhibited);
        assert!(one.silences[0].is_active(one.at_ms));
        assert_eq!(two.alerts[0].1, Expect::Delivered(BTreeSet::new()));
    }

    #[test]
    fn bad_cases_are_named() {
        let one_alert = |extra: &str| {
            format!("[[case]]\nname = \"c\"\n[[case.alert]]\nname = \"A\"\n{extra}\n")
        };
        for (text, needle) in [
            ("", "no [[case]]"),
            (&one_alert("expect = \"muted\""), "expect \"muted\""),
            (&one_alert("expect = []\nseverity = \"bad\""), "severity"),
            (
                &one_alert("expect = []\nlabels = { alertname = \"x\" }"),
                "alertname",
            ),
            (&one_alert(""), "expect"),
            (
                "[[case]]\nname = \"c\"\nat = \"noon\"\n[[case.alert]]\nname = \"A\"\nexpect = []",
                "case 1 (\"c\"): at: \"noon\" is not an RFC 3339 time",
            ),
            (
                &format!(
                    "{}[[case.alert]]\nname = \"A\"\nexpect = []",
                    one_alert("expect = []")
                ),
                "same labels",
            ),
            (
                &one_alert("expect = []\n[[case.silence]]\nmatchers = ['a=~\"(']"),
                "silence 1: matchers",
            ),
            (&one_alert("expect = []\nfoo = 1"), "unknown field `foo`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{needle:?} not in {e}");
        }
    }

    #[test]
    fn an_expected_channel_must_exist() {
        let c = parse("[[case]]\nname = \"c\"\n[[case.alert]]\nname = \"A\"\nexpect = [\"pagr\"]")
            .unwrap();
        let e = c.check_channels(["pager", "chat"]).unwrap_err().to_string();
        assert!(e.contains("\"pagr\"") && e.contains("chat, pager"), "{e}");
        assert!(c.check_channels(["pagr"]).is_ok());
    }
}
