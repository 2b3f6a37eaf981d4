//! Validation: recent reports (paged by id, filtered by verdict and
//! subject), monitors, and a report's findings grouped by plugin and
//! severity.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::page::{self, Ctx, Nav, chip, time};
use crate::service::Service;
use crate::validate::ReportQuery;

const PAGE: u32 = 50;

/// `GET {path}reports?verdict=&subject=&before=`.
pub(super) async fn list(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = super::page::query(q.as_deref());
    let mut query = ReportQuery {
        limit: PAGE,
        ..Default::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "verdict" if ["pass", "warn", "error", "fail"].contains(&v.as_str()) => {
                query.verdict = Some(v)
            }
            "subject" if !v.is_empty() => query.subject = Some(v),
            "before" => query.before_id = v.parse().ok(),
            _ => {}
        }
    }
    let (verdict, subject, before) = (
        query.verdict.clone(),
        query.subject.clone(),
        query.before_id,
    );
    let list = match svc.validation.reports().list(query).await {
        Ok(l) => l,
        Err(e) => return page::failure(&ctx, Nav::Reports, "reading the reports", e),
    };
    let filters = serde_urlencoded::to_string(
        [
            ("verdict", verdict.as_deref()),
            ("subject", subject.as_deref()),
        ]
        .iter()
        .filter_map(|(k, v)| Some((*k, (*v)?)))
        .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let next = (list.len() == PAGE as usize)
        .then(|| {
            list.last()
                .map(|r| ctx.at(&format!("reports?{filters}&before={}", r.id)))
        })
        .flatten();
    let first = before.map(|_| ctx.at(&format!("reports?{filters}")));
    let monitors = svc.monitors.list(&svc.live());
    let body = html! {
        h1 { "Validation" }
        h2 { "Monitors" }
        div #monitors data-live="" {
            @if monitors.is_empty() { p.hint { "No [[monitor]] is configured." } }
            @else {
                table {
                    thead { tr { th { "Monitor" } th { "Watches" } th { "Last verdict" } th { "Last run" } th.num { "Runs" } th { "Last error" } } }
                    tbody {
                        @for m in &monitors {
                            tr {
                                td { (m.name) }
                                td.mono { (m.path) (m.glob.as_deref().map(|g| format!(" ({g})")).unwrap_or_default()) }
                                td { @if let Some(v) = m.last_verdict { (chip(v.as_str())) } }
                                td { @if let Some(t) = &m.last_run_at { (time(t)) } }
                                td.num { (m.runs) }
                                td { (m.last_error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Reports" }
        form.inline method="get" action=(ctx.at("reports")) {
            label for="verdict" { "Verdict" }
            select #verdict name="verdict" {
                option value="" selected[verdict.is_none()] { "any" }
                @for v in ["pass", "warn", "error", "fail"] {
                    option value=(v) selected[verdict.as_deref() == Some(v)] { (v) }
                }
            }
            label for="subject" { "Subject" }
            input #subject type="text" name="subject" value=(subject.as_deref().unwrap_or(""));
            button type="submit" { "Show" }
        }
        div #reports data-live="" {
            @if list.is_empty() { p.hint { "No reports." } }
            @else {
                table {
                    thead { tr { th.num { "Id" } th { "When" } th { "Verdict" } th { "Subject" } th { "Level" } th.num { "Findings" } th.num { "Time" } th { "Source" } } }
                    tbody {
                        @for r in &list {
                            tr data-report=(r.id) {
                                td.num { a href=(ctx.at(&format!("reports/{}", r.id))) { (r.id) } }
                                td { (time(&r.created_at)) }
                                td { (chip(&r.meta.verdict)) }
                                td.mono { (r.meta.subject) }
                                td { (r.meta.level) }
                                td.num { (r.meta.findings) }
                                td.num { (format!("{:.1} ms", r.meta.duration_us as f64 / 1000.0)) }
                                td { (r.meta.source) @if r.meta.cached { " (cached)" } }
                            }
                        }
                    }
                }
            }
        }
        (page::pager(first, next))
    };
    page::shell(&ctx, Nav::Reports, "Validation", body)
}

/// `GET {path}reports/{id}`.
pub(super) async fn detail(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return page::missing(&ctx, Nav::Reports, format!("{id:?} is not a report id."));
    };
    let report = match svc.validation.reports().get(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return page::missing(&ctx, Nav::Reports, format!("No report {id}.")),
        Err(e) => return page::failure(&ctx, Nav::Reports, "reading the report", e),
    };
    let s = |k: &str| report[k].as_str().unwrap_or_default().to_owned();
    // plugin → severity (worst first) → findings.
    let mut grouped: BTreeMap<String, BTreeMap<std::cmp::Reverse<u8>, Vec<&Value>>> =
        BTreeMap::new();
    let empty = Vec::new();
    let findings = report["findings"].as_array().unwrap_or(&empty);
    for f in findings {
        let plugin = f["plugin"].as_str().unwrap_or("?").to_owned();
        let rank = severity_rank(f["severity"].as_str().unwrap_or_default());
        grouped
            .entry(plugin)
            .or_default()
            .entry(std::cmp::Reverse(rank))
            .or_default()
            .push(f);
    }
    let runs = report["plugins"].as_array().unwrap_or(&empty);
    let body = html! {
        h1 { "Report " (id) }
        dl.facts {
            dt { "Verdict" } dd { (chip(&s("verdict"))) }
            dt { "Subject" } dd.mono { (s("subject")) }
            dt { "Digest" } dd.mono { (s("digest")) }
            dt { "Level" } dd { (s("level")) }
            dt { "When" } dd { (time(&s("created_at"))) }
            dt { "Source" } dd { (s("source")) @if let Some(a) = report["actor"].as_str() { " · by " (a) } }
            dt { "Time" } dd { (format!("{:.1} ms", report["duration_us"].as_f64().unwrap_or(0.0) / 1000.0))
                @if report["cached"] == true { " (from the cache)" } }
        }
        h2 { "Plugins" }
        table {
            thead { tr { th { "Plugin" } th { "Version" } th { "Outcome" } th.num { "Time" } th { "Error" } } }
            tbody {
                @for r in runs {
                    tr {
                        td.mono { (r["name"].as_str().unwrap_or_default()) }
                        td { (r["version"].as_str().unwrap_or_default()) }
                        td { (chip(r["outcome"].as_str().unwrap_or_default())) }
                        td.num { (format!("{:.1} ms", r["duration_us"].as_f64().unwrap_or(0.0) / 1000.0)) }
                        td { (r["error"].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
        h2 { "Findings (" (findings.len()) ")" }
        @if findings.is_empty() { p.notice.ok { "✔ No findings." } }
        @for (plugin, by_severity) in &grouped {
            section.group aria-label=(format!("Findings of {plugin}")) {
                h3.mono { (plugin) }
                @for (rank, list) in by_severity {
                    @let sev = severity_name(rank.0);
                    details open[rank.0 >= 2] {
                        summary { (chip(sev)) " " (list.len()) " finding(s)" }
                        table {
                            thead { tr { th { "Code" } th { "Message" } th { "Path" } } }
                            tbody {
                                @for f in list {
                                    tr {
                                        td.mono { (f["code"].as_str().unwrap_or_default()) }
                                        td { (f["message"].as_str().unwrap_or_default()) }
                                        td.mono { (f["path"].as_str().unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page::shell(&ctx, Nav::Reports, &format!("Report {id}"), body)
}

const SEVERITIES: [&str; 4] = ["info", "warning", "error", "critical"];

fn severity_rank(s: &str) -> u8 {
    SEVERITIES.iter().position(|x| *x == s).unwrap_or(0) as u8
}

fn severity_name(rank: u8) -> &'static str {
    SEVERITIES.get(rank as usize).copied().unwrap_or("info")
}
