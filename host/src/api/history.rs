//! What the host recorded: `/v1/reports` (the validation history, with
//! filters and paging), `/v1/monitors` and `/v1/audit`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, from_rejection};
use super::query_pairs;
use crate::clock::now_ms;
use crate::service::Service;
use crate::validate::{ReportQuery, Verdict};

fn parse_since(v: &str) -> Result<i64, ApiError> {
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        return Ok(ms);
    }
    if let Ok(ago) = humantime::parse_duration(v) {
        return Ok(now_ms() - ago.as_millis() as i64);
    }
    Err(ApiError::bad_request(
        "bad_since",
        format!(
            "since={v:?}: give an RFC 3339 time (2026-11-22T10:00:00Z) or an age (15m, 2h, 7days)"
        ),
    ))
}

/// `GET /v1/reports?subject=&verdict=&source=&since=&before=&limit=`: newest first.
pub(super) async fn reports(
    State(svc): State<Arc<Service>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = ReportQuery {
        limit: 50,
        ..Default::default()
    };
    let known = ["subject", "verdict", "source", "since", "before", "limit"];
    for (k, v) in query_pairs(query.as_deref(), &known)? {
        match k.as_str() {
            "subject" => q.subject = Some(v),
            "verdict" => {
                if ![Verdict::Pass, Verdict::Warn, Verdict::Error, Verdict::Fail]
                    .iter()
                    .any(|x| x.as_str() == v)
                {
                    return Err(ApiError::bad_request(
                        "bad_verdict",
                        format!("verdict={v:?}: expected pass, warn, error or fail"),
                    ));
                }
                q.verdict = Some(v);
            }
            "source" => q.source = Some(v),
            "since" => q.since_ms = Some(parse_since(&v)?),
            "before" => {
                q.before_id = Some(v.parse().map_err(|_| {
                    ApiError::bad_request(
                        "bad_before",
                        format!("before={v:?}: expected a report id"),
                    )
                })?);
            }
            _ => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "bad_limit",
                            format!("limit={v:?}: expected 1 to 1000"),
                        )
                    })?;
            }
        }
    }
    let limit = q.limit as usize;
    let list = svc.validation.reports().list(q).await?;
    let next = (list.len() == limit)
        .then(|| list.last().map(|r| r.id))
        .flatten();
    Ok(axum::Json(json!({ "reports": list, "next_before": next })).into_response())
}

/// `GET /v1/reports/{id}`.
pub(super) async fn report(
    State(svc): State<Arc<Service>>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|r| {
        let mut e = from_rejection(r.status(), r.body_text());
        e.code = "bad_report_id";
        e.message = "a report id is a number".into();
        e
    })?;
    match svc.validation.reports().get(id).await? {
        Some(v) => Ok(axum::Json(v).into_response()),
        None => Err(ApiError::not_found(
            "unknown_report",
            format!("no report {id}"),
        )),
    }
}

/// `GET /v1/monitors`.
pub(super) async fn monitors(State(svc): State<Arc<Service>>) -> Response {
    axum::Json(json!({ "monitors": svc.monitors.list(&svc.live()) })).into_response()
}

/// `GET /v1/audit?limit=`: the newest audit entries (admin).
pub(super) async fn audit(
    State(svc): State<Arc<Service>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut limit = 100;
    for (_, v) in query_pairs(query.as_deref(), &["limit"])? {
        limit = v
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("bad_limit", format!("limit={v:?}: expected 1 to 1000"))
            })?;
    }
    let entries = svc.audit.list(limit).await?;
    Ok(axum::Json(json!({ "entries": entries })).into_response())
}
