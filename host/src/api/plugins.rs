//! `/v1/plugins`: what is loaded, what failed or waits for approval, reload
//! events, a rescan, approving an upgrade, and lifting a quarantine.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Actor;
use super::error::ApiError;
use crate::audit::AuditEntry;
use crate::clock::now_ms;
use crate::registry::Plugin;
use crate::service::{ApproveError, LoadFailure, PendingUpgrade, Service};
use crate::validate::PluginStats;

/// A plugin as the API shows it: `state` is `loaded`; `failed` when its
/// file's latest version did not load (the previous version, if any, is
/// what `serving` describes and what still answers); or `pending` when its
/// file's latest version waits for approval (`pending` says what it asks).
fn plugin_json(
    p: Option<&Plugin>,
    stats: Option<&PluginStats>,
    failure: Option<&LoadFailure>,
    pending: Option<&PendingUpgrade>,
) -> Value {
    let serving = p.map(|p| {
        let s = &p.settings;
        json!({
            "kind": p.kind,
            "version": p.info.version,
            "description": p.info.description,
            "digest": p.digest,
            "size_bytes": p.size,
            // Exports `prepare`: its config is checked by the plugin at load.
            "prepares": p.prepares,
            "config_digest": p.config_digest,
            // Per config: the prepared snapshot calls start from once `ready`.
            "snapshots": p.snapshots.as_ref().map(|s| s.states()),
            "enabled": s.enabled,
            "min_level": s.min_level,
            "timeout_ms": s.limits.timeout.as_millis() as u64,
            "memory_limit_mib": s.limits.memory >> 20,
            "max_concurrency": p.gate.policy().share,
            "max_queue_ms": p.gate.policy().max_queue.as_millis() as u64,
            "quarantine": p.gate.quarantine(),
            // Stateless and not refused by the operator: a clean call's
            // instance serves the plugin's next call.
            "reuse_instances": p.reuses_instances(),
            "settings_file": s.sidecar.as_ref().map(|p| p.display().to_string()),
        })
    });
    let mut v = serving.clone().unwrap_or_else(|| json!({}));
    v["name"] = json!(
        p.map(|p| p.name.to_string())
            .or(failure.map(|f| f.name.clone()))
    );
    v["file"] = json!(
        p.map(|p| p.file.display().to_string())
            .or(failure.map(|f| f.file.clone()))
    );
    v["state"] = json!(if failure.is_some() {
        "failed"
    } else if pending.is_some() {
        "pending"
    } else {
        "loaded"
    });
    if let (Some(up), Some(name)) = (pending, p.map(|p| &p.name)) {
        v["pending"] = json!(up);
        v["pending"]["approve"] = json!(format!("/v1/plugins/{name}/approve?digest={}", up.digest));
    }
    v["calls"] = stats.map_or_else(|| json!(PluginStats::default().calls), |s| json!(s.calls));
    // The load failure, else the last failed call.
    v["last_error"] = match failure {
        Some(f) => json!(f.error),
        None => json!(stats.and_then(|s| s.last_error.clone())),
    };
    if failure.is_some() {
        v["serving"] = serving.unwrap_or(Value::Null);
    }
    v
}

/// `GET /v1/plugins`: loaded plugins, and files that failed to load.
pub(super) async fn plugins(State(svc): State<Arc<Service>>) -> Response {
    axum::Json(json!({ "plugins": plugin_list(&svc) })).into_response()
}

/// Every plugin as `GET /v1/plugins` shows it (the console shows the same).
pub(crate) fn plugin_list(svc: &Service) -> Vec<Value> {
    let registry = svc.plugins.registry();
    let calls = svc.validation.calls();
    let failures = svc.reloads.failures();
    let pending = svc.reloads.pending.all();
    let mut list: Vec<Value> = (registry.plugins.iter())
        .map(|p| {
            let name = &*p.name;
            plugin_json(
                Some(p),
                calls.stats.get(name),
                failures.get(name),
                pending.get(name),
            )
        })
        .collect();
    for (name, f) in failures.iter() {
        if registry.get(name).is_none() {
            list.push(plugin_json(None, calls.stats.get(name), Some(f), None));
        }
    }
    list
}

/// `GET /v1/plugins/{name}`.
pub(super) async fn plugin(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let registry = svc.plugins.registry();
    let calls = svc.validation.calls();
    let failures = svc.reloads.failures();
    let p = registry.get(&name);
    let failure = failures.get(&name);
    if p.is_none() && failure.is_none() {
        return Err(ApiError::not_found(
            "unknown_plugin",
            format!("no plugin named {name:?} in {}", registry.dir.display()),
        ));
    }
    let pending = svc.reloads.pending.get(&name);
    Ok(axum::Json(plugin_json(
        p.map(|p| &**p),
        calls.stats.get(&name),
        failure,
        pending.as_ref(),
    ))
    .into_response())
}

/// `POST /v1/plugins/{name}/release`: lifts a quarantine now (admin, audited).
pub(super) async fn plugin_release(
    State(svc): State<Arc<Service>>,
    actor: Option<Extension<Actor>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let actor = actor.map_or_else(Actor::anonymous, |Extension(a)| a);
    let registry = svc.plugins.registry();
    let Some(p) = registry.get(&name) else {
        return Err(ApiError::not_found(
            "unknown_plugin",
            format!("no plugin named {name:?} is loaded"),
        ));
    };
    let was = p.gate.release();
    if was {
        svc.released(&p.name);
    }
    svc.audit
        .append(AuditEntry {
            at_ms: now_ms(),
            actor: actor.name.clone(),
            action: "plugins.release".into(),
            target: format!("/v1/plugins/{name}"),
            result: "ok".into(),
            detail: if was {
                "quarantine lifted".into()
            } else {
                "was not quarantined".into()
            },
        })
        .await?;
    tracing::info!(actor = %actor.name, plugin = %name, released = was, "plugin release requested");
    Ok(
        axum::Json(json!({ "plugin": name, "released": was, "quarantine": p.gate.quarantine() }))
            .into_response(),
    )
}

/// `?digest=`: approve only this version (what `GET /v1/plugins/{name}` showed).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApproveQuery {
    digest: Option<String>,
}

/// `POST /v1/plugins/{name}/approve`: lets the version that waits for
/// approval go live (admin, audited). Answers what was approved and the
/// reload event of the rescan that loaded it.
pub(super) async fn plugin_approve(
    State(svc): State<Arc<Service>>,
    actor: Option<Extension<Actor>>,
    Path(name): Path<String>,
    Query(q): Query<ApproveQuery>,
) -> Result<Response, ApiError> {
    let actor = actor.map_or_else(Actor::anonymous, |Extension(a)| a);
    let approval = svc
        .approve(&name, q.digest.as_deref())
        .await
        .map_err(|e| match e {
            ApproveError::NotPending(_) => ApiError::not_found("not_pending", e.to_string()),
            ApproveError::OtherDigest { .. } => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "other_digest",
                e.to_string(),
            ),
        })?;
    let live =
        (approval.event.as_ref()).is_some_and(|e| e.outcome == crate::registry::ReloadOutcome::Ok);
    let up = &approval.approved;
    let grants: Vec<String> = up.new_grants.iter().map(|g| g.what()).collect();
    svc.audit
        .append(AuditEntry {
            at_ms: now_ms(),
            actor: actor.name.clone(),
            action: "plugins.approve".into(),
            target: format!("/v1/plugins/{name}"),
            result: if live { "ok" } else { "failed" }.into(),
            detail: format!(
                "version {} ({}) with new grants: {}{}",
                up.version,
                up.digest,
                grants.join(", "),
                match (&approval.event, live) {
                    (_, true) => String::new(),
                    (Some(e), false) => format!(
                        "; not live: {}",
                        e.error.as_deref().unwrap_or(e.outcome.as_str())
                    ),
                    (None, false) => "; not live: its file is gone".to_owned(),
                }
            ),
        })
        .await?;
    tracing::info!(actor = %actor.name, plugin = %name, version = %up.version, live, "plugin upgrade approved");
    let status = if live {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::CONFLICT
    };
    Ok((
        status,
        axum::Json(json!({ "live": live, "approval": approval })),
    )
        .into_response())
}

/// `GET /v1/plugins/events`: recent reloads, newest first.
pub(super) async fn plugin_events(State(svc): State<Arc<Service>>) -> Response {
    let mut events = svc.reloads.events();
    events.reverse();
    axum::Json(json!({ "events": events })).into_response()
}

/// `POST /v1/plugins/reload`: rescan the whole directory now; answers what changed.
pub(super) async fn plugins_reload(
    State(svc): State<Arc<Service>>,
    actor: Option<Extension<Actor>>,
) -> Result<Response, ApiError> {
    let actor = actor.map_or_else(Actor::anonymous, |Extension(a)| a);
    let events = svc.rescan("api", true).await;
    let failed = events
        .iter()
        .filter(|e| e.outcome == crate::registry::ReloadOutcome::Failed)
        .count();
    svc.audit
        .append(AuditEntry {
            at_ms: now_ms(),
            actor: actor.name.clone(),
            action: "plugins.reload".into(),
            target: "/v1/plugins".into(),
            result: "ok".into(),
            detail: format!("{} change(s), {failed} failed", events.len()),
        })
        .await?;
    tracing::info!(actor = %actor.name, changes = events.len(), "plugin directory rescanned");
    Ok(axum::Json(json!({ "events": events })).into_response())
}
