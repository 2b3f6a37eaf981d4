//! The page shell (navigation, who is signed in, live updates), the
//! stylesheet and script, and small pieces every page uses.

use std::sync::Arc;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::auth::Actor;
use crate::clock::now_ms;
use crate::service::Service;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// What every page needs to know about the request.
#[derive(Clone)]
pub(crate) struct Ctx {
    /// The console's path with a trailing slash.
    pub base: Arc<str>,
    pub actor: Actor,
    pub refresh_secs: u64,
    /// Authentication is on (so signing out means something).
    pub auth: bool,
}

impl Ctx {
    pub(super) fn new(svc: &Service, actor: Actor) -> Ctx {
        Ctx {
            base: svc.config.ui.base().into(),
            actor,
            refresh_secs: svc.config.ui.refresh_secs,
            auth: svc.auth.enabled(),
        }
    }

    /// For pages shown before anyone signed in.
    pub(super) fn anonymous(svc: &Service) -> Ctx {
        Ctx {
            actor: Actor {
                name: String::new(),
                role: crate::config::Role::Viewer,
            },
            ..Ctx::new(svc, Actor::anonymous())
        }
    }

    /// A console path: `ctx.at("probes")`.
    pub(super) fn at(&self, rest: &str) -> String {
        format!("{}{rest}", self.base)
    }
}

/// The console's sections, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    Overview,
    Probes,
    Reports,
    Plugins,
    Alerts,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "", "Overview"),
    (Nav::Probes, "probes", "Probes"),
    (Nav::Reports, "reports", "Validation"),
    (Nav::Plugins, "plugins", "Plugins"),
    (Nav::Alerts, "alerts", "Alerts"),
];

fn head(ctx: &Ctx, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · assay" }
            link rel="stylesheet" href=(ctx.at("assets/console.css"));
        }
    }
}

/// A console page: navigation, who is signed in, then `body`.
pub(super) fn shell(ctx: &Ctx, nav: Nav, title: &str, body: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(ctx, title))
            body data-refresh=(ctx.refresh_secs) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(ctx.base.as_ref()) { "assay" }
                    nav aria-label="Console" {
                        ul {
                            @for (n, path, label) in NAV {
                                li {
                                    @if n == nav {
                                        a href=(ctx.at(path)) aria-current="page" { (label) }
                                    } @else {
                                        a href=(ctx.at(path)) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (ctx.actor.name) " · " (ctx.actor.role.as_str()) }
                        @if ctx.auth {
                            form method="post" action=(ctx.at("logout")) {
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main {
                    (body)
                    @if ctx.refresh_secs > 0 {
                        p.hint #updated aria-live="polite" { "Live: refreshes every " (ctx.refresh_secs) " s." }
                    }
                }
                script src=(ctx.at("assets/console.js")) defer {}
            }
        }
    };
    html_response(page)
}

/// A page without navigation (sign-in, refusals).
pub(super) fn bare(ctx: &Ctx, title: &str, body: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(ctx, title))
            body { main #main.narrow { (body) } }
        }
    };
    html_response(page)
}

fn html_response(page: Markup) -> Response {
    let mut resp = Html(page.into_string()).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp.headers_mut().insert(
        "content-security-policy",
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    resp
}

/// `GET …/assets/console.css`.
pub(super) async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// `GET …/assets/console.js`.
pub(super) async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The symbol shown with a state's colour, so it never rests on colour alone.
fn symbol(state: &str) -> &'static str {
    match state {
        "passing" | "pass" | "ok" | "delivered" | "loaded" | "resolved" => "✔",
        "warning" | "warn" | "flapping" | "pending" | "silenced" | "acknowledged" | "held" => "▲",
        "failing" | "fail" | "error" | "firing" | "dead" | "failed" | "critical"
        | "quarantined" => "✖",
        _ => "●",
    }
}

/// A state as a labelled chip: symbol, word and colour.
pub(super) fn chip(state: &str) -> Markup {
    let class = match symbol(state) {
        "✔" => "chip ok",
        "▲" => "chip warn",
        "✖" => "chip bad",
        _ => "chip none",
    };
    html! { span class=(class) { span aria-hidden="true" { (symbol(state)) " " } (state) } }
}

/// An RFC 3339 time as `2026-12-03 14:30:00Z`, with the full time on hover.
pub(super) fn time(rfc3339: &str) -> Markup {
    let short = rfc3339.get(..19).map_or_else(
        || rfc3339.to_owned(),
        |t| format!("{}Z", t.replace('T', " ")),
    );
    html! { time datetime=(rfc3339) title=(rfc3339) { (short) } }
}

/// How long ago `ms` was, in words.
pub(super) fn ago(ms: i64) -> String {
    let s = ((now_ms() - ms) / 1000).max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// A percentage with enough digits to tell 99.9 from 100, or a dash.
pub(super) fn percent(p: Option<f64>) -> String {
    match p {
        None => "–".into(),
        Some(p) if p >= 100.0 => "100%".into(),
        Some(p) if p >= 99.0 => format!("{:.2}%", (p * 100.0).floor() / 100.0),
        Some(p) => format!("{p:.1}%"),
    }
}

/// A page's query string as (key, value) pairs; a malformed one is empty
/// (a page shows its defaults rather than an error).
pub(super) fn query(raw: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default()
}

/// Previous and next links of a paged list.
pub(super) fn pager(prev: Option<String>, next: Option<String>) -> Markup {
    html! {
        @if prev.is_some() || next.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(p) = prev { a href=(p) rel="prev" { "← Newer" } }
                @if let Some(n) = next { a href=(n) rel="next" { "Older →" } }
            }
        }
    }
}

/// A failure to read what a page shows, as a page.
pub(super) fn failure(ctx: &Ctx, nav: Nav, what: &str, e: impl std::fmt::Display) -> Response {
    tracing::warn!("console: {what} failed: {e}");
    let body = html! {
        h1 { "Could not show this page" }
        p.notice.bad role="alert" { "✖ " (what) " failed: " (e.to_string()) }
    };
    let mut r = shell(ctx, nav, "Error", body);
    *r.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    r
}

/// A 404 page.
pub(super) fn missing(ctx: &Ctx, nav: Nav, what: String) -> Response {
    let body = html! {
        h1 { "Not found" }
        p.notice role="alert" { (what) }
    };
    let mut r = shell(ctx, nav, "Not found", body);
    *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_never_round_up_to_a_clean_record() {
        assert_eq!(percent(Some(99.999)), "99.99%");
        assert_eq!(percent(Some(100.0)), "100%");
        assert_eq!(percent(Some(60.0)), "60.0%");
        assert_eq!(percent(None), "–");
    }

    #[test]
    fn a_state_is_never_colour_alone() {
        let failing = chip("failing").into_string();
        assert!(failing.contains("✖") && failing.contains("failing") && failing.contains("bad"));
        assert!(chip("passing").into_string().contains("✔"));
    }
}
