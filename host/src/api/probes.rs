//! `/v1/probes`: probe instances, their state and results; running one now.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::clock::rfc3339;
use crate::probes::{Instance, Scheduler};

/// An instance as listed: its spec in short, its state and last result
/// (among replicas, as the replica running it stored them; `runs_here` says
/// whether that is this one, and `runs` counts this replica's own runs).
fn summary(probes: &Scheduler, p: &Instance) -> Value {
    let shown = probes.shown(p);
    let st = p.status.lock().expect("probe status lock");
    let spec = &p.spec;
    json!({
        "name": spec.name,
        "plugin": spec.plugin,
        "state": shown.state,
        "since": rfc3339(shown.since_ms),
        "runs_here": shown.here,
        "critical": spec.critical,
        "labels": spec.labels,
        "interval_ms": spec.interval.as_millis() as u64,
        "timeout_ms": spec.timeout.as_millis() as u64,
        "runs": st.runs,
        "skipped_runs": st.skipped,
        "last_result": shown.last_result,
    })
}

/// `GET /v1/probes`.
pub(super) async fn probes(State(probes): State<super::Probes>) -> Response {
    let list: Vec<Value> = probes.all().iter().map(|p| summary(&probes, p)).collect();
    axum::Json(json!({ "probes": list })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    #[serde(default = "fifty")]
    limit: u32,
}

fn fifty() -> u32 {
    50
}

fn find(probes: &Scheduler, name: &str) -> Result<Arc<Instance>, ApiError> {
    probes.get(name).ok_or_else(|| {
        ApiError::not_found(
            "unknown_probe",
            format!("no probe instance named {name:?} (see GET /v1/probes)"),
        )
    })
}

/// `GET /v1/probes/{name}?limit=N`: the instance, its grants, recent results
/// (memory) and stored history (newest first, at most `limit`, up to 1000).
pub(super) async fn probe(
    State(probes): State<super::Probes>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    let p = find(&probes, &name)?;
    let limit = super::check_limit(q.limit)?;
    let history = probes
        .history(&name, limit)
        .await
        .map_err(|e| ApiError::store("reading the probe history", e))?;
    let mut body = summary(&probes, &p);
    let g = &p.spec.grants;
    let list =
        |v: &[crate::runtime::HostPort]| v.iter().map(|h| h.text.clone()).collect::<Vec<_>>();
    body["settled_state"] = json!(
        p.status
            .lock()
            .expect("probe status lock")
            .tracker
            .settled()
    );
    body["failure_threshold"] = json!(p.spec.failure_threshold);
    body["success_threshold"] = json!(p.spec.success_threshold);
    body["origin"] = json!(p.spec.origin);
    body["grants"] = json!({
        "allow_http": list(&g.http),
        "allow_tcp": list(&g.tcp),
        "allow_dns": g.dns,
        "allow_read": g.read,
        "allow_system": g.system,
    });
    body["recent_results"] = json!(
        p.status
            .lock()
            .expect("probe status lock")
            .recent
            .iter()
            .rev()
            .collect::<Vec<_>>()
    );
    body["history"] = json!(history);
    let uptime = probes
        .results()
        .uptime(crate::clock::now_ms(), Some(std::slice::from_ref(&name)))
        .await
        .map_err(|e| ApiError::store("reading the probe's uptime", e))?;
    body["uptime"] = uptime_json(uptime.get(&name).copied().unwrap_or_default());
    Ok(axum::Json(body).into_response())
}

/// Uptime per window: percent up (`null` without results), results counted
/// and mean response time.
pub(crate) fn uptime_json(u: crate::probes::Uptime) -> Value {
    let w = |c: crate::probes::Counts| json!({"percent": c.percent(), "up": c.up, "total": c.total, "mean_ms": c.mean_ms()});
    json!({"24h": w(u.day), "7d": w(u.week), "30d": w(u.month)})
}

/// `POST /v1/probes/{name}/run`: runs the instance now (after a run in
/// progress), records the result like a scheduled one, and answers it with
/// the state after it.
pub(super) async fn run(
    State(probes): State<super::Probes>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = find(&probes, &name)?;
    let result = probes.run_now(&p).await;
    Ok(axum::Json(json!({
        "probe": name,
        "state": p.state(),
        "result": result,
    }))
    .into_response())
}
