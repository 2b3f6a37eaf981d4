//! The `pagerduty` channel: PagerDuty's Events API v2. Each alert of a
//! notification is one event, keyed by the alert's fingerprint
//! (`dedup_key`), so PagerDuty's incident follows assay's alert: a firing
//! alert triggers it, an acknowledgement in assay acknowledges it, and the
//! resolution resolves it.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::Transport;
use super::http::Post;
use crate::alerts::notification::{Kind, Notification};
use crate::alerts::{Alert, AlertStatus};
use crate::clock::rfc3339;

/// Where events go unless the channel's `url` says otherwise.
pub(super) const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub(super) struct PagerDuty {
    pub(super) post: Post,
    pub(super) routing_key: String,
}

/// The event for `alert` in `n` (PagerDuty's Events API v2 `POST /v2/enqueue`).
pub(super) fn event(routing_key: &str, n: &Notification, alert: &Alert) -> Value {
    let action = match (n.kind, alert.status) {
        (Kind::Acknowledgement, _) => "acknowledge",
        (_, AlertStatus::Firing) => "trigger",
        (_, AlertStatus::Resolved) => "resolve",
    };
    let mut e = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": alert.fingerprint,
    });
    if action == "trigger" {
        // Summaries are cut at PagerDuty's limit of 1024 characters.
        let summary: String = format!("{}: {}", alert.name, alert.summary)
            .chars()
            .take(1024)
            .collect();
        e["payload"] = json!({
            "summary": summary,
            "source": alert.labels.get("instance").cloned().unwrap_or_else(|| alert.source.clone()),
            "severity": alert.severity.as_str(),
            "timestamp": rfc3339(alert.starts_ms),
            "component": alert.labels.get("job"),
            "group": n.group_labels.get("alertname"),
            "class": alert.name,
            "custom_details": {
                "description": alert.description,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "source": alert.source,
            },
        });
        e["client"] = json!("assay");
        if let Some(url) = &n.external_url {
            e["client_url"] = json!(url);
        }
        if let Some(url) = &alert.generator_url {
            e["links"] = json!([{"href": url, "text": "Source"}]);
        }
    }
    e
}

impl Transport for PagerDuty {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            // One event per alert, in order; PagerDuty drops repeats by `dedup_key`
            // and action, so a retry of the whole notification is harmless.
            for alert in &n.alerts {
                self.post
                    .json(&event(&self.routing_key, n, alert), n)
                    .await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::template::sample;

    #[test]
    fn events_follow_the_alert_by_its_fingerprint() {
        let n = sample();
        let a = &n.alerts[0];
        let e = event("KEY", &n, a);
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["dedup_key"], a.fingerprint.as_str());
        assert_eq!(e["payload"]["severity"], "critical");
        assert_eq!(e["payload"]["source"], "db-1:9100");
        assert_eq!(e["payload"]["summary"], "DiskFull: disk / is 97% full");
        let mut ack = n.clone();
        ack.kind = Kind::Acknowledgement;
        let e = event("KEY", &ack, a);
        assert_eq!(
            (e["event_action"].as_str(), e.get("payload")),
            (Some("acknowledge"), None)
        );
        let resolved = a.clone().resolved();
        assert_eq!(event("KEY", &n, &resolved)["event_action"], "resolve");
    }
}
