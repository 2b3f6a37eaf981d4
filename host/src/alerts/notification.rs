//! A notification: what goes to one channel at once (a group's alerts, an
//! escalation, a rate-limit summary or a test), with its idempotency key,
//! default title and body, and assay's own JSON payload.
//!
//! The outbox stores the notification itself; each channel's transport
//! renders its own payload from it at each attempt ([`super::channels`]), so
//! every retry sends the same bytes with the same key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use assay_contract::Severity;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::{Alert, AlertStatus};
use crate::clock::now_ms;

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
    /// Someone acknowledged the alert in assay (to channels that track
    /// acknowledgement: PagerDuty).
    Acknowledgement,
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
    /// The trace its deliveries join (an alert's `traceparent`); stored in
    /// the outbox, never sent in a payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
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
        let traceparent = alerts.iter().find_map(|a| a.traceparent.clone());
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
            traceparent,
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
        let mut v = serde_json::to_value(self).expect("a notification serialises");
        if let Some(o) = v.as_object_mut() {
            o.remove("traceparent");
        }
        v
    }
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
