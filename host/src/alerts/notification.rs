//! A notification: what goes to one channel at once (a group's alerts, an
//! escalation, a rate-limit summary or a test), with its idempotency key, and
//! the payloads rendered from it (assay JSON, Alertmanager webhook v4,
//! Alertmanager API v2 alerts, Slack).
//!
//! The outbox stores the notification itself; channels render it at each
//! attempt, so every retry sends the same bytes with the same key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use assay_contract::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::{Alert, AlertStatus};
use crate::clock::{now_ms, rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A group's alerts (new, changed, resolved or repeated).
    Alerts,
    /// A critical alert left unacknowledged past `escalate_after`.
    Escalation,
    /// How many notifications a channel's `max_per_hour` held back.
    RateLimitSummary,
    /// `assay alert test`.
    Test,
}
crate::names::named!(Kind, "notification kind");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per notification, the same on every attempt: receivers drop repeats by it.
    pub idempotency_key: String,
    pub channel: String,
    pub kind: Kind,
    /// `firing` when any alert in it fires.
    pub status: AlertStatus,
    /// The highest severity among its alerts.
    pub severity: Severity,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub title: String,
    pub body: String,
    /// Labels the routers added.
    pub labels: BTreeMap<String, String>,
    pub alerts: Vec<Alert>,
    pub created_ms: i64,
    pub external_url: Option<String>,
}

/// How a notification renders: the title and body a router gave (the
/// channel's default rendering where `None`), the labels it added, and
/// where links point (this host's public URL).
#[derive(Debug, Clone, Default)]
pub struct Rendering {
    pub title: Option<String>,
    pub body: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub external_url: Option<String>,
}

/// A new idempotency key: 128 bits, unique across restarts and replicas.
pub fn new_key() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(nanos.to_le_bytes());
    h.update(fastrand::u64(..).to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

impl Notification {
    /// A notification of `alerts` (at least one) to `channel`; the title and
    /// body are the router's when it gave them for a lone alert.
    pub fn of_alerts(
        kind: Kind,
        channel: &str,
        group_key: String,
        group_labels: BTreeMap<String, String>,
        alerts: Vec<Alert>,
        rendering: Rendering,
        created_ms: i64,
    ) -> Notification {
        let Rendering {
            title,
            body,
            labels,
            external_url,
        } = rendering;
        let firing = alerts.iter().filter(|a| a.is_firing()).count();
        let status = if firing > 0 {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        };
        let severity = alerts
            .iter()
            .map(|a| a.severity)
            .max()
            .unwrap_or(Severity::Info);
        let title =
            title.unwrap_or_else(|| default_title(kind, status, firing, &alerts, &group_labels));
        let body = body.unwrap_or_else(|| default_body(&alerts));
        Notification {
            idempotency_key: new_key(),
            channel: channel.to_owned(),
            kind,
            status,
            severity,
            group_key,
            group_labels,
            title,
            body,
            labels,
            alerts,
            created_ms,
            external_url,
        }
    }

    /// A summary of what a channel's rate limit held back.
    pub fn rate_limit_summary(channel: &str, held: u64, limit: u32, now: i64) -> Notification {
        let mut n = Notification::of_alerts(
            Kind::RateLimitSummary,
            channel,
            format!("rate-limit:{channel}"),
            BTreeMap::new(),
            Vec::new(),
            Rendering::default(),
            now,
        );
        n.severity = Severity::Warning;
        n.status = AlertStatus::Firing;
        n.title = format!("[assay] {held} notification(s) to {channel} were held back");
        n.body = format!(
            "The channel's limit of {limit} notifications an hour was reached; {held} notification(s) \
             were not sent. See GET /v1/alerts for what is firing now."
        );
        n
    }

    /// `assay alert test`.
    pub fn test(channel: &str) -> Notification {
        let alert = Alert::firing(
            "AssayTestNotification",
            Severity::Info,
            "cli",
            BTreeMap::new(),
            "A test notification from `assay alert test`",
        );
        Notification::of_alerts(
            Kind::Test,
            channel,
            "test".into(),
            BTreeMap::new(),
            vec![alert],
            Rendering::default(),
            now_ms(),
        )
    }

    /// assay's own payload: the notification as stored.
    pub fn assay_json(&self) -> Value {
        serde_json::to_value(self).expect("a notification serialises")
    }

    /// Prometheus Alertmanager's webhook payload, version 4, field for
    /// field, plus `idempotencyKey` (receivers that do not know it ignore it).
    pub fn alertmanager_webhook(&self) -> Value {
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "status": a.status.as_str(),
                    "labels": a.labels,
                    "annotations": am_annotations(a),
                    "startsAt": rfc3339(a.starts_ms),
                    "endsAt": a.ends_ms.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339),
                    "generatorURL": self.generator_url(a),
                    "fingerprint": a.fingerprint,
                })
            })
            .collect();
        json!({
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": 0,
            "status": self.status.as_str(),
            "receiver": self.channel,
            "groupLabels": self.group_labels,
            "commonLabels": common(self.alerts.iter().map(|a| &a.labels)),
            "commonAnnotations": common(self.alerts.iter().map(am_annotations).collect::<Vec<_>>().iter()),
            "externalURL": self.external_url.clone().unwrap_or_default(),
            "alerts": alerts,
            "idempotencyKey": self.idempotency_key,
        })
    }

    /// The body of `POST /api/v2/alerts` (Alertmanager's own API).
    pub fn alertmanager_api(&self) -> Value {
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|a| {
                let mut labels = a.labels.clone();
                labels.extend(self.labels.clone());
                let mut v = json!({
                    "labels": labels,
                    "annotations": am_annotations(a),
                    "startsAt": rfc3339(a.starts_ms),
                    "generatorURL": self.generator_url(a),
                });
                if let Some(end) = a.ends_ms {
                    v["endsAt"] = json!(rfc3339(end));
                }
                v
            })
            .collect();
        Value::Array(alerts)
    }

    /// A Slack incoming-webhook message: the title, then one block per alert, coloured by severity.
    pub fn slack(&self) -> Value {
        let colour = match (self.status, self.severity) {
            (AlertStatus::Resolved, _) => "#2eb886",
            (_, Severity::Critical) => "#a30200",
            (_, Severity::Error) => "#e01e5a",
            (_, Severity::Warning) => "#daa038",
            (_, Severity::Info) => "#439fe0",
        };
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&self.title, 150)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&self.body, 3000)}}),
        ];
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": format!("{} · {} · key `{}`", self.severity, self.status.as_str(), self.idempotency_key)}
        ]}));
        json!({
            "text": self.title,
            "attachments": [{"color": colour, "blocks": blocks}],
        })
    }

    /// The email body as HTML (the text part is `body`).
    pub fn html(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut rows = String::new();
        for a in &self.alerts {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(a.status.as_str()),
                esc(a.severity.as_str()),
                esc(&a.summary),
                esc(&Alert::label_text(&a.labels))
            ));
        }
        format!(
            "<html><body><h2>{}</h2><pre>{}</pre><table border=\"1\" cellpadding=\"4\">\
             <tr><th>status</th><th>severity</th><th>summary</th><th>labels</th></tr>{rows}</table>\
             <p><small>idempotency key {}</small></p></body></html>",
            esc(&self.title),
            esc(&self.body),
            esc(&self.idempotency_key)
        )
    }

    fn generator_url(&self, a: &Alert) -> String {
        match &self.external_url {
            Some(base) => format!(
                "{}/v1/alerts/history?fingerprint={}",
                base.trim_end_matches('/'),
                a.fingerprint
            ),
            None => String::new(),
        }
    }
}

fn am_annotations(a: &Alert) -> BTreeMap<String, String> {
    let mut m = a.annotations.clone();
    m.insert("summary".into(), a.summary.clone());
    if !a.description.is_empty() {
        m.insert("description".into(), a.description.clone());
    }
    m.insert("source".into(), a.source.clone());
    m
}

/// The pairs every map shares.
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for m in maps {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}

fn default_title(
    kind: Kind,
    status: AlertStatus,
    firing: usize,
    alerts: &[Alert],
    group_labels: &BTreeMap<String, String>,
) -> String {
    let prefix = match kind {
        Kind::Escalation => "[ESCALATED] ",
        _ => "",
    };
    match alerts {
        [a] => format!(
            "{prefix}[{}] {}: {}",
            a.status.as_str().to_uppercase(),
            a.name,
            a.summary
        ),
        _ => {
            let tag = match status {
                AlertStatus::Firing => format!("FIRING:{firing}"),
                AlertStatus::Resolved => "RESOLVED".into(),
            };
            let names: std::collections::BTreeSet<&str> =
                alerts.iter().map(|a| a.name.as_str()).collect();
            let what = if group_labels.is_empty() {
                names.into_iter().collect::<Vec<_>>().join(", ")
            } else {
                Alert::label_text(group_labels)
            };
            format!("{prefix}[{tag}] {what}")
        }
    }
}

fn default_body(alerts: &[Alert]) -> String {
    let mut out = String::new();
    for a in alerts {
        out.push_str(&format!(
            "- [{}] {} ({}): {}\n",
            a.status.as_str(),
            a.name,
            a.severity,
            a.summary
        ));
        if !a.description.is_empty() {
            out.push_str(&format!("  {}\n", a.description));
        }
        let labels: BTreeMap<_, _> = a
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname" && *k != "severity")
            .collect();
        if !labels.is_empty() {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("  labels: {}\n", l.join(", ")));
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
