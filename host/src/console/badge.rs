//! `/badge/probe/NAME.svg` and `/badge/probe/NAME/uptime.svg?window=7d`:
//! flat badges for READMEs and wikis. Public for the status page's probes
//! when `[ui] public_status` is on; otherwise a viewer's token is needed.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::clock::now_ms;
use crate::service::Service;

/// A flat badge: grey label, coloured value (with the value's word, never colour alone).
pub(super) fn svg(label: &str, value: &str, color: &str) -> String {
    let width = |s: &str| 10 + 7 * s.chars().count();
    let (lw, vw) = (width(label), width(value));
    let esc = |s: &str| maud::html! { (s) }.into_string();
    let (label, value) = (esc(label), esc(value));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{color}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>"##,
        w = lw + vw,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

fn reply(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache, max-age=0"),
        ],
        body,
    )
        .into_response()
}

/// Whether the caller may see `probe`'s badge.
fn allowed(svc: &Service, headers: &HeaderMap, probe: &str) -> bool {
    super::status::is_public(svc, probe) || super::session::actor(svc, headers).is_some()
}

/// The answer to a caller who may not see a badge.
fn refused() -> Response {
    reply(StatusCode::UNAUTHORIZED, svg("assay", "sign in", "#9f9f9f"))
}

/// `GET /badge/probe/{name}.svg`: the probe's state.
pub(super) async fn status(
    State(svc): State<Arc<Service>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = file.strip_suffix(".svg") else {
        return reply(StatusCode::NOT_FOUND, svg("badge", "name.svg", "#9f9f9f"));
    };
    if !allowed(&svc, &headers, name) {
        return refused();
    }
    let Some(p) = svc.probes.get(name) else {
        return reply(StatusCode::NOT_FOUND, svg(name, "unknown probe", "#9f9f9f"));
    };
    let state = svc.probes.shown(&p).state;
    let color = match state.as_str() {
        "passing" => "#2f9e5b",
        "warning" | "flapping" => "#c98a00",
        "failing" => "#d13a4a",
        _ => "#9f9f9f",
    };
    reply(StatusCode::OK, svg(name, state.as_str(), color))
}

/// `GET /badge/probe/{name}/uptime.svg?window=24h|7d|30d` (default 7d).
pub(super) async fn uptime(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut window = "7d".to_owned();
    let pairs = super::page::query(q.as_deref());
    for (k, v) in pairs {
        if k != "window" || !["24h", "7d", "30d"].contains(&v.as_str()) {
            return reply(
                StatusCode::BAD_REQUEST,
                svg("window", "24h, 7d or 30d", "#9f9f9f"),
            );
        }
        window = v;
    }
    if !allowed(&svc, &headers, &name) {
        return refused();
    }
    if svc.probes.get(&name).is_none() {
        return reply(
            StatusCode::NOT_FOUND,
            svg(&name, "unknown probe", "#9f9f9f"),
        );
    }
    let all = match svc
        .probes
        .results()
        .uptime(now_ms(), Some(std::slice::from_ref(&name)))
        .await
    {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!("badge: reading uptime failed: {e}");
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                svg("uptime", "unavailable", "#9f9f9f"),
            );
        }
    };
    let counts = all
        .get(&name)
        .and_then(|u| u.window(&window))
        .unwrap_or_default();
    let color = match counts.percent() {
        None => "#9f9f9f",
        Some(p) if p >= 99.9 => "#2f9e5b",
        Some(p) if p >= 99.0 => "#7aa31f",
        Some(p) if p >= 95.0 => "#c98a00",
        Some(_) => "#d13a4a",
    };
    let label = format!("uptime {window}");
    reply(
        StatusCode::OK,
        svg(&label, &super::page::percent(counts.percent()), color),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn badges_escape_their_text() {
        let s = super::svg("a<b", "x&y", "#000");
        assert!(s.contains("a&lt;b") && s.contains("x&amp;y") && !s.contains("a<b"));
    }
}
