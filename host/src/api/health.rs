//! `/health`, `/ready` (application/health+json) and `/metrics` (Prometheus text format).
//!
//! The health shape follows the IETF draft "Health Check Response Format for
//! HTTP APIs": `status` pass/warn/fail and a `checks` map of
//! `component:measurement` to a list of observations.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::clock::{now_ms, rfc3339};
use crate::service::Service;

fn health_json(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/health+json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn worst<'a>(statuses: impl IntoIterator<Item = &'a str>) -> &'a str {
    let rank = |s: &str| match s {
        "fail" => 2,
        "warn" => 1,
        _ => 0,
    };
    statuses
        .into_iter()
        .max_by_key(|s| rank(s))
        .unwrap_or("pass")
}

/// `GET /health`: 200 for pass and warn, 503 for fail.
pub(super) async fn health(State(svc): State<Arc<Service>>) -> Response {
    let time = rfc3339(now_ms());
    let registry = svc.plugins.registry();
    let failures = svc.reloads.failures().clone();
    let (plugins_status, plugins_output) = if !svc.plugins.is_loaded() {
        ("warn", "loading the plugin directory".to_owned())
    } else if !failures.is_empty() {
        let names: Vec<&str> = failures.keys().map(String::as_str).collect();
        ("warn", format!("failed to load: {}", names.join(", ")))
    } else {
        ("pass", String::new())
    };
    let (store_status, store_output) = if svc.store.is_healthy() {
        ("pass", String::new())
    } else {
        let at = svc.store.location();
        (
            "fail",
            format!("{at} is not writable or not reachable (see the log)"),
        )
    };
    let probes = probe_checks(&svc, &time);
    let quarantined: Vec<&str> = registry
        .plugins
        .iter()
        .filter(|p| p.gate.is_quarantined())
        .map(|p| &*p.name)
        .collect();
    let (quarantine_status, quarantine_output) = if quarantined.is_empty() {
        ("pass", String::new())
    } else {
        ("warn", format!("quarantined: {}", quarantined.join(", ")))
    };
    let status = worst(
        [plugins_status, store_status, quarantine_status]
            .into_iter()
            .chain(probes.iter().map(|(_, s, _)| *s)),
    );
    let mut body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION").split('.').next(),
        "releaseId": env!("CARGO_PKG_VERSION"),
        "serviceId": "assay",
        "description": "assay: pluggable checks as sandboxed WebAssembly components",
        "checks": {
            "plugins:loaded": [{
                "componentType": "component",
                "observedValue": registry.plugins.len(),
                "observedUnit": "plugins",
                "status": plugins_status,
                "output": plugins_output,
                "time": time,
            }],
            "plugins:quarantined": [{
                "componentType": "component",
                "observedValue": quarantined.len(),
                "observedUnit": "plugins",
                "status": quarantine_status,
                "output": quarantine_output,
                "time": time,
            }],
            "store:writable": [{
                "componentType": "datastore",
                "componentId": svc.store.location(),
                "status": store_status,
                "output": store_output,
                "time": time,
            }],
            "uptime": [{
                "componentType": "system",
                "observedValue": svc.started.elapsed().as_secs_f64().round(),
                "observedUnit": "s",
                "status": "pass",
                "time": time,
            }],
        },
    });
    for (key, _, check) in probes {
        body["checks"][key] = json!([check]);
    }
    let code = if status == "fail" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    health_json(code, body)
}

/// One check per probe instance: `probe:NAME`. A failing critical probe
/// fails the whole; any other failing, warning or flapping one warns; a probe
/// that has not run yet passes (with output saying so).
fn probe_checks(svc: &Service, time: &str) -> Vec<(String, &'static str, Value)> {
    use crate::probes::ProbeState;
    svc.probes
        .all()
        .iter()
        .map(|p| {
            let shown = svc.probes.shown(p);
            let state = shown.state;
            let status = match state {
                ProbeState::Failing if p.spec.critical => "fail",
                ProbeState::Failing | ProbeState::Warning | ProbeState::Flapping => "warn",
                ProbeState::Passing | ProbeState::Unknown => "pass",
            };
            let last = shown.last_result.as_ref();
            let check = json!({
                "componentType": "probe",
                "componentId": p.spec.plugin,
                "observedValue": state.as_str(),
                "status": status,
                "output": last.and_then(|r| r["message"].as_str()).unwrap_or("not run yet"),
                "critical": p.spec.critical,
                "time": last.and_then(|r| r["at"].as_str()).unwrap_or(time),
            });
            (format!("probe:{}", p.spec.name), status, check)
        })
        .collect()
}

/// `GET /ready`: 200 once the plugins are loaded and the store is open, and
/// while no critical probe fails; 503 otherwise and while stopping.
pub(super) async fn ready(State(svc): State<Arc<Service>>) -> Response {
    let why = svc.unready_reason().map(str::to_owned).or_else(|| {
        let failing = svc.critical_failures();
        (!failing.is_empty()).then(|| format!("critical probes failing: {}", failing.join(", ")))
    });
    match why {
        None => health_json(StatusCode::OK, json!({"status": "pass"})),
        Some(why) => health_json(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "fail", "output": why}),
        ),
    }
}

/// `GET /metrics`.
pub(super) async fn metrics(State(svc): State<Arc<Service>>) -> Response {
    refresh(&svc);
    let mut resp = svc.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// `GET /v1/metrics`: the same families as JSON, with timestamps.
pub(super) async fn metrics_json(State(svc): State<Arc<Service>>) -> Response {
    refresh(&svc);
    let families = svc.metrics.gather();
    axum::Json(crate::telemetry::json::encode(
        &families,
        crate::clock::now_ms(),
    ))
    .into_response()
}

/// Brings the gauges read from elsewhere (the cache, the registry) up to date.
fn refresh(svc: &Service) {
    let m = &svc.metrics;
    let stats = svc.validation.pipeline().cache().stats();
    crate::telemetry::Metrics::sync_counter(&m.cache_hits, stats.hits);
    crate::telemetry::Metrics::sync_counter(&m.cache_misses, stats.misses);
    m.cache_entries.set(stats.entries as i64);
    let registry = svc.plugins.registry();
    for kind in crate::registry::PluginKind::ALL {
        let n = registry.plugins.iter().filter(|p| p.kind == kind).count();
        m.plugins_loaded
            .with_label_values(&[kind.as_str()])
            .set(n as i64);
    }
    let failures = svc.reloads.failures().len();
    m.plugin_load_failures.set(failures as i64);
    let (exported, queue_full, export_failed) = crate::telemetry::traces::span_counts();
    crate::telemetry::Metrics::sync_counter(&m.spans_exported, exported);
    for (reason, n) in [("queue_full", queue_full), ("export_failed", export_failed)] {
        crate::telemetry::Metrics::sync_counter(&m.spans_dropped.with_label_values(&[reason]), n);
    }
}
