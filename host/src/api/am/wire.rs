//! Alertmanager API v2's JSON (its `api/v2/openapi.yaml`) and how it maps
//! onto assay's alerts and silences. Pure: no I/O, no clock (`now` is given).

use std::collections::BTreeMap;

use assay_contract::Severity;
use serde::{Deserialize, Serialize};

use crate::alerts::model::fingerprint;
use crate::alerts::silences::Silence;
use crate::alerts::{Alert, AlertStatus, AlertView, Decision, Matcher, ViewState};
use crate::clock::rfc3339;

/// Go's zero time: what Alertmanager shows for a time that is not set.
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// One alert as Prometheus posts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
}

pub(crate) use crate::alerts::model::is_label_name;

/// An RFC 3339 time in ms since the epoch (Go's zero time and earlier: `None`).
pub(crate) fn parse_time(field: &str, text: &str) -> Result<Option<i64>, String> {
    crate::clock::parse_rfc3339(text)
        .map(|ms| (ms > 0).then_some(ms))
        .ok_or_else(|| format!("{field}: {text:?} is not an RFC 3339 time"))
}

/// The severity a `severity` label names (common spellings), or `None`.
fn severity_of(label: &str) -> Option<Severity> {
    Some(match label.to_ascii_lowercase().as_str() {
        "critical" | "crit" | "page" | "p1" | "emergency" | "fatal" => Severity::Critical,
        "error" | "err" | "high" | "major" | "p2" => Severity::Error,
        "warning" | "warn" | "medium" | "minor" | "p3" => Severity::Warning,
        "info" | "informational" | "low" | "none" | "notice" | "p4" | "p5" => Severity::Info,
        _ => return None,
    })
}

impl PostableAlert {
    /// The alert it says, as of `now`. Labels are kept as sent; one without
    /// `severity` gets `severity="warning"`. Without `endsAt` it resolves
    /// `resolve_timeout_ms` after its last re-send; with an `endsAt` that has
    /// passed it is a resolution.
    pub(crate) fn into_alert(
        self,
        source: &str,
        now: i64,
        resolve_timeout_ms: i64,
    ) -> Result<Alert, String> {
        let mut labels = self.labels;
        labels.retain(|_, v| !v.is_empty());
        let name = labels
            .get("alertname")
            .cloned()
            .ok_or("labels: alertname is missing")?;
        if let Some(bad) = labels.keys().find(|k| !is_label_name(k)) {
            return Err(format!("labels: {bad:?} is not a valid label name"));
        }
        let severity = match labels.get("severity") {
            Some(s) => severity_of(s).unwrap_or(Severity::Warning),
            None => {
                labels.insert("severity".into(), "warning".into());
                Severity::Warning
            }
        };
        let ends = match &self.ends_at {
            Some(t) => parse_time("endsAt", t)?,
            None => None,
        };
        // As Alertmanager: no start is the end, if given, else now.
        let starts = match &self.starts_at {
            Some(t) => parse_time("startsAt", t)?,
            None => None,
        }
        .or(ends.map(|e| e.min(now)))
        .unwrap_or(now);
        if let Some(e) = ends
            && e < starts
        {
            return Err("endsAt is before startsAt".into());
        }
        let (status, ends_ms) = match ends {
            Some(e) if e <= now => (AlertStatus::Resolved, Some(e)),
            Some(e) => (AlertStatus::Firing, Some(e)),
            None => (AlertStatus::Firing, Some(now + resolve_timeout_ms)),
        };
        let annotations = self.annotations;
        Ok(Alert {
            summary: (annotations.get("summary").or(annotations.get("message")))
                .cloned()
                .unwrap_or_else(|| name.clone()),
            description: annotations.get("description").cloned().unwrap_or_default(),
            name,
            status,
            severity,
            fingerprint: fingerprint(&labels),
            labels,
            annotations,
            source: source.to_owned(),
            starts_ms: starts.min(now),
            ends_ms,
            generator_url: self.generator_url.filter(|u| !u.is_empty()),
            traceparent: None,
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Receiver {
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlertStatusJson {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: &'static str,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GettableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub receivers: Vec<Receiver>,
    pub fingerprint: String,
    pub starts_at: String,
    pub updated_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
    pub status: AlertStatusJson,
}

/// The channels an alert's routing names.
pub(crate) fn receivers(decision: &Decision) -> Vec<Receiver> {
    let mut out: Vec<Receiver> = match decision {
        Decision::Deliver(routes) => (routes.iter())
            .map(|r| Receiver {
                name: r.channel.clone(),
            })
            .collect(),
        Decision::Suppressed(_) => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

/// An active alert as Alertmanager shows it; `None` for a resolved one
/// (Alertmanager lists only what still fires).
pub(crate) fn gettable(v: &AlertView) -> Option<GettableAlert> {
    let state = match v.state {
        ViewState::Resolved => return None,
        ViewState::Firing | ViewState::Acknowledged => "active",
        ViewState::Silenced | ViewState::Inhibited | ViewState::Held | ViewState::Suppressed => {
            "suppressed"
        }
    };
    let a = &v.alert;
    let mut annotations = a.annotations.clone();
    annotations
        .entry("summary".into())
        .or_insert_with(|| a.summary.clone());
    Some(GettableAlert {
        labels: a.labels.clone(),
        annotations,
        receivers: receivers(&v.routing),
        fingerprint: a.fingerprint.clone(),
        starts_at: rfc3339(a.starts_ms),
        updated_at: rfc3339(a.starts_ms),
        ends_at: a.ends_ms.map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
        generator_url: a.generator_url.clone(),
        status: AlertStatusJson {
            state,
            silenced_by: v.silenced_by.clone(),
            inhibited_by: v.inhibited_by.clone(),
        },
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MatcherJson {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl From<&Matcher> for MatcherJson {
    fn from(m: &Matcher) -> MatcherJson {
        MatcherJson {
            name: m.name.clone(),
            value: m.value().to_owned(),
            is_regex: m.is_regex(),
            is_equal: m.is_equal(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SilenceStatus {
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GettableSilence {
    pub id: String,
    pub status: SilenceStatus,
    pub updated_at: String,
    pub matchers: Vec<MatcherJson>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

pub(crate) fn gettable_silence(s: &Silence, now: i64) -> GettableSilence {
    GettableSilence {
        id: s.id.clone(),
        status: SilenceStatus {
            state: s.view(now).state,
        },
        updated_at: rfc3339(s.created_ms),
        matchers: s.matchers.iter().map(MatcherJson::from).collect(),
        starts_at: rfc3339(s.starts_ms),
        ends_at: rfc3339(s.ends_ms),
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
    }
}

/// `POST /api/v2/silences`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostableSilence {
    /// Given: replaces that silence.
    pub id: Option<String>,
    pub matchers: Vec<MatcherJson>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

impl PostableSilence {
    /// The silence it says (with `id`), checked as Alertmanager checks it.
    pub(crate) fn into_silence(self, id: String, now: i64) -> Result<Silence, String> {
        if self.matchers.is_empty() {
            return Err("at least one matcher is required".into());
        }
        let matchers = (self.matchers.iter())
            .map(|m| Matcher::from_parts(&m.name, &m.value, m.is_regex, m.is_equal))
            .collect::<Result<Vec<_>, _>>()?;
        if matchers.iter().all(|m| m.matches(&BTreeMap::new())) {
            return Err("at least one matcher must not match the empty string".into());
        }
        if self.created_by.trim().is_empty() {
            return Err("createdBy is required".into());
        }
        if self.comment.trim().is_empty() {
            return Err("comment is required".into());
        }
        let starts = parse_time("startsAt", &self.starts_at)?.ok_or("startsAt is required")?;
        let ends = parse_time("endsAt", &self.ends_at)?.ok_or("endsAt is required")?;
        if ends < starts {
            return Err("endsAt is before startsAt".into());
        }
        if ends <= now {
            return Err("endsAt is in the past".into());
        }
        Ok(Silence {
            id,
            matchers,
            created_by: self.created_by,
            comment: self.comment,
            created_ms: now,
            // As Alertmanager: a start in the past is now.
            starts_ms: starts.max(now),
            ends_ms: ends,
        })
    }
}

/// Whether a silence matches a `filter` of matchers: each must match the
/// silence's own equality matchers taken as labels (Alertmanager's rule).
pub(crate) fn silence_matches(s: &Silence, filter: &[Matcher]) -> bool {
    let labels: BTreeMap<String, String> = (s.matchers.iter())
        .filter(|m| m.is_equal() && !m.is_regex())
        .map(|m| (m.name.clone(), m.value().to_owned()))
        .collect();
    filter.iter().all(|f| f.matches(&labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn posted(json: &str) -> PostableAlert {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn prometheus_alerts_map_onto_assay_alerts() {
        // As Prometheus sends a firing alert: endsAt a few evaluations ahead.
        let a = posted(
            r#"{"labels":{"alertname":"Up","job":"node","severity":"page"},
                "annotations":{"summary":"node down"},
                "startsAt":"2023-11-14T22:13:00Z","endsAt":"2023-11-14T22:20:00.000Z",
                "generatorURL":"http://prom:9090/graph?g0.expr=up"}"#,
        )
        .into_alert("am", NOW, 300_000)
        .unwrap();
        assert_eq!((a.name.as_str(), a.severity), ("Up", Severity::Critical));
        assert_eq!(a.labels["severity"], "page", "labels stay as sent");
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.summary, "node down");
        assert_eq!(a.ends_ms, Some(1_700_000_400_000));
        assert_eq!(a.starts_ms, 1_699_999_980_000);
        assert_eq!(
            a.generator_url.as_deref(),
            Some("http://prom:9090/graph?g0.expr=up")
        );
        // No endsAt: resolve_timeout from now; no severity: warning.
        let b = posted(r#"{"labels":{"alertname":"X"}}"#)
            .into_alert("am", NOW, 300_000)
            .unwrap();
        assert_eq!(
            (b.ends_ms, b.severity),
            (Some(NOW + 300_000), Severity::Warning)
        );
        assert_eq!(b.labels["severity"], "warning");
        // endsAt passed: a resolution.
        let c = posted(r#"{"labels":{"alertname":"X"},"endsAt":"2023-11-14T22:00:00+01:00"}"#)
            .into_alert("am", NOW, 300_000)
            .unwrap();
        assert_eq!(c.status, AlertStatus::Resolved);
        assert_eq!(c.ends_ms, Some(1_699_995_600_000));
        assert_eq!(
            c.fingerprint, b.fingerprint,
            "the same labels, the same alert"
        );
        for (json, why) in [
            (r#"{"labels":{"job":"x"}}"#, "alertname is missing"),
            (
                r#"{"labels":{"alertname":"X","a-b":"1"}}"#,
                "not a valid label name",
            ),
            (
                r#"{"labels":{"alertname":"X"},"endsAt":"yesterday"}"#,
                "not an RFC 3339 time",
            ),
        ] {
            let e = posted(json).into_alert("am", NOW, 1).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn silences_keep_alertmanagers_matchers_and_checks() {
        let s: PostableSilence = serde_json::from_str(
            r#"{"matchers":[{"name":"alertname","value":"Up","isRegex":false},
                            {"name":"job","value":"api\\d+","isRegex":true,"isEqual":false}],
                "startsAt":"2023-11-14T22:13:20Z","endsAt":"2023-11-15T00:00:00Z",
                "createdBy":"amtool","comment":"maintenance"}"#,
        )
        .unwrap();
        let s = s.into_silence("id-1".into(), NOW).unwrap();
        let g = gettable_silence(&s, NOW);
        assert_eq!(g.status.state, "active");
        assert_eq!(g.matchers[1].value, r"api\d+");
        assert!(g.matchers[1].is_regex && !g.matchers[1].is_equal);
        let labels = |job: &str| {
            BTreeMap::from([
                ("alertname".to_owned(), "Up".to_owned()),
                ("job".to_owned(), job.to_owned()),
            ])
        };
        assert!(s.matches(&labels("web")));
        assert!(!s.matches(&labels("api12")));
        assert!(silence_matches(
            &s,
            &[Matcher::parse(r#"alertname="Up""#).unwrap()]
        ));
        assert!(!silence_matches(
            &s,
            &[Matcher::parse(r#"alertname="Down""#).unwrap()]
        ));
        let empty: PostableSilence = serde_json::from_str(
            r#"{"matchers":[{"name":"a","value":"","isRegex":false}],"startsAt":"2023-11-14T22:13:20Z",
                "endsAt":"2023-11-15T00:00:00Z","createdBy":"x","comment":"y"}"#,
        )
        .unwrap();
        let e = empty.into_silence("id".into(), NOW).unwrap_err();
        assert!(e.contains("must not match the empty string"), "{e}");
    }
}
