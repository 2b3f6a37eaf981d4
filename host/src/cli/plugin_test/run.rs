//! Running one case against the plugin, and comparing what it answered with
//! what the case expects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cases::{Case, Expect, FindingExpect, Input};
use super::fixtures;
use crate::config::ProbeSection;
use crate::probes::{ResultStatus, run_once};
use crate::registry::Plugin;
use crate::runtime::bindings::{RoutingDecision, Subject, Validation};
use crate::runtime::{CallFailure, Runtime};

/// What the plugin answered, in the terms of the cases file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Answer {
    Findings(Vec<Found>),
    NotApplicable(String),
    Deliver(Vec<String>),
    Suppress(String),
    Probe {
        status: String,
        message: String,
        observations: BTreeMap<String, f64>,
    },
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Found {
    pub(crate) code: String,
    pub(crate) severity: String,
    pub(crate) path: Option<String>,
    pub(crate) message: String,
}

/// One case's result.
#[derive(Debug, Serialize)]
pub(crate) struct CaseResult {
    pub(crate) name: String,
    pub(crate) passed: bool,
    /// What was wrong, as diff lines (`- expected`, `+ got`) and notes.
    pub(crate) diff: Vec<String>,
    pub(crate) answer: Answer,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub(crate) duration: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn json_config(config: &toml::Table) -> String {
    serde_json::to_string(config).expect("a TOML table is JSON")
}

fn failure(e: CallFailure) -> Answer {
    Answer::Error(match e {
        CallFailure::Guest(m) => m,
        other => other.to_string(),
    })
}

/// Runs `case` against `plugin` and judges the answer.
pub(crate) async fn run(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    case: &Case,
) -> anyhow::Result<CaseResult> {
    let started = Instant::now();
    let answer = match &case.input {
        Input::Subject {
            name,
            content_type,
            data,
            level,
        } => {
            let config = json_config(&case.config);
            match prepare(runtime, plugin, &config).await {
                Some(refused) => refused,
                None => {
                    let callee = plugin.validator().expect("checked: a validator");
                    let subject = Subject {
                        name: name.clone(),
                        content_type: content_type.clone(),
                        data: data.clone(),
                    };
                    let called = runtime
                        .call_validate(callee, &subject, (*level).into(), &config)
                        .await;
                    match called.outcome {
                        Ok(Validation::Findings(found)) => Answer::Findings(
                            found
                                .into_iter()
                                .map(|f| Found {
                                    code: f.code,
                                    severity: severity(f.severity).to_owned(),
                                    path: f.path,
                                    message: f.message,
                                })
                                .collect(),
                        ),
                        Ok(Validation::NotApplicable(why)) => Answer::NotApplicable(why),
                        Err(e) => failure(e),
                    }
                }
            }
        }
        Input::Alert { alert, at_ms } => {
            let config = json_config(&case.config);
            match prepare(runtime, plugin, &config).await {
                Some(refused) => refused,
                None => {
                    let callee = plugin.router(&config).expect("checked: a router");
                    let called = runtime
                        .call_route(callee, &alert.to_wit(), &config, Some(*at_ms))
                        .await;
                    match called.outcome {
                        Ok(RoutingDecision::Deliver(d)) => {
                            Answer::Deliver(d.to.into_iter().map(|d| d.channel).collect())
                        }
                        Ok(RoutingDecision::Suppress(why)) => Answer::Suppress(why),
                        Err(e) => failure(e),
                    }
                }
            }
        }
        Input::Probe { fixture } => {
            let running = fixtures::start(fixture.as_ref()).await?;
            let mut config = toml::Value::Table(case.config.clone());
            fixtures::fill(&mut config, &running.vars);
            let config = serde_json::to_string(&config)?;
            let section = ProbeSection {
                allow_http: running.allow_http.clone(),
                allow_tcp: running.allow_tcp.clone(),
                allow_read: running.allow_read.clone(),
                memory_limit_mib: Some(plugin.settings.limits.memory as u64 >> 20),
                ..ProbeSection::ad_hoc(&plugin.name, config)
            };
            let spec = section
                .resolve(
                    None,
                    "the case",
                    (runtime.options().max_memory >> 20) as u64,
                )
                .map_err(anyhow::Error::msg)?;
            let r = run_once(runtime, Some(plugin), &spec, "test").await;
            match r.status {
                ResultStatus::Unknown => Answer::Error(
                    r.message
                        .strip_prefix("the probe could not run: ")
                        .unwrap_or(&r.message)
                        .to_owned(),
                ),
                status => Answer::Probe {
                    status: match status {
                        ResultStatus::Pass => "pass",
                        ResultStatus::Warn => "warn",
                        _ => "fail",
                    }
                    .to_owned(),
                    message: r.message,
                    observations: r
                        .observations
                        .into_iter()
                        .map(|o| (o.name, o.value))
                        .collect(),
                },
            }
        }
    };
    let diff = judge(&case.expect, &answer);
    Ok(CaseResult {
        name: case.name.clone(),
        passed: diff.is_empty(),
        diff,
        answer,
        duration: started.elapsed(),
    })
}

/// A preparing plugin's `prepare` with the case's config: its refusal is
/// the case's answer (what the host would say at load).
async fn prepare(runtime: &Arc<Runtime>, plugin: &Plugin, config: &str) -> Option<Answer> {
    if !plugin.prepares {
        return None;
    }
    runtime
        .call_prepare(&plugin.name, &plugin.linked, plugin.settings.limits, config)
        .await
        .err()
        .map(failure)
}

fn severity(s: crate::runtime::bindings::Severity) -> &'static str {
    use crate::runtime::bindings::Severity as S;
    match s {
        S::Info => "info",
        S::Warning => "warning",
        S::Error => "error",
        S::Critical => "critical",
    }
}

fn show_expected(f: &FindingExpect) -> String {
    let mut s = f.code.clone();
    if let Some(sev) = f.severity {
        s.push_str(&format!(" {sev}"));
    }
    if let Some(p) = &f.path {
        s.push_str(&format!(" at {p:?}"));
    }
    s
}

fn show_found(f: &Found) -> String {
    let mut s = format!("{} {}", f.code, f.severity);
    if let Some(p) = &f.path {
        s.push_str(&format!(" at {p:?}"));
    }
    format!("{s}: {}", f.message)
}

fn matches(e: &FindingExpect, f: &Found) -> bool {
    e.code == f.code
        && e.severity.is_none_or(|s| s.as_str() == f.severity)
        && e.path.as_ref().is_none_or(|p| f.path.as_ref() == Some(p))
}

/// What the answer got wrong, as diff lines; empty when it is what was expected.
pub(crate) fn judge(expect: &Expect, answer: &Answer) -> Vec<String> {
    let summary = |a: &Answer| match a {
        Answer::Findings(f) if f.is_empty() => "no findings".to_owned(),
        Answer::Findings(f) => f.iter().map(show_found).collect::<Vec<_>>().join("; "),
        Answer::NotApplicable(why) => format!("not applicable: {why}"),
        Answer::Deliver(c) if c.is_empty() => "delivered to no channel".to_owned(),
        Answer::Deliver(c) => format!("deliver to {}", c.join(", ")),
        Answer::Suppress(why) => format!("suppressed: {why}"),
        Answer::Probe {
            status, message, ..
        } => format!("{status}: {message}"),
        Answer::Error(e) => format!("error: {e}"),
    };
    let mismatch =
        |expected: String| vec![format!("- {expected}"), format!("+ {}", summary(answer))];
    match (expect, answer) {
        (Expect::Findings(expected), Answer::Findings(found)) => {
            let mut unmatched: Vec<&Found> = found.iter().collect();
            let mut diff = Vec::new();
            for e in expected {
                match unmatched.iter().position(|f| matches(e, f)) {
                    Some(i) => {
                        unmatched.remove(i);
                    }
                    None => diff.push(format!("- {}", show_expected(e))),
                }
            }
            diff.extend(
                unmatched
                    .into_iter()
                    .map(|f| format!("+ {}", show_found(f))),
            );
            diff
        }
        (Expect::Findings(e), _) if e.is_empty() => mismatch("no findings".into()),
        (Expect::Findings(e), _) => {
            mismatch(e.iter().map(show_expected).collect::<Vec<_>>().join("; "))
        }
        (Expect::NotApplicable, Answer::NotApplicable(_)) => Vec::new(),
        (Expect::NotApplicable, _) => mismatch("not applicable".into()),
        (Expect::Deliver(expected), Answer::Deliver(got)) => {
            let (mut e, mut g) = (expected.clone(), got.clone());
            e.sort();
            g.sort();
            if e == g {
                Vec::new()
            } else {
                mismatch(format!("deliver to {}", expected.join(", ")))
            }
        }
        (Expect::Deliver(expected), _) => mismatch(format!("deliver to {}", expected.join(", "))),
        (Expect::Suppress(reason), Answer::Suppress(why)) => match reason {
            Some(r) if !why.contains(r.as_str()) => mismatch(format!("suppressed: …{r}…")),
            _ => Vec::new(),
        },
        (Expect::Suppress(reason), _) => mismatch(match reason {
            Some(r) => format!("suppressed: …{r}…"),
            None => "suppressed".into(),
        }),
        (
            Expect::Probe {
                status,
                message,
                observations,
            },
            Answer::Probe {
                status: got_status,
                message: got_message,
                observations: got_obs,
            },
        ) => {
            let mut diff = Vec::new();
            if status != got_status
                || message
                    .as_ref()
                    .is_some_and(|m| !got_message.contains(m.as_str()))
            {
                diff.push(format!(
                    "- {status}{}",
                    message
                        .as_ref()
                        .map(|m| format!(": …{m}…"))
                        .unwrap_or_default()
                ));
                diff.push(format!("+ {got_status}: {got_message}"));
            }
            for (name, value) in observations {
                match got_obs.get(name) {
                    Some(v) if (v - value).abs() <= 1e-9 * value.abs().max(1.0) => {}
                    Some(v) => {
                        diff.push(format!("- {name} = {value}"));
                        diff.push(format!("+ {name} = {v}"));
                    }
                    None => diff.push(format!(
                        "- {name} = {value} (not observed; observed: {})",
                        if got_obs.is_empty() {
                            "nothing".to_owned()
                        } else {
                            got_obs.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    )),
                }
            }
            diff
        }
        (
            Expect::Probe {
                status, message, ..
            },
            _,
        ) => mismatch(format!(
            "{status}{}",
            message
                .as_ref()
                .map(|m| format!(": …{m}…"))
                .unwrap_or_default()
        )),
        (Expect::Error(part), Answer::Error(e)) if e.contains(part.as_str()) => Vec::new(),
        (Expect::Error(part), _) => mismatch(format!("error: …{part}…")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(code: &str, path: &str) -> Found {
        Found {
            code: code.into(),
            severity: "error".into(),
            path: Some(path.into()),
            message: "m".into(),
        }
    }

    #[test]
    fn findings_match_as_a_multiset_on_the_fields_given() {
        let expect = Expect::Findings(vec![
            FindingExpect {
                code: "a".into(),
                severity: None,
                path: None,
            },
            FindingExpect {
                code: "b".into(),
                severity: Some(assay_contract::Severity::Error),
                path: Some("/1".into()),
            },
        ]);
        assert!(
            judge(
                &expect,
                &Answer::Findings(vec![found("b", "/1"), found("a", "/9")])
            )
            .is_empty()
        );
        let diff = judge(
            &expect,
            &Answer::Findings(vec![found("a", "/9"), found("b", "/2"), found("c", "")]),
        );
        assert_eq!(
            diff,
            [
                "- b error at \"/1\"",
                "+ b error at \"/2\": m",
                "+ c error at \"\": m"
            ]
        );
        assert_eq!(
            judge(&Expect::Findings(vec![]), &Answer::Error("boom".into())),
            ["- no findings", "+ error: boom"]
        );
    }

    #[test]
    fn routers_and_probes_and_errors() {
        assert!(
            judge(
                &Expect::Deliver(vec!["b".into(), "a".into()]),
                &Answer::Deliver(vec!["a".into(), "b".into()])
            )
            .is_empty()
        );
        assert_eq!(
            judge(
                &Expect::Suppress(Some("quiet".into())),
                &Answer::Deliver(vec!["a".into()])
            ),
            ["- suppressed: …quiet…", "+ deliver to a"]
        );
        let probe = Answer::Probe {
            status: "warn".into(),
            message: "slow: 300 ms".into(),
            observations: [("latency".to_owned(), 0.3)].into(),
        };
        let expect = |status: &str, obs: f64| Expect::Probe {
            status: status.into(),
            message: Some("slow".into()),
            observations: [("latency".to_owned(), obs)].into(),
        };
        assert!(judge(&expect("warn", 0.3), &probe).is_empty());
        assert_eq!(
            judge(&expect("pass", 0.3), &probe),
            ["- pass: …slow…", "+ warn: slow: 300 ms"]
        );
        assert_eq!(
            judge(&expect("warn", 1.0), &probe),
            ["- latency = 1", "+ latency = 0.3"]
        );
        assert!(
            judge(
                &Expect::Error("max_line".into()),
                &Answer::Error("max_line: bad".into())
            )
            .is_empty()
        );
    }
}
