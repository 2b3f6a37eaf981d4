//! `/v1/alerts`, `/v1/notifications` and `/v1/silences`: the alerting surfaces.

use std::collections::BTreeMap;

use assay_contract::Severity;
use axum::Extension;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::am::is_label_name;
use super::auth::Actor;
use super::error::ApiError;
use super::{check_limit, hundred};
use crate::alerts::silences::NewSilence;
use crate::alerts::{Alert, Alerting, AlertingError};
use crate::clock::now_ms;

/// At most this many alerts in one `POST /v1/alerts`.
const MAX_POSTED: usize = 1000;

fn failed(e: AlertingError) -> ApiError {
    match e {
        AlertingError::Stopped => ApiError::unavailable("alerting_stopped", e.to_string(), 1),
        AlertingError::Store(e) => ApiError::store("alerting", e),
    }
}

fn json_body<T>(body: Result<axum::Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|b| b.0)
        .map_err(|e| ApiError::bad_request("bad_body", e.body_text()))
}

/// `GET /v1/alerts`: the active alerts with their state.
pub(super) async fn list(State(alerts): State<Alerting>) -> Result<Response, ApiError> {
    let list = alerts.list().await.map_err(failed)?;
    Ok(axum::Json(json!({ "alerts": list })).into_response())
}

/// One alert of `POST /v1/alerts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PostedAlert {
    name: String,
    #[serde(default = "warning")]
    severity: Severity,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    /// `firing` (the default) or `resolved`.
    #[serde(default)]
    status: Option<String>,
}

fn warning() -> Severity {
    Severity::Warning
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PostedAlerts {
    alerts: Vec<PostedAlert>,
}

impl PostedAlert {
    fn into_alert(self, i: usize, actor: &str) -> Result<Alert, ApiError> {
        let bad = |m: String| ApiError::bad_request("bad_alert", format!("alerts[{i}]: {m}"));
        if !is_label_name(&self.name) {
            return Err(bad(format!(
                "name {:?} is not a valid alert name ([a-zA-Z_][a-zA-Z0-9_]*)",
                self.name
            )));
        }
        for k in self.labels.keys() {
            if !is_label_name(k) {
                return Err(bad(format!(
                    "label {k:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                )));
            }
            if k == "alertname" || k == "severity" {
                return Err(bad(format!(
                    "label {k:?} is set from the alert's `name`/`severity`; do not give it"
                )));
            }
        }
        let resolved = match self.status.as_deref() {
            None | Some("firing") => false,
            Some("resolved") => true,
            Some(other) => {
                return Err(bad(format!(
                    "status {other:?} is neither \"firing\" nor \"resolved\""
                )));
            }
        };
        let summary = self.summary.unwrap_or_else(|| self.name.clone());
        let mut alert = Alert::firing(
            &self.name,
            self.severity,
            format!("api:{actor}"),
            self.labels,
            summary,
        )
        .with_description(self.description);
        alert.annotations = self.annotations;
        Ok(if resolved { alert.resolved() } else { alert })
    }
}

/// `POST /v1/alerts`: raises (or resolves) alerts from outside, e.g. from a
/// script. Answers once every alert's state is committed.
pub(super) async fn post(
    State(alerts): State<Alerting>,
    actor: Option<Extension<Actor>>,
    body: Result<axum::Json<PostedAlerts>, JsonRejection>,
) -> Result<Response, ApiError> {
    let posted = json_body(body)?;
    if posted.alerts.is_empty() || posted.alerts.len() > MAX_POSTED {
        return Err(ApiError::bad_request(
            "bad_alert",
            format!("give between 1 and {MAX_POSTED} alerts"),
        ));
    }
    let actor = actor.map_or_else(|| Actor::anonymous().name, |a| a.name.clone());
    let posted = (posted.alerts.into_iter().enumerate())
        .map(|(i, a)| a.into_alert(i, &actor))
        .collect::<Result<Vec<_>, _>>()?;
    // One turn of the engine for the whole request: alerts posted together group together.
    let accepted: Vec<_> = (alerts.submit_all(posted).await.map_err(failed)?)
        .into_iter()
        .map(|a| json!({"fingerprint": a.fingerprint, "outcome": a.outcome}))
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "accepted": accepted })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    fingerprint: Option<String>,
    #[serde(default = "hundred")]
    limit: u32,
}

/// `GET /v1/alerts/{fingerprint}/trail`: why an alert was (not) paged: the
/// alert as it stands (routing, what mutes it, what each channel was told),
/// every change of it, oldest first (with how the router chain decided),
/// and every notification about it with each of its delivery attempts.
pub(super) async fn trail(
    State(alerts): State<Alerting>,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    let now_view = (alerts.list().await.map_err(failed)?)
        .into_iter()
        .find(|v| v.alert.fingerprint == fingerprint);
    let mut history = (alerts.repo().history(Some(fingerprint.clone()), 1000))
        .await
        .map_err(|e| ApiError::store("reading the alert history", e))?;
    history.reverse();
    let notifications = (alerts.outbox().list(None, None, Some(&fingerprint), 1000))
        .await
        .map_err(|e| ApiError::store("reading the outbox", e))?;
    if now_view.is_none() && history.is_empty() && notifications.is_empty() {
        return Err(ApiError::not_found(
            "unknown_alert",
            format!("no alert with fingerprint {fingerprint:?} is active or in the history"),
        ));
    }
    let silences = match &now_view {
        Some(v) if !v.silenced_by.is_empty() => (alerts.repo().silences(i64::MIN))
            .await
            .map_err(|e| ApiError::store("reading the silences", e))?
            .into_iter()
            .filter(|s| v.silenced_by.contains(&s.id))
            .map(|s| s.view(now_ms()))
            .collect(),
        _ => Vec::new(),
    };
    let mut attempts = (alerts.outbox().attempts_about(&fingerprint))
        .await
        .map_err(|e| ApiError::store("reading the delivery attempts", e))?;
    let delivery: Vec<_> = (notifications.iter().rev())
        .map(|n| {
            json!({
                "id": n.id,
                "channel": n.channel,
                "kind": n.kind,
                "group": n.notification["group_key"],
                "title": n.notification["title"],
                "idempotency_key": n.idempotency_key,
                "queued_at": n.created_at,
                "status": n.status,
                "attempts": n.attempts,
                "last_attempt_at": n.last_attempt_at,
                "delivered_at": n.delivered_at,
                "last_error": n.last_error,
                "attempt_log": attempts.remove(&n.id).unwrap_or_default(),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "fingerprint": fingerprint,
        "now": now_view.as_ref().map(|v| json!({
            "state": v.state,
            "alert": v.alert,
            "routing": v.routing,
            "silenced_by": silences,
            "inhibited_by": v.inhibited_by,
            "acknowledged": v.acknowledged,
            "told": v.notified,
        })),
        "history": history,
        "notifications": delivery,
    }))
    .into_response())
}

/// `GET /v1/alerts/history?fingerprint=…&limit=N`: newest first.
pub(super) async fn history(
    State(alerts): State<Alerting>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    let limit = check_limit(q.limit)?;
    let rows = (alerts.repo().history(q.fingerprint, limit))
        .await
        .map_err(|e| ApiError::store("reading the alert history", e))?;
    Ok(axum::Json(json!({ "history": rows })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct AckBody {
    #[serde(default)]
    comment: String,
}

/// `POST /v1/alerts/{fingerprint}/ack`: no more repeats, no escalation.
pub(super) async fn ack(
    State(alerts): State<Alerting>,
    actor: Option<Extension<Actor>>,
    Path(fingerprint): Path<String>,
    body: Option<axum::Json<AckBody>>,
) -> Result<Response, ApiError> {
    let by = actor.map_or_else(|| Actor::anonymous().name, |a| a.name.clone());
    let comment = body.map(|b| b.0.comment).unwrap_or_default();
    match alerts
        .ack(&fingerprint, &by, comment)
        .await
        .map_err(failed)?
    {
        Ok(view) => Ok(axum::Json(json!({ "alert": view })).into_response()),
        Err(why) => Err(ApiError::not_found("unknown_alert", why.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotificationsQuery {
    status: Option<String>,
    channel: Option<String>,
    #[serde(default = "hundred")]
    limit: u32,
}

/// `GET /v1/notifications?status=pending|delivered|dead&channel=…&limit=N`.
pub(super) async fn notifications(
    State(alerts): State<Alerting>,
    Query(q): Query<NotificationsQuery>,
) -> Result<Response, ApiError> {
    let limit = check_limit(q.limit)?;
    let status = (q.status.as_deref())
        .map(str::parse::<crate::alerts::outbox::Status>)
        .transpose()
        .map_err(|e| ApiError::bad_request("bad_status", e))?;
    if let Some(c) = &q.channel
        && !alerts.outbox().queues.contains_key(c)
    {
        return Err(ApiError::not_found(
            "unknown_channel",
            format!("no channel named {c:?} is configured"),
        ));
    }
    let rows = (alerts.outbox().list(status, q.channel, None, limit))
        .await
        .map_err(|e| ApiError::store("reading the outbox", e))?;
    Ok(axum::Json(json!({ "notifications": rows })).into_response())
}

/// `POST /v1/notifications/{id}/retry` (admin): a dead notification is
/// attempted again, from zero attempts.
pub(super) async fn retry(
    State(alerts): State<Alerting>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let found = (alerts.outbox().retry(id))
        .await
        .map_err(|e| ApiError::store("updating the outbox", e))?;
    if !found {
        return Err(ApiError::not_found(
            "unknown_notification",
            format!("no undelivered notification with id {id}"),
        ));
    }
    Ok(axum::Json(json!({ "id": id, "status": "pending" })).into_response())
}

/// `GET /v1/silences`: every stored silence (expired ones until pruned).
pub(super) async fn list_silences(State(alerts): State<Alerting>) -> Result<Response, ApiError> {
    let all = (alerts.repo().silences(i64::MIN))
        .await
        .map_err(|e| ApiError::store("reading the silences", e))?;
    let now = now_ms();
    let views: Vec<_> = all.iter().map(|s| s.view(now)).collect();
    Ok(axum::Json(json!({ "silences": views })).into_response())
}

/// `POST /v1/silences`: mutes matching alerts until it ends.
pub(super) async fn create_silence(
    State(alerts): State<Alerting>,
    actor: Option<Extension<Actor>>,
    body: Result<axum::Json<NewSilence>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = json_body(body)?;
    let actor = actor.map_or_else(|| Actor::anonymous().name, |a| a.name.clone());
    let silence = new
        .into_silence(&actor)
        .map_err(|e| ApiError::bad_request("bad_silence", e))?;
    (alerts.repo().insert_silence(&silence))
        .await
        .map_err(|e| ApiError::store("storing the silence", e))?;
    alerts.silences_changed().await.map_err(failed)?;
    let view = silence.view(now_ms());
    Ok((StatusCode::CREATED, axum::Json(json!({ "silence": view }))).into_response())
}

/// `DELETE /v1/silences/{id}`: ends the silence now.
pub(super) async fn expire_silence(
    State(alerts): State<Alerting>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = (alerts.repo().expire_silence(&id))
        .await
        .map_err(|e| ApiError::store("updating the silence", e))?;
    if !found {
        return Err(ApiError::not_found(
            "unknown_silence",
            format!("no active or pending silence with id {id:?}"),
        ));
    }
    alerts.silences_changed().await.map_err(failed)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::is_label_name;

    #[test]
    fn label_names_follow_prometheus() {
        assert!(is_label_name("probe") && is_label_name("_x1"));
        assert!(!is_label_name("") && !is_label_name("1a") && !is_label_name("a-b"));
    }
}
