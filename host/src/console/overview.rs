//! The overview: overall health first, then what is failing and firing.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::page::{self, Ctx, Nav, ago, chip, time};
use crate::alerts::AlertStatus;
use crate::probes::ProbeState;
use crate::service::Service;

/// At most this many rows in each list; the rest are a link away.
const LISTED: usize = 50;

/// `GET {path}`.
pub(super) async fn page(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
) -> Response {
    let alerts = match svc.alerts.list().await {
        Ok(a) => a,
        Err(e) => return page::failure(&ctx, Nav::Overview, "reading the alerts", e),
    };
    let firing: Vec<_> = alerts
        .iter()
        .filter(|v| v.alert.status == AlertStatus::Firing)
        .collect();
    let probes = svc.probes.all();
    let mut counts = [0usize; 5];
    let mut bad = Vec::new();
    for p in &probes {
        let shown = svc.probes.shown(p);
        counts[ProbeState::ALL
            .iter()
            .position(|s| *s == shown.state)
            .unwrap_or(0)] += 1;
        if matches!(
            shown.state,
            ProbeState::Failing | ProbeState::Flapping | ProbeState::Warning
        ) {
            bad.push((p.clone(), shown));
        }
    }
    bad.sort_by_key(|(p, s)| (super::probes::rank(s.state), p.spec.name.clone()));
    let plugins = crate::api::plugins::plugin_list(&svc);
    let plugin_trouble = plugins
        .iter()
        .filter(|p| p["state"] != "loaded" || super::plugins::is_quarantined(p))
        .count();
    let unready = svc.unready_reason();
    let failing = counts[3];
    let (banner, class) = if let Some(why) = unready {
        (format!("✖ Not ready: {why}"), "banner bad")
    } else if failing > 0 || !firing.is_empty() {
        (
            format!(
                "✖ {failing} probe(s) failing, {} alert(s) firing",
                firing.len()
            ),
            "banner bad",
        )
    } else if !bad.is_empty() || plugin_trouble > 0 {
        ("▲ Degraded: see below".to_owned(), "banner warn")
    } else {
        ("✔ All healthy".to_owned(), "banner ok")
    };
    let body = html! {
        h1 { "Overview" }
        div #summary data-live="" {
            p class=(class) role="status" { (banner) }
            div.cards {
                @for (i, s) in ProbeState::ALL.iter().enumerate() {
                    a.card href=(ctx.at(&format!("probes?state={}", s.as_str()))) {
                        div.big { (counts[i]) }
                        div.label { "probes " (chip(s.as_str())) }
                    }
                }
                a.card href=(ctx.at("alerts")) {
                    div.big { (firing.len()) }
                    div.label { "alerts firing" }
                }
                a.card href=(ctx.at("plugins")) {
                    div.big { (plugins.len()) }
                    div.label { "plugins, " (plugin_trouble) " failed, pending or quarantined" }
                }
            }
        }
        h2 { "Failing probes" }
        div #failing data-live="" {
            @if bad.is_empty() {
                p.notice.ok { "✔ No probe is failing, flapping or warning." }
            } @else {
                table {
                    thead { tr { th { "State" } th { "Probe" } th { "Since" } th { "Last result" } } }
                    tbody {
                        @for (p, s) in bad.iter().take(LISTED) {
                            tr data-probe=(p.spec.name) {
                                td { (chip(s.state.as_str())) }
                                td { a href=(ctx.at(&format!("probes/{}", p.spec.name))) { (p.spec.name) } }
                                td { (ago(s.since_ms)) }
                                td { (s.last_result.as_ref().and_then(|r| r["message"].as_str()).unwrap_or("")) }
                            }
                        }
                    }
                }
                @if bad.len() > LISTED {
                    p { a href=(ctx.at("probes?state=failing")) { "All " (bad.len()) " failing, flapping or warning probes →" } }
                }
            }
        }
        h2 { "Firing alerts" }
        div #firing data-live="" {
            @if firing.is_empty() {
                p.notice.ok { "✔ No alert is firing." }
            } @else {
                table {
                    thead { tr { th { "State" } th { "Severity" } th { "Alert" } th { "Since" } } }
                    tbody {
                        @for v in firing.iter().take(LISTED) {
                            tr {
                                td { (chip(v.state.as_str())) }
                                td { (chip(v.alert.severity.as_str())) }
                                td { a href=(ctx.at("alerts")) { (v.alert.summary) } br; span.hint.mono { (v.alert.name) } }
                                td { (time(&v.starts_at)) }
                            }
                        }
                    }
                }
                @if firing.len() > LISTED {
                    p { a href=(ctx.at("alerts")) { "All " (firing.len()) " firing alerts →" } }
                }
            }
        }
    };
    page::shell(&ctx, Nav::Overview, "Overview", body)
}
