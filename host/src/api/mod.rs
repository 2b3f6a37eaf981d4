//! The HTTP API (axum): routes, the middleware stack, and one module per resource.
//!
//! Every answer is JSON (`/metrics` aside), errors included ([`error`]);
//! unknown routes, wrong methods, bad parameters and panics too. The
//! console's HTML pages ([`crate::console`]) are merged in beside it, and
//! every answer is gzipped when the client asks.

mod alerts;
mod am;
pub(crate) mod auth;
mod cache;
mod cluster;
mod config;
pub(crate) mod error;
mod health;
mod history;
pub(crate) mod plugins;
pub(crate) mod probes;
pub(crate) mod tls;
mod validate;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::service::Service;
use error::ApiError;

/// A list's `limit`: 1 to 1000, or a 400 naming the range.
fn check_limit(limit: u32) -> Result<u32, ApiError> {
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request(
            "bad_limit",
            "limit must be between 1 and 1000",
        ));
    }
    Ok(limit)
}

/// The default `limit` of a list.
fn hundred() -> u32 {
    100
}

/// Handlers that need only the probe scheduler take it alone (`State<Probes>`).
#[derive(Clone)]
pub(crate) struct Probes(Arc<crate::probes::Scheduler>);

impl std::ops::Deref for Probes {
    type Target = crate::probes::Scheduler;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl axum::extract::FromRef<Arc<Service>> for Probes {
    fn from_ref(svc: &Arc<Service>) -> Self {
        Probes(svc.probes.clone())
    }
}

/// Handlers that need only alerting take it alone (`State<Alerting>`).
impl axum::extract::FromRef<Arc<Service>> for crate::alerts::Alerting {
    fn from_ref(svc: &Arc<Service>) -> Self {
        svc.alerts.clone()
    }
}

/// The whole API over `svc`.
pub(crate) fn router(svc: Arc<Service>) -> Router {
    let body_limit = svc.config.server.max_body_bytes;
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/v1/metrics", get(health::metrics_json))
        .route("/v1/validate", post(validate::validate))
        .route("/v1/plugins", get(plugins::plugins))
        .route("/v1/plugins/events", get(plugins::plugin_events))
        .route("/v1/plugins/reload", post(plugins::plugins_reload))
        .route("/v1/plugins/{name}", get(plugins::plugin))
        .route("/v1/plugins/{name}/release", post(plugins::plugin_release))
        .route("/v1/plugins/{name}/approve", post(plugins::plugin_approve))
        .route(
            "/v1/config",
            get(config::get_config).put(config::put_config),
        )
        .route("/v1/cache/stats", get(cache::cache_stats))
        .route("/v1/cache/clear", post(cache::cache_clear))
        .route("/v1/reports", get(history::reports))
        .route("/v1/reports/{id}", get(history::report))
        .route("/v1/monitors", get(history::monitors))
        .route("/v1/probes", get(probes::probes))
        .route("/v1/probes/{name}", get(probes::probe))
        .route("/v1/probes/{name}/run", post(probes::run))
        .route("/v1/audit", get(history::audit))
        .route("/v1/cluster", get(cluster::cluster))
        .route("/v1/alerts", get(alerts::list).post(alerts::post))
        .route("/v1/alerts/history", get(alerts::history))
        .route("/v1/alerts/{fingerprint}/ack", post(alerts::ack))
        .route("/v1/alerts/{fingerprint}/trail", get(alerts::trail))
        .route("/v1/notifications", get(alerts::notifications))
        .route("/v1/notifications/{id}/retry", post(alerts::retry))
        .route(
            "/v1/silences",
            get(alerts::list_silences).post(alerts::create_silence),
        )
        .route("/v1/silences/{id}", delete(alerts::expire_silence))
        .route("/api/v2/alerts", get(am::get_alerts).post(am::post_alerts))
        .route("/api/v2/alerts/groups", get(am::get_groups))
        .route(
            "/api/v2/silences",
            get(am::get_silences).post(am::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(am::get_silence).delete(am::delete_silence),
        )
        .route("/api/v2/status", get(am::status))
        .route("/api/v2/receivers", get(am::receivers))
        .layer(middleware::from_fn_with_state(
            svc.clone(),
            auth::require_role,
        ))
        // The console and the public pages check their own callers (a cookie or a bearer token).
        .merge(crate::console::router(&svc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        // gzip whenever the client asks (`Accept-Encoding`); tiny answers stay plain.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn_with_state(svc.clone(), observe))
        .with_state(svc)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(
        "not_found",
        format!("no such endpoint: {}", req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal("internal error (the host logged it)").into_response()
}

/// Counts and times every request by route, method and status, and says
/// the time in a `Server-Timing` header.
async fn observe(State(svc): State<Arc<Service>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    // A trace span per request, continuing the caller's trace (W3C `traceparent`).
    let span = tracing::info_span!(
        target: crate::telemetry::traces::TARGET,
        "http.server",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        url.path = %req.uri().path(),
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if !span.is_disabled() {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let _ = span.set_parent(crate::telemetry::traces::extract(req.headers()));
    }
    let mut resp = {
        use tracing::Instrument as _;
        next.run(req).instrument(span.clone()).await
    };
    let status = resp.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        crate::telemetry::traces::failed(&span, status.as_str());
    }
    // How long the server took, for browsers' developer tools and bench/console.sh.
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("render;dur={ms:.2}")) {
        resp.headers_mut().insert("server-timing", v);
    }
    svc.metrics
        .http_requests
        .with_label_values(&[&route, &method, status.as_str()])
        .inc();
    svc.metrics
        .http_seconds
        .with_label_values(&[&route, &method])
        .observe(started.elapsed().as_secs_f64());
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(%route, %method, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(%route, %method, status = status.as_u16(), "request");
    }
    resp
}

/// The query string as ordered (key, value) pairs, rejecting keys not in `known`.
pub(crate) fn query_pairs(
    raw: Option<&str>,
    known: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request("bad_query", format!("malformed query string: {e}")))?;
    for (k, _) in &pairs {
        if !known.contains(&k.as_str()) {
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!(
                    "unknown query parameter {k:?} (known: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(pairs)
}
