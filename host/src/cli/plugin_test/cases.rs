//! The cases file of `assay plugin test`: read, and checked against the
//! plugin's kind before anything runs (a bad case is bad input, exit 2,
//! never a failed test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assay_contract::{Level, Severity};
use serde::Deserialize;

use crate::alerts::model::{Alert, is_label_name};
use crate::clock::{now_ms, parse_rfc3339};
use crate::registry::PluginKind;

/// A checked cases file.
#[derive(Debug)]
pub(crate) struct Cases {
    pub(crate) cases: Vec<Case>,
}

#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) name: String,
    /// The plugin's configuration, as TOML (placeholders not yet filled).
    pub(crate) config: toml::Table,
    pub(crate) input: Input,
    pub(crate) expect: Expect,
}

/// What a case hands the plugin.
#[derive(Debug)]
pub(crate) enum Input {
    Subject {
        name: String,
        content_type: String,
        data: Vec<u8>,
        level: Level,
    },
    Alert {
        alert: Box<Alert>,
        at_ms: i64,
    },
    Probe {
        fixture: Option<Fixture>,
    },
}

/// What the runner serves a probe, and grants it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum Fixture {
    Http {
        #[serde(default = "ok_status")]
        status: u16,
        #[serde(default)]
        body: String,
        #[serde(default)]
        delay_ms: u64,
        #[serde(default = "text_plain")]
        content_type: String,
    },
    Tcp {
        #[serde(default)]
        banner: String,
    },
    File {
        #[serde(default)]
        content: String,
    },
}

fn ok_status() -> u16 {
    200
}

fn text_plain() -> String {
    "text/plain".into()
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expect {
    /// Exactly these findings (each field given must match).
    Findings(Vec<FindingExpect>),
    NotApplicable,
    /// Exactly these channels.
    Deliver(Vec<String>),
    /// Suppressed, with this in the reason when given.
    Suppress(Option<String>),
    Probe {
        status: String,
        message: Option<String>,
        observations: BTreeMap<String, f64>,
    },
    /// The call fails, with this in its message.
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindingExpect {
    pub(crate) code: String,
    pub(crate) severity: Option<Severity>,
    pub(crate) path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default)]
    config: toml::Table,
    #[serde(default, rename = "case")]
    cases: Vec<CaseText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseText {
    name: String,
    config: Option<toml::Table>,
    // Validators.
    text: Option<String>,
    file: Option<PathBuf>,
    subject_name: Option<String>,
    content_type: Option<String>,
    level: Option<Level>,
    findings: Option<Vec<FindingExpect>>,
    not_applicable: Option<bool>,
    // Routers.
    alert: Option<AlertText>,
    at: Option<String>,
    deliver: Option<Vec<String>>,
    suppress: Option<SuppressText>,
    // Probes.
    fixture: Option<Fixture>,
    status: Option<String>,
    message: Option<String>,
    observations: Option<BTreeMap<String, f64>>,
    // Any kind.
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertText {
    name: String,
    #[serde(default = "warning")]
    severity: Severity,
    #[serde(default)]
    status: Status,
    summary: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Status {
    #[default]
    Firing,
    Resolved,
}

fn warning() -> Severity {
    Severity::Warning
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SuppressText {
    Flag(bool),
    Reason(String),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CasesError {
    #[error("cannot read the cases {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cases {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Cases {
    /// Reads `path` and checks every case against `kind`.
    pub(crate) fn load(path: &Path, kind: PluginKind) -> Result<Cases, CasesError> {
        let text = std::fs::read_to_string(path).map_err(|error| CasesError::Read {
            path: path.to_owned(),
            error,
        })?;
        let invalid = |message: String| CasesError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: FileText = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if file.cases.is_empty() {
            return Err(invalid("no [[case]]: give at least one".into()));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut names = std::collections::BTreeSet::new();
        let mut cases = Vec::with_capacity(file.cases.len());
        for (i, c) in file.cases.into_iter().enumerate() {
            let label = format!("case {} ({:?})", i + 1, c.name);
            if c.name.trim().is_empty() {
                return Err(invalid(format!("case {}: give it a name", i + 1)));
            }
            if !names.insert(c.name.clone()) {
                return Err(invalid(format!("{label}: another case has this name")));
            }
            let case = c
                .check(kind, &file.config, base)
                .map_err(|m| invalid(format!("{label}: {m}")))?;
            cases.push(case);
        }
        Ok(Cases { cases })
    }
}

impl CaseText {
    fn check(self, kind: PluginKind, config: &toml::Table, base: &Path) -> Result<Case, String> {
        // Fields of another kind are a mistake worth naming: each field, and
        // the kind whose cases it belongs to (`config`, `error` are anyone's).
        use PluginKind::{Probe, Router, Validator};
        let fields = [
            ("text", self.text.is_some(), Validator),
            ("file", self.file.is_some(), Validator),
            ("subject_name", self.subject_name.is_some(), Validator),
            ("content_type", self.content_type.is_some(), Validator),
            ("level", self.level.is_some(), Validator),
            ("findings", self.findings.is_some(), Validator),
            ("not_applicable", self.not_applicable.is_some(), Validator),
            ("alert", self.alert.is_some(), Router),
            ("at", self.at.is_some(), Router),
            ("deliver", self.deliver.is_some(), Router),
            ("suppress", self.suppress.is_some(), Router),
            ("fixture", self.fixture.is_some(), Probe),
            ("status", self.status.is_some(), Probe),
            ("message", self.message.is_some(), Probe),
            ("observations", self.observations.is_some(), Probe),
        ];
        let foreign: Vec<(&str, bool)> = fields
            .iter()
            .filter(|(_, _, owner)| *owner != kind)
            .map(|(f, given, _)| (*f, *given))
            .collect();
        if let Some((field, _)) = foreign.iter().find(|(_, given)| *given) {
            return Err(format!("`{field}` is not for a {kind}'s cases"));
        }
        let config = self.config.clone().unwrap_or_else(|| config.clone());
        let (input, expect) = match kind {
            PluginKind::Validator => self.validator(base)?,
            PluginKind::Router => self.router()?,
            PluginKind::Probe => self.probe()?,
        };
        Ok(Case {
            name: self.name,
            config,
            input,
            expect,
        })
    }

    fn one_expectation(given: &[(&str, bool)]) -> Result<(), String> {
        let named: Vec<&str> = given.iter().filter(|(_, g)| *g).map(|(n, _)| *n).collect();
        match named.as_slice() {
            [_] => Ok(()),
            [] => Err(format!(
                "say what to expect: one of {}",
                given
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            many => Err(format!(
                "expects several things ({}): give one",
                many.join(", ")
            )),
        }
    }

    fn validator(&self, base: &Path) -> Result<(Input, Expect), String> {
        Self::one_expectation(&[
            ("findings", self.findings.is_some()),
            ("not_applicable", self.not_applicable == Some(true)),
            ("error", self.error.is_some()),
        ])?;
        let (data, default_name) = match (&self.text, &self.file) {
            (Some(t), None) => (t.clone().into_bytes(), "case.txt".to_owned()),
            (None, Some(f)) => {
                let path = base.join(f);
                let data =
                    std::fs::read(&path).map_err(|e| format!("file {}: {e}", path.display()))?;
                (data, f.display().to_string())
            }
            (Some(_), Some(_)) => return Err("give `text` or `file`, not both".into()),
            (None, None) => return Err("give the subject: `text` or `file`".into()),
        };
        let name = self.subject_name.clone().unwrap_or(default_name);
        let content_type = self
            .content_type
            .clone()
            .unwrap_or_else(|| crate::validate::content_type_for(&name).to_owned());
        let expect = if let Some(f) = &self.findings {
            Expect::Findings(f.clone())
        } else if let Some(e) = &self.error {
            Expect::Error(e.clone())
        } else {
            Expect::NotApplicable
        };
        Ok((
            Input::Subject {
                name,
                content_type,
                data,
                level: self.level.unwrap_or(Level::Standard),
            },
            expect,
        ))
    }

    fn router(&self) -> Result<(Input, Expect), String> {
        let Some(a) = &self.alert else {
            return Err("give the `alert` (name, severity, labels...)".into());
        };
        Self::one_expectation(&[
            ("deliver", self.deliver.is_some()),
            (
                "suppress",
                !matches!(self.suppress, None | Some(SuppressText::Flag(false))),
            ),
            ("error", self.error.is_some()),
        ])?;
        if !is_label_name(&a.name) {
            return Err(format!(
                "alert name {:?} is not a valid alert name ([a-zA-Z_][a-zA-Z0-9_]*)",
                a.name
            ));
        }
        if let Some(k) = a.labels.keys().find(|k| !is_label_name(k)) {
            return Err(format!("label {k:?} is not a valid label name"));
        }
        let at_ms = match &self.at {
            Some(t) => parse_rfc3339(t).ok_or_else(|| {
                format!("at = {t:?} is not an RFC 3339 time (e.g. 2026-11-23T10:00:00+01:00)")
            })?,
            None => now_ms(),
        };
        let mut alert = Alert::firing(
            &a.name,
            a.severity,
            "plugin-test",
            a.labels.clone(),
            a.summary.clone().unwrap_or_else(|| a.name.clone()),
        );
        alert.annotations = a.annotations.clone();
        alert.starts_ms = at_ms;
        if a.status == Status::Resolved {
            alert.ends_ms = Some(at_ms);
        }
        let expect = if let Some(d) = &self.deliver {
            Expect::Deliver(d.clone())
        } else if let Some(e) = &self.error {
            Expect::Error(e.clone())
        } else {
            Expect::Suppress(match &self.suppress {
                Some(SuppressText::Reason(r)) => Some(r.clone()),
                _ => None,
            })
        };
        Ok((
            Input::Alert {
                alert: Box::new(alert),
                at_ms,
            },
            expect,
        ))
    }

    fn probe(&self) -> Result<(Input, Expect), String> {
        Self::one_expectation(&[
            ("status", self.status.is_some()),
            ("error", self.error.is_some()),
        ])?;
        let expect = match (&self.status, &self.error) {
            (Some(s), _) => {
                if !matches!(s.as_str(), "pass" | "warn" | "fail") {
                    return Err(format!(
                        "status = {s:?}: expected \"pass\", \"warn\" or \"fail\""
                    ));
                }
                Expect::Probe {
                    status: s.clone(),
                    message: self.message.clone(),
                    observations: self.observations.clone().unwrap_or_default(),
                }
            }
            (None, Some(e)) => {
                if self.message.is_some() || self.observations.is_some() {
                    return Err("`message` and `observations` go with `status`, not `error`".into());
                }
                Expect::Error(e.clone())
            }
            (None, None) => unreachable!("one expectation was checked"),
        };
        Ok((
            Input::Probe {
                fixture: self.fixture.clone(),
            },
            expect,
        ))
    }
}
