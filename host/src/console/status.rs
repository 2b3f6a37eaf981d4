//! `/status`: the public status page. The `[ui] status_probes` (or every
//! probe), each with its state and 30 days of uptime bars; current
//! incidents (alerts firing about those probes, named without their
//! messages); and maintenance (silences
//! whose comment starts with `maintenance:`, active or starting within a
//! week). Plain HTML: it reads the same without JavaScript, and refreshes
//! itself once a minute. Visitors without a token get a page rendered at
//! most 5 s before ([`Cache`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, html};

use super::page::{chip, percent, time};
use crate::alerts::AlertStatus;
use crate::clock::{now_ms, rfc3339};
use crate::probes::DAY_MS;
use crate::service::Service;

/// A silence shown as maintenance: its comment starts with this (any case).
pub(crate) const MAINTENANCE: &str = "maintenance:";

/// Whether anyone may see `probe` on the status page and its badges.
pub(super) fn is_public(svc: &Service, probe: &str) -> bool {
    let ui = &svc.config.ui;
    ui.public_status && (ui.status_probes.is_empty() || ui.status_probes.iter().any(|p| p == probe))
}

/// The probes the page shows, in order.
fn shown(svc: &Service) -> Vec<String> {
    let ui = &svc.config.ui;
    if !ui.status_probes.is_empty() {
        return ui.status_probes.clone();
    }
    let mut all: Vec<String> = svc
        .probes
        .all()
        .iter()
        .map(|p| p.spec.name.clone())
        .collect();
    all.sort();
    all
}

/// The text of a maintenance comment, if it is one.
pub(crate) fn maintenance_text(comment: &str) -> Option<&str> {
    let head = comment.get(..MAINTENANCE.len())?;
    head.eq_ignore_ascii_case(MAINTENANCE)
        .then(|| comment[MAINTENANCE.len()..].trim())
}

/// Probes on one page of the status page.
const PAGE: usize = 100;

/// What the public page says of an incident: the alert's `status_page`
/// annotation when it has one, else only the probe and the alert's name.
/// Never its summary or description: those carry the probe's message,
/// which can name internal addresses.
fn public_title(v: &crate::alerts::AlertView) -> String {
    if let Some(t) = v.alert.annotations.get("status_page") {
        return t.clone();
    }
    let probe = v.alert.labels.get("probe").map_or("", String::as_str);
    format!("{probe}: {}", v.alert.name)
}

/// How long a rendered page serves visitors without a token: a crowd
/// arriving during an incident costs one render per page every few seconds.
const CACHED_FOR: Duration = Duration::from_secs(5);

/// Rendered pages for visitors without a token, by page number.
#[derive(Default)]
pub(super) struct Cache(Mutex<HashMap<usize, (Instant, Arc<str>)>>);

impl Cache {
    fn get(&self, page: usize) -> Option<Arc<str>> {
        let map = self.0.lock().expect("status cache lock");
        map.get(&page)
            .filter(|(at, _)| at.elapsed() < CACHED_FOR)
            .map(|(_, html)| html.clone())
    }

    fn put(&self, page: usize, html: Arc<str>) {
        let mut map = self.0.lock().expect("status cache lock");
        map.retain(|_, (at, _)| at.elapsed() < CACHED_FOR);
        map.insert(page, (Instant::now(), html));
    }
}

fn html(page: Arc<str>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.to_string(),
    )
        .into_response()
}

/// `GET /status?page=N`.
pub(super) async fn page(
    State(svc): State<Arc<Service>>,
    Extension(cache): Extension<Arc<Cache>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let visitor = super::session::actor(&svc, &headers).is_none();
    if !svc.config.ui.public_status && visitor {
        return (
            StatusCode::NOT_FOUND,
            "no status page here: [ui] public_status is off\n",
        )
            .into_response();
    }
    let names = shown(&svc);
    let pairs = super::page::query(q.as_deref());
    let pages = names.len().div_ceil(PAGE).max(1);
    let page_no = pairs
        .iter()
        .find(|p| p.0 == "page")
        .and_then(|p| p.1.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    if visitor && let Some(cached) = cache.get(page_no) {
        return html(cached);
    }
    match render(&svc, names, page_no, pages).await {
        Ok(page) => {
            if visitor {
                cache.put(page_no, page.clone());
            }
            html(page)
        }
        Err(e) => {
            tracing::warn!("status page: reading uptime failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the status page cannot read its data; try again shortly\n",
            )
                .into_response()
        }
    }
}

/// Page `page_no` of `pages` of the status page over the probes `names`.
async fn render(
    svc: &Service,
    names: Vec<String>,
    page_no: usize,
    pages: usize,
) -> Result<Arc<str>, crate::store::StoreError> {
    let ui = &svc.config.ui;
    let now = now_ms();
    let on_page: Vec<String> = names
        .iter()
        .skip((page_no - 1) * PAGE)
        .take(PAGE)
        .cloned()
        .collect();
    let repo = svc.probes.results();
    let (uptime, daily, alerts, silences) = tokio::join!(
        repo.uptime(now, Some(&on_page)),
        repo.daily(now, Some(&on_page)),
        svc.alerts.list(),
        svc.alerts.repo().silences(now - DAY_MS),
    );
    let (uptime, daily) = (uptime?, daily?);
    let all: HashSet<&String> = names.iter().collect();
    let incidents: Vec<_> = alerts
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.alert.status == AlertStatus::Firing)
        .filter(|v| v.alert.labels.get("probe").is_some_and(|p| all.contains(p)))
        .collect();
    let maintenance: Vec<_> = silences
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.ends_ms > now && s.starts_ms < now + 7 * DAY_MS)
        .filter_map(|s| Some((maintenance_text(&s.comment)?.to_owned(), s)))
        .collect();
    let states: HashMap<String, String> = names
        .iter()
        .filter_map(|n| {
            let p = svc.probes.get(n)?;
            Some((n.clone(), svc.probes.shown(&p).state.as_str().to_owned()))
        })
        .collect();
    let down = states.values().filter(|s| *s == "failing").count();
    let degraded = states
        .values()
        .filter(|s| *s == "warning" || *s == "flapping")
        .count();
    let in_maintenance = maintenance.iter().any(|(_, s)| s.starts_ms <= now);
    let (banner, class) = if down > 0 {
        (
            format!("✖ {down} of {} services down", names.len()),
            "banner bad",
        )
    } else if degraded > 0 {
        (
            format!("▲ {degraded} of {} services degraded", names.len()),
            "banner warn",
        )
    } else if in_maintenance {
        ("▲ Maintenance in progress".to_owned(), "banner warn")
    } else {
        ("✔ All services operational".to_owned(), "banner ok")
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="60";
                title { (ui.status_title) }
                link rel="stylesheet" href=(format!("{}assets/console.css", ui.base()));
            }
            body {
                main #main {
                    h1 { (ui.status_title) }
                    p class=(class) role="status" { (banner) }
                    @if !incidents.is_empty() {
                        section aria-labelledby="incidents" {
                            h2 #incidents { "Current incidents" }
                            @for v in &incidents {
                                div.status-row {
                                    header {
                                        strong { (public_title(v)) }
                                        (chip(v.alert.severity.as_str()))
                                    }
                                    p.muted { "Affects " (v.alert.labels.get("probe").map_or("", String::as_str)) " · since " (time(&v.starts_at)) }
                                }
                            }
                        }
                    }
                    @if !maintenance.is_empty() {
                        section aria-labelledby="maintenance" {
                            h2 #maintenance { "Maintenance" }
                            @for (text, s) in &maintenance {
                                div.status-row {
                                    header {
                                        strong { (text) }
                                        (chip(if s.starts_ms <= now { "in progress" } else { "scheduled" }))
                                    }
                                    p.muted { "From " (time(&rfc3339(s.starts_ms))) " until " (time(&rfc3339(s.ends_ms))) }
                                }
                            }
                        }
                    }
                    section aria-labelledby="services" {
                        h2 #services { "Services" }
                        @for name in &on_page {
                            @let u = uptime.get(name).copied().unwrap_or_default();
                            div.status-row.probe data-probe=(name) {
                                header {
                                    strong { (name) }
                                    (chip(states.get(name).map_or("unknown", String::as_str)))
                                }
                                (super::chart::uptime_bars(name, daily.get(name).map_or(&[][..], Vec::as_slice), now))
                                div.legend.hint {
                                    span { "30 days ago" }
                                    span {
                                        "24 h " (percent(u.day.percent()))
                                        " · 7 d " (percent(u.week.percent()))
                                        " · 30 d " (percent(u.month.percent()))
                                    }
                                    span { "today" }
                                }
                            }
                        }
                        @if names.is_empty() { p.hint { "No probes to show." } }
                        @if pages > 1 {
                            (super::page::pager(
                                (page_no > 1).then(|| format!("/status?page={}", page_no - 1)),
                                (page_no < pages).then(|| format!("/status?page={}", page_no + 1)),
                            ))
                            p.hint { "Page " (page_no) " of " (pages) "." }
                        }
                    }
                    p.hint { "Updated " (time(&rfc3339(now))) ". Uptime counts the checks that passed (or warned) in each UTC day." }
                }
            }
        }
    };
    Ok(page.into_string().into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_rendered_page_is_kept_a_few_seconds_per_page_number() {
        let c = super::Cache::default();
        assert!(c.get(1).is_none());
        c.put(1, "one".into());
        assert_eq!(c.get(1).as_deref(), Some("one"));
        assert!(c.get(2).is_none());
    }

    #[test]
    fn maintenance_is_a_comment_prefix_in_any_case() {
        assert_eq!(
            super::maintenance_text("Maintenance: DB upgrade"),
            Some("DB upgrade")
        );
        assert_eq!(super::maintenance_text("maintenance:x"), Some("x"));
        assert_eq!(super::maintenance_text("noisy alert"), None);
        assert_eq!(super::maintenance_text("maint"), None);
    }
}
