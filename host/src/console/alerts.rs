//! Alerts: active ones (firing, and resolved ones not yet told everywhere)
//! with ack and silence for operators, recent changes, silences (create,
//! expire), and notifications with their delivery attempts.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use super::page::{self, Ctx, Nav, chip, time};
use crate::alerts::silences::NewSilence;
use crate::clock::{now_ms, rfc3339};
use crate::service::Service;

/// `GET {path}alerts?silence=FINGERPRINT&done=…`.
pub(super) async fn page(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = super::page::query(q.as_deref());
    let arg = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone());
    let alerting = &svc.alerts;
    let (active, history, silences, notifications) = tokio::join!(
        alerting.list(),
        alerting.repo().history(None, 30),
        alerting.repo().silences(now_ms() - 86_400_000),
        alerting.outbox().list(None, None, None, 30),
    );
    let active = match active {
        Ok(a) => a,
        Err(e) => return page::failure(&ctx, Nav::Alerts, "reading the alerts", e),
    };
    let (history, silences, notifications) = match (history, silences, notifications) {
        (Ok(h), Ok(s), Ok(n)) => (h, s, n),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
            return page::failure(&ctx, Nav::Alerts, "reading the alert history", e);
        }
    };
    let attempts = match (notifications.last(), notifications.first()) {
        (Some(lo), Some(hi)) => alerting
            .outbox()
            .attempts_between(lo.id, hi.id)
            .await
            .unwrap_or_default(),
        _ => Default::default(),
    };
    // A silence form filled in from an alert's labels.
    let prefill = arg("silence")
        .and_then(|fp| active.iter().find(|v| v.alert.fingerprint == fp))
        .map(|v| {
            v.alert
                .labels
                .iter()
                .map(|(k, val)| format!("{k}={}", serde_json::Value::from(val.as_str())))
                .collect::<Vec<_>>()
                .join("\n")
        });
    let now = now_ms();
    let can = ctx.can_act();
    let body = html! {
        h1 { "Alerts" }
        @if let Some(done) = arg("done") { p.notice.ok role="status" { "✔ " (done) } }
        @if let Some(err) = arg("error") { p.notice.bad role="alert" { "✖ " (err) } }
        h2 { "Active" }
        div #active data-live="" {
            @if active.is_empty() { p.notice.ok { "✔ No active alerts." } }
            @else {
                table {
                    thead { tr { th { "State" } th { "Severity" } th { "Alert" } th { "Labels" } th { "Since" } th { "Acknowledged" }
                        @if can { th { "Act" } } } }
                    tbody {
                        @for v in &active {
                            tr data-alert=(v.alert.fingerprint) data-name=(v.alert.name) {
                                td { (chip(v.state.as_str())) }
                                td { (chip(v.alert.severity.as_str())) }
                                td { strong { (v.alert.summary) } br; span.hint.mono { (v.alert.name) " · " (v.alert.source) } }
                                td.mono { @for (k, val) in &v.alert.labels { (k) "=" (val) br; } }
                                td { (time(&v.starts_at)) }
                                td { @if let Some(a) = &v.acknowledged { "by " (a.by) @if !a.comment.is_empty() { ": " (a.comment) } } }
                                @if can {
                                    td {
                                        @if v.acknowledged.is_none() && v.alert.status == crate::alerts::AlertStatus::Firing {
                                            form.inline method="post" action=(ctx.at(&format!("alerts/{}/ack", v.alert.fingerprint))) {
                                                label.skip for=(format!("ack-{}", v.alert.fingerprint)) { "Comment" }
                                                input type="text" name="comment" id=(format!("ack-{}", v.alert.fingerprint)) placeholder="comment (optional)";
                                                button type="submit" { "Acknowledge" }
                                            }
                                        }
                                        a href=(ctx.at(&format!("alerts?silence={}#new-silence", v.alert.fingerprint))) { "Silence…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Silences" }
        div #silences data-live="" {
            @if silences.is_empty() { p.hint { "No active or pending silences." } }
            @else {
                table {
                    thead { tr { th { "State" } th { "Matchers" } th { "Comment" } th { "By" } th { "From" } th { "Until" } @if can { th { "Act" } } } }
                    tbody {
                        @for s in &silences {
                            @let view = s.view(now);
                            tr data-silence=(s.id) {
                                td { (chip(view.state)) }
                                td.mono { @for m in &view.matchers { (m) br; } }
                                td { (s.comment) @if super::status::maintenance_text(&s.comment).is_some() { " " span.chip.none { "on the status page" } } }
                                td { (s.created_by) }
                                td { (time(&view.starts_at)) }
                                td { (time(&view.ends_at)) }
                                @if can {
                                    td {
                                        @if view.state != "expired" {
                                            form.inline method="post" action=(ctx.at(&format!("silences/{}/expire", s.id))) {
                                                button type="submit" { "Expire" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if can {
            h2 #new-silence { "New silence" }
            form.stack method="post" action=(ctx.at("silences")) {
                label for="matchers" { "Matchers, one per line (all must match)" }
                textarea #matchers name="matchers" rows="4" required placeholder="alertname=\"ProbeFailing\"\nprobe=~\"api.*\"" {
                    (prefill.unwrap_or_default())
                }
                label for="duration" { "Duration" }
                input #duration type="text" name="duration" value="2h" required;
                label for="comment" { "Comment" }
                input #comment type="text" name="comment" required;
                label { input type="checkbox" name="maintenance" value="on"; " Show on the status page as maintenance" }
                button.primary type="submit" { "Create silence" }
            }
        }
        h2 { "Recent changes" }
        div #history data-live="" {
            table {
                thead { tr { th { "When" } th { "Change" } th { "Alert" } th { "Severity" } } }
                tbody {
                    @for h in &history {
                        tr { td { (time(&h.at)) } td { (chip(&h.detail)) } td { (h.name) " " span.hint.mono { (h.fingerprint) } } td { (h.severity) } }
                    }
                }
            }
        }
        h2 { "Notifications" }
        div #notifications data-live="" {
            @if notifications.is_empty() { p.hint { "Nothing sent yet." } }
            @else {
                table {
                    thead { tr { th.num { "Id" } th { "Queued" } th { "Channel" } th { "Kind" } th { "Status" } th.num { "Attempts" } th { "Delivery" } } }
                    tbody {
                        @for n in &notifications {
                            tr data-notification=(n.id) {
                                td.num { (n.id) }
                                td { (time(&n.created_at)) }
                                td { (n.channel) }
                                td { (n.kind) }
                                td { (chip(&n.status)) }
                                td.num { (n.attempts) }
                                td {
                                    @if let Some(list) = attempts.get(&n.id) {
                                        details {
                                            summary { (list.len()) " attempt(s)" @if let Some(e) = &n.last_error { ": " (e) } }
                                            ol { @for a in list {
                                                li { (time(&a.at)) " " (chip(&a.outcome))
                                                    @if let Some(ms) = a.duration_ms { " " (ms) " ms" }
                                                    @if let Some(e) = &a.error { " · " (e) } }
                                            } }
                                        }
                                    } @else { (n.last_error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page::shell(&ctx, Nav::Alerts, "Alerts", body)
}

/// Back to the alerts page, saying how it went.
fn back(ctx: &Ctx, key: &str, message: &str) -> Response {
    let q = serde_urlencoded::to_string([(key, message)]).unwrap_or_default();
    Redirect::to(&ctx.at(&format!("alerts?{q}"))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AckForm {
    #[serde(default)]
    comment: String,
}

/// `POST {path}alerts/{fingerprint}/ack` (operators).
pub(super) async fn ack(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    Path(fp): Path<String>,
    Form(f): Form<AckForm>,
) -> Response {
    match svc.alerts.ack(&fp, &ctx.actor.name, f.comment).await {
        Ok(Ok(v)) => {
            tracing::info!(alert = %fp, by = %ctx.actor.name, "console: alert acknowledged");
            back(&ctx, "done", &format!("Acknowledged {}.", v.alert.name))
        }
        Ok(Err(why)) => back(&ctx, "error", &why.to_string()),
        Err(e) => back(&ctx, "error", &e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SilenceForm {
    matchers: String,
    duration: String,
    comment: String,
    #[serde(default)]
    maintenance: Option<String>,
}

/// `POST {path}silences` (operators).
pub(super) async fn create_silence(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<SilenceForm>,
) -> Response {
    let comment = f.comment.trim();
    let comment = match (
        f.maintenance.is_some(),
        super::status::maintenance_text(comment),
    ) {
        (true, None) => format!(
            "{}{}",
            super::status::MAINTENANCE,
            format_args!(" {comment}")
        ),
        _ => comment.to_owned(),
    };
    let new = NewSilence {
        matchers: f
            .matchers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        comment,
        created_by: None,
        starts_at: None,
        ends_at: None,
        duration: Some(f.duration.trim().to_owned()),
    };
    let silence = match new.into_silence(&ctx.actor.name) {
        Ok(s) => s,
        Err(e) => return back(&ctx, "error", &format!("The silence was not created: {e}")),
    };
    if let Err(e) = svc.alerts.repo().insert_silence(&silence).await {
        return back(&ctx, "error", &format!("Storing the silence failed: {e}"));
    }
    if let Err(e) = svc.alerts.silences_changed().await {
        return back(&ctx, "error", &e.to_string());
    }
    tracing::info!(silence = %silence.id, by = %ctx.actor.name, "console: silence created");
    back(
        &ctx,
        "done",
        &format!(
            "Silence {} created, until {}.",
            silence.id,
            rfc3339(silence.ends_ms)
        ),
    )
}

/// `POST {path}silences/{id}/expire` (operators).
pub(super) async fn expire_silence(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    match svc.alerts.repo().expire_silence(&id).await {
        Ok(true) => {}
        Ok(false) => {
            return back(
                &ctx,
                "error",
                &format!("No active or pending silence {id}."),
            );
        }
        Err(e) => return back(&ctx, "error", &format!("Expiring the silence failed: {e}")),
    }
    if let Err(e) = svc.alerts.silences_changed().await {
        return back(&ctx, "error", &e.to_string());
    }
    tracing::info!(silence = %id, by = %ctx.actor.name, "console: silence expired");
    back(&ctx, "done", &format!("Silence {id} expired."))
}
