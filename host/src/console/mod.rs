//! The web console and the public status page: HTML rendered on the server
//! (maud) from the same data the API answers, with a stylesheet and a small
//! script served from the binary (no CDN, no build step).
//!
//! ```text
//! [ui] path (default /)   overview · probes · reports · plugins · alerts   token (cookie or bearer): viewers see, operators act
//! /status                 probes' status, uptime bars, incidents, maintenance   public with [ui] public_status; no JavaScript
//! /badge/probe/NAME.svg   status and uptime badges                              public for the status page's probes
//! ```
//!
//! Every page works without JavaScript; with it, the parts marked
//! `data-live` refresh every `[ui] refresh_secs`. Like every answer of the
//! server, each carries `Server-Timing: render;dur=MS` (`bench/console.sh`
//! reads it).

mod alerts;
mod badge;
mod chart;
mod overview;
mod page;
mod plugins;
mod probes;
mod reports;
mod session;
mod status;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::service::Service;

/// The console's routes under `[ui] path`, and the public pages; `None`
/// parts are turned off.
pub(crate) fn router(svc: &Arc<Service>) -> Router<Arc<Service>> {
    let ui = &svc.config.ui;
    let mut r = Router::new();
    if ui.console {
        let b = ui.base();
        let p = |rest: &str| format!("{b}{rest}");
        let pages = Router::new()
            .route(&p("probes"), get(probes::list))
            .route(&p("probes/{name}"), get(probes::detail))
            .route(&p("probes/{name}/run"), post(probes::run))
            .route(&p("reports"), get(reports::list))
            .route(&p("reports/{id}"), get(reports::detail))
            .route(&p("plugins"), get(plugins::page))
            .route(&p("alerts"), get(alerts::page))
            .route(&p("alerts/{fingerprint}/ack"), post(alerts::ack))
            .route(&p("silences"), post(alerts::create_silence))
            .route(&p("silences/{id}/expire"), post(alerts::expire_silence))
            .route(&b, get(overview::page));
        let pages = if ui.path == "/" {
            pages
        } else {
            pages.route(&ui.path, get(overview::page))
        };
        r = r
            .merge(pages.layer(middleware::from_fn_with_state(svc.clone(), session::gate)))
            .route(&p("login"), get(session::login_form).post(session::login))
            .route(&p("logout"), post(session::logout));
    }
    // The stylesheet serves the status page too, with or without the console.
    let b = ui.base();
    r.route(&format!("{b}assets/console.css"), get(page::css))
        .route(&format!("{b}assets/console.js"), get(page::js))
        .route("/status", get(status::page))
        .route("/badge/probe/{file}", get(badge::status))
        .route("/badge/probe/{name}/uptime.svg", get(badge::uptime))
        .layer(axum::Extension(Arc::new(status::Cache::default())))
}
