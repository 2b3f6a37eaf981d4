//! Prometheus Alertmanager's payloads: the webhook body (version 4), for
//! `webhook` channels with `format = "alertmanager"`, and `POST /api/v2/alerts`,
//! for `alertmanager` channels (a [`Transport`] of its own).

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::Transport;
use super::http::Post;
use crate::alerts::model::Alert;
use crate::alerts::notification::Notification;
use crate::clock::rfc3339;

/// An `alertmanager` channel: alerts posted to a real Alertmanager's API.
pub(super) struct AlertmanagerApi {
    pub(super) post: Post,
}

impl Transport for AlertmanagerApi {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.post.json(&api_v2(n), n).await })
    }
}

/// Prometheus Alertmanager's webhook payload, version 4, field for
/// field, plus `idempotencyKey` (receivers that do not know it ignore it).
pub(super) fn webhook_v4(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": a.status.as_str(),
                "labels": a.labels,
                "annotations": am_annotations(a),
                "startsAt": rfc3339(a.starts_ms),
                "endsAt": a.ends_ms.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339),
                "generatorURL": generator_url(n, a),
                "fingerprint": a.fingerprint,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status.as_str(),
        "receiver": n.channel,
        "groupLabels": n.group_labels,
        "commonLabels": common(n.alerts.iter().map(|a| &a.labels)),
        "commonAnnotations": common(n.alerts.iter().map(am_annotations).collect::<Vec<_>>().iter()),
        "externalURL": n.external_url.clone().unwrap_or_default(),
        "alerts": alerts,
        "idempotencyKey": n.idempotency_key,
    })
}

/// The body of `POST /api/v2/alerts` (Alertmanager's own API).
pub(super) fn api_v2(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let mut labels = a.labels.clone();
            labels.extend(n.labels.clone());
            let mut v = json!({
                "labels": labels,
                "annotations": am_annotations(a),
                "startsAt": rfc3339(a.starts_ms),
                "generatorURL": generator_url(n, a),
            });
            if let Some(end) = a.ends_ms {
                v["endsAt"] = json!(rfc3339(end));
            }
            v
        })
        .collect();
    Value::Array(alerts)
}

fn generator_url(n: &Notification, a: &Alert) -> String {
    match &n.external_url {
        Some(base) => format!(
            "{}/v1/alerts/history?fingerprint={}",
            base.trim_end_matches('/'),
            a.fingerprint
        ),
        None => String::new(),
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
