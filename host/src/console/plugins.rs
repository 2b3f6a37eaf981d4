//! Plugins: kind, version, digest, state (failed, quarantined, pending),
//! call statistics, and the reload events.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::page::{self, Ctx, Nav, chip, time};
use crate::service::Service;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A plugin whose circuit breaker is open (or trying one call).
pub(super) fn is_quarantined(p: &Value) -> bool {
    p["quarantine"]["state"]
        .as_str()
        .is_some_and(|s| s != "closed")
}

/// `GET {path}plugins`.
pub(super) async fn page(
    State(svc): State<Arc<Service>>,
    Extension(ctx): Extension<Ctx>,
) -> Response {
    let mut plugins = crate::api::plugins::plugin_list(&svc);
    plugins.sort_by_key(|p| (p["state"] == "loaded", text(&p["name"])));
    let mut events = svc.reloads.events();
    events.reverse();
    let body = html! {
        h1 { "Plugins" }
        div #plugins data-live="" {
            table {
                thead { tr {
                    th { "State" } th { "Plugin" } th { "Kind" } th { "Version" } th { "Digest" }
                    th.num { "OK" } th.num { "Errors" } th.num { "Timeouts" } th.num { "Busy" } th { "Last error" }
                } }
                tbody {
                    @for p in &plugins {
                        @let quarantined = is_quarantined(p);
                        @let state = if quarantined { "quarantined".to_owned() } else { text(&p["state"]) };
                        @let digest = text(&p["digest"]);
                        tr data-plugin=(text(&p["name"])) {
                            td { (chip(&state)) }
                            td.mono { (text(&p["name"])) }
                            td { (text(&p["kind"])) }
                            td { (text(&p["version"])) }
                            td.mono title=(digest) { (digest.get(..19).unwrap_or(&digest)) }
                            td.num { (text(&p["calls"]["ok"])) }
                            td.num { (text(&p["calls"]["error"])) }
                            td.num { (text(&p["calls"]["timeout"])) }
                            td.num { (text(&p["calls"]["busy"])) }
                            td {
                                @if quarantined { "quarantine " (text(&p["quarantine"]["state"])) " after " (text(&p["quarantine"]["consecutive_failures"])) " failures" br; }
                                @if let Some(m) = p["last_error"]["message"].as_str() { (m) }
                                @else { (p["last_error"].as_str().unwrap_or_default()) }
                                @if p["state"] == "pending" {
                                    br; "waits for approval (" code { (text(&p["pending"]["approve"])) } ")"
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Reload events" }
        div #events data-live="" {
            @if events.is_empty() { p.hint { "No reloads since the host started." } }
            @else {
                table {
                    thead { tr { th { "When" } th { "Plugin" } th { "Action" } th { "Outcome" } th { "Version" } th { "Error" } } }
                    tbody {
                        @for e in events.iter().take(50) {
                            tr {
                                td { (time(&e.at)) }
                                td.mono { (e.plugin) }
                                td { (e.action.as_str()) }
                                td { (chip(e.outcome.as_str())) }
                                td { (e.old_version.as_deref().unwrap_or("")) @if e.new_version.is_some() { " → " (e.new_version.as_deref().unwrap_or("")) } }
                                td { (e.error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    };
    page::shell(&ctx, Nav::Plugins, "Plugins", body)
}
