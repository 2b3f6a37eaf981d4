//! The probes: a list (worst first, paged, filtered by state) and each
//! probe's page: uptime, response times, state changes, recent results.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::page::{self, Ctx, Nav, ago, chip, percent, time};
use crate::clock::now_ms;
use crate::probes::{ProbeState, Uptime};
use crate::service::Service;

/// Probes on one page of the list.
const PAGE: usize = 100;

/// Worst first: failing, flapping, warning, unknown, passing.
pub(super) fn rank(s: ProbeState) -> u8 {
    match s {
        ProbeState::Failing => 0,
        ProbeState::Flapping => 1,
        ProbeState::Warning => 2,
        ProbeState::Unknown => 3,
        ProbeState::Passing => 4,
    }
}

fn uptime_cells(u: &Uptime) -> maud::Markup {
    html! {
        td.num { (percent(u.day.percent())) }
        td.num { (percent(u.week.percent())) }
        td.num { (percent(u.month.percent())) }
    }
}

/// `GET {path}probes?state=&page=`.
pub(super) async fn list(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = super::page::query(q.as_deref());
    let mut state = None;
    let mut page_no = 1usize;
    for (k, v) in pairs {
        match k.as_str() {
            "state" if !v.is_empty() => state = v.parse::<ProbeState>().ok(),
            "page" => page_no = v.parse().unwrap_or(1).max(1),
            _ => {}
        }
    }
    let mut rows: Vec<_> = svc
        .probes
        .all()
        .into_iter()
        .map(|p| {
            let s = svc.probes.shown(&p);
            (p, s)
        })
        .filter(|(_, s)| state.is_none_or(|w| s.state == w))
        .collect();
    rows.sort_by(|a, b| (rank(a.1.state), &a.0.spec.name).cmp(&(rank(b.1.state), &b.0.spec.name)));
    let total = rows.len();
    let pages = total.div_ceil(PAGE).max(1);
    let page_no = page_no.min(pages);
    let shown: Vec<_> = rows.iter().skip((page_no - 1) * PAGE).take(PAGE).collect();
    let names: Vec<String> = shown.iter().map(|(p, _)| p.spec.name.clone()).collect();
    // The uptime of this page's probes only: the store sums one row each.
    let uptime = match svc.probes.results().uptime(now_ms(), Some(&names)).await {
        Ok(u) => u,
        Err(e) => return page::failure(&ctx, Nav::Probes, "reading uptime", e),
    };
    let filter = state.map_or(String::new(), |s| format!("state={}&", s.as_str()));
    let link = |n: usize| ctx.at(&format!("probes?{filter}page={n}"));
    let body = html! {
        h1 { "Probes" }
        form.inline method="get" action=(ctx.at("probes")) {
            label for="state" { "State" }
            select #state name="state" {
                option value="" selected[state.is_none()] { "any" }
                @for s in ProbeState::ALL {
                    option value=(s.as_str()) selected[state == Some(s)] { (s.as_str()) }
                }
            }
            button type="submit" { "Show" }
        }
        p.hint { (total) " probe(s); page " (page_no) " of " (pages) ". Uptime counts checks that passed or warned." }
        div #probes data-live="" {
            table {
                thead { tr {
                    th { "State" } th { "Probe" } th { "Plugin" } th { "Since" } th { "Last result" }
                    th.num { "Time" } th.num { "24 h" } th.num { "7 d" } th.num { "30 d" }
                } }
                tbody {
                    @for (p, s) in &shown {
                        @let last = s.last_result.as_ref();
                        tr data-probe=(p.spec.name) data-state=(s.state.as_str()) {
                            td { (chip(s.state.as_str())) }
                            td { a href=(ctx.at(&format!("probes/{}", p.spec.name))) { (p.spec.name) } }
                            td.mono { (p.spec.plugin) }
                            td { (ago(s.since_ms)) }
                            td { (last.and_then(|r| r["message"].as_str()).unwrap_or("not run yet")) }
                            td.num { (last.and_then(|r| r["duration_ms"].as_f64()).map_or(String::new(), |d| format!("{d:.1} ms"))) }
                            (uptime_cells(&uptime.get(&p.spec.name).copied().unwrap_or_default()))
                        }
                    }
                }
            }
        }
        (page::pager(
            (page_no > 1).then(|| link(page_no - 1)),
            (page_no < pages).then(|| link(page_no + 1)),
        ))
    };
    page::shell(&ctx, Nav::Probes, "Probes", body)
}

/// `GET {path}probes/{name}`.
pub(super) async fn detail(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> Response {
    let Some(p) = svc.probes.get(&name) else {
        return page::missing(&ctx, Nav::Probes, format!("No probe named {name:?}."));
    };
    let repo = svc.probes.results();
    let (uptime, history, changes) = tokio::join!(
        repo.uptime(now_ms(), Some(std::slice::from_ref(&name))),
        repo.history(&name, 120),
        repo.state_changes(&name, 20),
    );
    let (uptime, history, changes) = match (uptime, history, changes) {
        (Ok(u), Ok(h), Ok(c)) => (u.get(&name).copied().unwrap_or_default(), h, c),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
            return page::failure(&ctx, Nav::Probes, "reading the probe's results", e);
        }
    };
    let shown = svc.probes.shown(&p);
    let spec = &p.spec;
    let points: Vec<(i64, f64, String)> = history
        .iter()
        .rev()
        .map(|r| {
            let at = humantime::parse_rfc3339_weak(&r.at)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            (at, r.duration_ms, r.status.clone())
        })
        .collect();
    let last = shown.last_result.as_ref();
    let body = html! {
        h1 { "Probe " span.mono { (name) } }
        div #state data-live="" {
            p { (chip(shown.state.as_str())) " since " (ago(shown.since_ms)) " · "
                (last.and_then(|r| r["message"].as_str()).unwrap_or("not run yet")) }
            div.cards {
                @for (label, c) in [("24 h", uptime.day), ("7 d", uptime.week), ("30 d", uptime.month)] {
                    div.card {
                        div.big { (percent(c.percent())) }
                        div.label { "uptime " (label) ", " (c.total) " checks"
                            @if let Some(m) = c.mean_ms() { ", mean " (format!("{m:.1}")) " ms" } }
                    }
                }
            }
            h2 { "Response time" }
            (super::chart::response_times(&points))
        }
        @if ctx.can_act() {
            form.inline method="post" action=(ctx.at(&format!("probes/{name}/run"))) {
                button.primary type="submit" { "Run now" }
            }
        }
        h2 { "Settings" }
        dl.facts {
            dt { "Plugin" } dd.mono { (spec.plugin) }
            dt { "Interval" } dd { (humantime::format_duration(spec.interval)) }
            dt { "Timeout" } dd { (humantime::format_duration(spec.timeout)) }
            dt { "Thresholds" } dd { (spec.failure_threshold) " failures to fail, " (spec.success_threshold) " passes to pass" }
            dt { "Critical" } dd { (if spec.critical { "yes: failing makes /ready fail" } else { "no" }) }
            dt { "Labels" } dd.mono { @for (k, v) in &spec.labels { (k) "=" (v) " " } }
        }
        h2 { "State changes" }
        div #changes data-live="" {
            @if changes.is_empty() { p.hint { "No stored results yet." } }
            @else {
                table {
                    thead { tr { th { "When" } th { "State" } th { "Result" } } }
                    tbody { @for c in &changes { tr { td { (time(&c.at)) } td { (chip(&c.state)) } td { (c.message) } } } }
                }
            }
        }
        h2 { "Recent results" }
        div #results data-live="" {
            table {
                thead { tr { th { "When" } th { "Status" } th.num { "Time" } th { "Message" } th { "Trigger" } } }
                tbody {
                    @for r in history.iter().take(20) {
                        tr {
                            td { (time(&r.at)) }
                            td { (chip(&r.status)) }
                            td.num { (format!("{:.1} ms", r.duration_ms)) }
                            td { (r.message) }
                            td { (r.trigger) }
                        }
                    }
                }
            }
        }
    };
    page::shell(&ctx, Nav::Probes, &name, body)
}

/// `POST {path}probes/{name}/run` (operators): runs it now, then shows it.
pub(super) async fn run(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> Response {
    let Some(p) = svc.probes.get(&name) else {
        return page::missing(&ctx, Nav::Probes, format!("No probe named {name:?}."));
    };
    svc.probes.run_now(&p).await;
    tracing::info!(probe = %name, by = %ctx.actor.name, "console: probe run now");
    Redirect::to(&ctx.at(&format!("probes/{name}"))).into_response()
}
