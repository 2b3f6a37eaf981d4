//! `GET /v1/config` and `PUT /v1/config`: the live settings.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::Actor;
use super::error::{ApiError, from_rejection};
use crate::audit::AuditEntry;
use crate::clock::now_ms;
use crate::live::shared::Shared;
use crate::live::{Live, LivePatch, PatchError};
use crate::service::Service;

pub(super) async fn get_config(State(svc): State<Arc<Service>>) -> Response {
    axum::Json(&*svc.live()).into_response()
}

/// Checks the change as a whole, writes it to the audit log, then applies it
/// in one step; a refused change leaves everything as it was. Among
/// replicas the change is stored with its audit entry, in one commit, and
/// every replica follows it.
pub(super) async fn put_config(
    State(svc): State<Arc<Service>>,
    actor: Option<Extension<Actor>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let actor = actor.map_or_else(Actor::anonymous, |Extension(a)| a);
    let body = body.map_err(|r| from_rejection(r.status(), r.body_text()))?;
    let _guard = svc.live_change.lock().await;
    let detail = String::from_utf8_lossy(&body)
        .chars()
        .take(2000)
        .collect::<String>();
    let audit = |result: String| AuditEntry {
        at_ms: now_ms(),
        actor: actor.name.clone(),
        action: "config.update".into(),
        target: "/v1/config".into(),
        result,
        detail: detail.clone(),
    };
    let outcome = match serde_json::from_slice::<LivePatch>(&body) {
        Err(e) => Err(ApiError::bad_request(
            "invalid_json",
            format!("the body is not a valid change: {e}"),
        )),
        Ok(patch) => match &svc.shared_live {
            None => match patched(&svc.live(), &patch) {
                // Audit first: a change that cannot be recorded is not made.
                Ok(next) => svc
                    .audit
                    .append(audit("ok".into()))
                    .await
                    .map(|_| next)
                    .map_err(ApiError::from),
                Err(e) => Err(e),
            },
            Some(shared) => publish(&svc, shared, &patch, || audit("ok".into())).await,
        },
    };
    match outcome {
        Ok(next) => {
            let revision = next.revision;
            svc.set_live(next);
            svc.metrics
                .config_changes
                .with_label_values(&["applied"])
                .inc();
            tracing::info!(actor = %actor.name, revision, "live configuration changed: {detail}");
            Ok(axum::Json(&*svc.live()).into_response())
        }
        // The store failed: nothing was decided, nothing to audit.
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => Err(e),
        Err(e) => {
            svc.metrics
                .config_changes
                .with_label_values(&["rejected"])
                .inc();
            tracing::warn!(actor = %actor.name, "live configuration change refused: {}", e.message);
            if let Err(store) = svc
                .audit
                .append(audit(format!("rejected: {}", e.message)))
                .await
            {
                tracing::error!("cannot audit a refused change: {store}");
            }
            Err(e)
        }
    }
}

/// `current` with `patch` applied, or the API's answer why not.
fn patched(current: &Live, patch: &LivePatch) -> Result<Live, ApiError> {
    current.patched(patch).map_err(|e| match e {
        PatchError::Conflict { .. } => {
            ApiError::new(StatusCode::CONFLICT, "revision_conflict", e.to_string())
        }
        PatchError::Invalid(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", m)
        }
    })
}

/// Applies `patch` to the replicas' stored settings: against the newest
/// revision, again if another replica changed them meanwhile (a patch that
/// names its revision then fails as a conflict).
async fn publish(
    svc: &Service,
    shared: &Shared,
    patch: &LivePatch,
    audit: impl Fn() -> AuditEntry,
) -> Result<Live, ApiError> {
    for _ in 0..5 {
        let current = match shared.read().await? {
            Some(stored) => stored,
            None => (*svc.live()).clone(),
        };
        let next = patched(&current, patch)?;
        if shared.publish(current.revision, &next, audit()).await? {
            return Ok(next);
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "revision_conflict",
        "other replicas kept changing the configuration meanwhile; try again",
    ))
}
