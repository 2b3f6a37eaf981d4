//! `POST /v1/validate?level=L&plugin=NAME&name=SUBJECT`: validate the request body.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::auth::Actor;
use super::error::{ApiError, from_rejection};
use super::query_pairs;
use crate::service::Service;
use crate::validate::Source;
use crate::validate::{Level, Request, SubjectInput, ValidateError};

pub(super) async fn validate(
    State(svc): State<Arc<Service>>,
    actor: Option<Extension<Actor>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(why) = svc.unready_reason() {
        return Err(refused(&svc, "not_ready", why.to_owned()));
    }
    let live = svc.live();
    let mut level = live.default_level;
    let mut only = Vec::new();
    let mut name = None;
    for (k, v) in query_pairs(query.as_deref(), &["level", "plugin", "name"])? {
        match k.as_str() {
            "level" => {
                level = v
                    .parse::<Level>()
                    .map_err(|e| ApiError::bad_request("unknown_level", e.to_string()))?;
            }
            "plugin" => only.push(v),
            _ => name = Some(v),
        }
    }
    let body = body.map_err(|r| {
        let mut e = from_rejection(r.status(), r.body_text());
        if e.status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            e.message = format!(
                "the body is larger than server.max_body_bytes ({} bytes)",
                svc.config.server.max_body_bytes
            );
        }
        e
    })?;
    let Ok(_slot) = svc.validation_slots.try_acquire() else {
        let running = svc.config.server.max_concurrent_validations;
        return Err(refused(
            &svc,
            "overloaded",
            format!(
                "{running} validations are already running (server.max_concurrent_validations); retry shortly"
            ),
        ));
    };
    let name = name.unwrap_or_else(|| "request".into());
    let mut subject = SubjectInput::new(name, body.to_vec());
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        subject.content_type = ct.to_owned();
    }
    let actor = actor.map(|Extension(a)| a);
    let actor_name = actor
        .as_ref()
        .filter(|_| svc.auth.enabled())
        .map(|a| a.name.as_str());
    let req = Request {
        subject: &subject,
        level,
        only: &only,
        budget: live.budget_ms.get(level).map(Duration::from_millis),
        source: Source::Api,
        actor: actor_name,
    };
    let recorded = match svc.validation.validate_and_record(req).await {
        Ok((_, recorded)) => recorded,
        Err(ValidateError::UnknownPlugin(e)) => {
            return Err(ApiError::bad_request("unknown_plugin", e.to_string()));
        }
        Err(e @ ValidateError::NoValidators(_)) => {
            return Err(ApiError::unavailable("no_validators", e.to_string(), 30));
        }
        // A plugin refused a slot did not check the subject: no report, a retry.
        Err(ValidateError::Busy { plugins, why }) => {
            let why = format!("{plugins}: {why}; retry shortly");
            return Err(refused(&svc, "plugin_busy", why));
        }
        Err(ValidateError::Store(e)) => return Err(ApiError::store("storing the report", e)),
    };
    let id = recorded.id;
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        recorded.to_json(&Source::Api, actor_name),
    )
        .into_response();
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v1/reports/{id}")).expect("ascii"),
    );
    Ok(resp)
}

/// A 503 the client should retry in a second, counted by `reason` in
/// `assay_validations_rejected_total`.
fn refused(svc: &Service, reason: &'static str, message: String) -> ApiError {
    (svc.metrics.validations_rejected)
        .with_label_values(&[reason])
        .inc();
    ApiError::unavailable(reason, message, 1)
}
