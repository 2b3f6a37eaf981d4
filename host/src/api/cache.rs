//! `/v1/cache`: the result cache's numbers, and clearing it (audited).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Actor;
use super::error::ApiError;
use crate::audit::AuditEntry;
use crate::clock::now_ms;
use crate::service::Service;

/// `GET /v1/cache/stats`.
pub(super) async fn cache_stats(State(svc): State<Arc<Service>>) -> Response {
    let s = svc.validation.pipeline().cache().stats();
    let live = svc.live();
    let lookups = s.hits + s.misses;
    axum::Json(json!({
        "enabled": live.cache.enabled,
        "ttl_secs": live.cache.ttl_secs,
        "max_entries": svc.config.validation.cache.max_entries,
        "entries": s.entries,
        "hits": s.hits,
        "misses": s.misses,
        "hit_ratio": if lookups == 0 { None } else { Some(s.hits as f64 / lookups as f64) },
    }))
    .into_response()
}

/// `POST /v1/cache/clear`.
pub(super) async fn cache_clear(
    State(svc): State<Arc<Service>>,
    actor: Option<Extension<Actor>>,
) -> Result<Response, ApiError> {
    let actor = actor.map_or_else(Actor::anonymous, |Extension(a)| a);
    let cleared = svc.validation.pipeline().cache().clear();
    svc.audit
        .append(AuditEntry {
            at_ms: now_ms(),
            actor: actor.name.clone(),
            action: "cache.clear".into(),
            target: "/v1/cache".into(),
            result: "ok".into(),
            detail: format!("{cleared} entries"),
        })
        .await?;
    tracing::info!(actor = %actor.name, cleared, "result cache cleared");
    Ok(axum::Json(json!({ "cleared": cleared })).into_response())
}
