//! The alert: identity (labels and their fingerprint), status, severity and text.

use std::collections::BTreeMap;

use assay_contract::Severity;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}
crate::names::named!(AlertStatus, "alert status");

/// An alert. Its identity is its labels (which always hold `alertname` and
/// `severity`): the same labels give the same fingerprint, so a repeat of an
/// alert that is already firing is the same alert, not a new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub name: String,
    pub status: AlertStatus,
    pub severity: Severity,
    pub summary: String,
    #[serde(default)]
    pub description: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Where it came from: `probe:NAME`, `monitor:NAME`, `plugin:NAME`,
    /// `channel:NAME`, `rule:NAME` or `api`.
    pub source: String,
    pub fingerprint: String,
    pub starts_ms: i64,
    /// Resolved: when. Firing: when it resolves by itself unless sent again
    /// (Alertmanager's `endsAt`); `None`: only when told.
    pub ends_ms: Option<i64>,
    /// Where to see what raised it (Prometheus's `generatorURL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
    /// The W3C `traceparent` of the request that raised it, for the traces
    /// of its notifications. Not stored or shown: a trace outlives no restart.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl Alert {
    /// A firing alert from now; `alertname` and `severity` join the labels.
    pub fn firing(
        name: &str,
        severity: Severity,
        source: impl Into<String>,
        mut labels: BTreeMap<String, String>,
        summary: impl Into<String>,
    ) -> Alert {
        labels.insert("alertname".into(), name.to_owned());
        labels.insert("severity".into(), severity.as_str().to_owned());
        Alert {
            name: name.to_owned(),
            status: AlertStatus::Firing,
            severity,
            summary: summary.into(),
            description: String::new(),
            fingerprint: fingerprint(&labels),
            labels,
            annotations: BTreeMap::new(),
            source: source.into(),
            starts_ms: now_ms(),
            ends_ms: None,
            generator_url: None,
            traceparent: None,
        }
    }

    /// The same alert, resolved now.
    pub fn resolved(mut self) -> Alert {
        self.status = AlertStatus::Resolved;
        self.ends_ms = Some(now_ms());
        self
    }

    pub fn with_description(mut self, d: impl Into<String>) -> Alert {
        self.description = d.into();
        self
    }

    pub fn annotate(mut self, k: &str, v: impl Into<String>) -> Alert {
        self.annotations.insert(k.to_owned(), v.into());
        self
    }

    pub fn is_firing(&self) -> bool {
        self.status == AlertStatus::Firing
    }

    /// `{a="1", b="2"}`, for logs and titles.
    pub fn label_text(labels: &BTreeMap<String, String>) -> String {
        let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{{{}}}", inner.join(", "))
    }

    /// As the router world takes it.
    pub fn to_wit(&self) -> crate::runtime::bindings::Alert {
        use crate::runtime::bindings as w;
        let pairs =
            |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        w::Alert {
            name: self.name.clone(),
            status: match self.status {
                AlertStatus::Firing => w::AlertStatus::Firing,
                AlertStatus::Resolved => w::AlertStatus::Resolved,
            },
            severity: wit_severity(self.severity),
            summary: self.summary.clone(),
            description: self.description.clone(),
            labels: pairs(&self.labels),
            annotations: pairs(&self.annotations),
            source: self.source.clone(),
            fingerprint: self.fingerprint.clone(),
            starts_at_ms: self.starts_ms.max(0) as u64,
            ends_at_ms: self.ends_ms.map(|t| t.max(0) as u64),
        }
    }
}

fn wit_severity(s: Severity) -> crate::runtime::bindings::Severity {
    use crate::runtime::bindings::Severity as W;
    match s {
        Severity::Info => W::Info,
        Severity::Warning => W::Warning,
        Severity::Error => W::Error,
        Severity::Critical => W::Critical,
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The first 8 bytes of SHA-256 over the sorted labels, in hex.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0xff]);
        h.update(v.as_bytes());
        h.update([0xfe]);
    }
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_follow_the_labels_only() {
        let l = |v: &str| BTreeMap::from([("probe".to_owned(), v.to_owned())]);
        let a = Alert::firing("ProbeFailing", Severity::Error, "probe:a", l("a"), "x");
        let b = Alert::firing("ProbeFailing", Severity::Error, "elsewhere", l("a"), "y");
        let c = Alert::firing("ProbeFailing", Severity::Error, "probe:b", l("b"), "x");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.fingerprint.len(), 16);
        assert_eq!(a.labels["alertname"], "ProbeFailing");
        assert_eq!(a.labels["severity"], "error");
        // Label boundaries count: {ab=c} is not {a=bc}.
        let x = BTreeMap::from([("ab".to_owned(), "c".to_owned())]);
        let y = BTreeMap::from([("a".to_owned(), "bc".to_owned())]);
        assert_ne!(fingerprint(&x), fingerprint(&y));
    }
}
