//! The router chain: `[[router]]` plugins in config order, each deciding
//! deliveries or suppression, with Alertmanager's `continue`; and the
//! built-in default when no router is configured.
//!
//! A router that is missing, fails, traps or times out never loses the
//! alert: the default routing takes over for it (logged and counted).
//! Whoever routes, a channel never receives alerts below its `min_severity`,
//! and deliveries to channels that do not exist are dropped (logged, counted).

use std::collections::BTreeMap;
use std::sync::Arc;

use assay_contract::Severity;
use serde::{Deserialize, Serialize};

use super::model::Alert;
use crate::registry::{PluginKind, Registry};
use crate::runtime::Runtime;
use crate::runtime::bindings::RoutingDecision as WitDecision;
use crate::telemetry::AlertMetrics;

/// One channel an alert goes to, as a router decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_interval_ms: Option<u64>,
    /// Which router decided (`default` for the built-in).
    pub router: String,
}

/// Where an alert goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Deliver(Vec<Route>),
    Suppressed(String),
}

/// One router's part in routing an alert, in words (for the alert's trail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Step {
    /// The router, or `host` (a channel's own rule).
    pub router: String,
    pub decided: String,
}

impl Step {
    fn new(router: &str, decided: impl Into<String>) -> Step {
        Step {
            router: router.to_owned(),
            decided: decided.into(),
        }
    }

    /// `router: decided; router: decided`.
    pub(crate) fn text(steps: &[Step]) -> String {
        let parts: Vec<String> = (steps.iter())
            .map(|s| format!("{}: {}", s.router, s.decided))
            .collect();
        parts.join("; ")
    }
}

/// Where an alert goes, and how the chain decided it.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub decision: Decision,
    pub steps: Vec<Step>,
}

/// The `[[router]]` entries with their config as JSON, made once. The
/// plugins come with each call ([`Chain::route`]), so one chain can be tried
/// against a registry that is not published yet (the routing-test gate).
pub(crate) struct Chain {
    routers: Vec<(String, String)>,
    /// Each channel's name and `min_severity`, in config order.
    channels: Vec<(String, Severity)>,
    runtime: Arc<Runtime>,
    /// `None`: a trial chain (routing tests), whose calls count nowhere and
    /// pass no plugin's gate (no share, no quarantine).
    metrics: Option<AlertMetrics>,
    /// A router's repeat interval is at least this (`[alerting] group_interval`).
    min_repeat_ms: u64,
    /// Drops of deliveries to unknown channels, logged once per router and
    /// channel per [`DROP_LOG_EVERY`] with the count since.
    drops: std::sync::Mutex<DropLog>,
}

/// How often a router's drops to one unknown channel are logged.
const DROP_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// (router, channel) → (when last logged, drops since).
type DropLog = std::collections::HashMap<(String, String), (Option<std::time::Instant>, u64)>;

impl Chain {
    pub(crate) fn new(
        config: &crate::config::HostConfig,
        runtime: Arc<Runtime>,
        metrics: Option<AlertMetrics>,
    ) -> Chain {
        Chain {
            min_repeat_ms: config.alerting.group_interval.as_millis() as u64,
            drops: std::sync::Mutex::default(),
            channels: (config.channels.iter())
                .map(|c| (c.name.clone(), c.min_severity))
                .collect(),
            runtime,
            metrics,
            routers: config
                .routers
                .iter()
                .map(|r| {
                    let json = serde_json::to_string(&r.config).expect("TOML tables are JSON");
                    (r.plugin.clone(), json)
                })
                .collect(),
        }
    }

    /// Starts preparing each `[[router]]`'s snapshot for its config, so the
    /// first alerts do not wait for it (they would take the plain path).
    pub(crate) fn warm(&self, registry: &Registry) {
        for (name, config) in &self.routers {
            if let Some(p) = registry.get(name) {
                let _ = p.router(config);
            }
        }
    }

    /// Whether every `[[router]]` names a router plugin of `registry` (the
    /// live chain would route around a missing one; a test must not).
    pub(crate) fn check(&self, registry: &Registry) -> Result<(), String> {
        for (name, _) in &self.routers {
            match registry.get(name) {
                Some(p) if p.kind == PluginKind::Router => {}
                Some(p) => {
                    return Err(format!(
                        "[[router]] {name} is a {} plugin, not a router",
                        p.kind
                    ));
                }
                None => {
                    return Err(format!(
                        "[[router]] {name}: no router plugin of that name is loaded from {}",
                        registry.dir.display()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Routes `alert` through the chain, with the router plugins of
    /// `registry`; the routers' wall clock reads `at` (Unix ms) when given.
    /// Answers the decision and how the chain came to it.
    pub(crate) async fn route(
        &self,
        registry: &Registry,
        alert: &Alert,
        at: Option<i64>,
    ) -> Routed {
        let mut routes = Vec::new();
        let mut steps = Vec::new();
        if self.routers.is_empty() {
            // No router decided: the routes say `default`, and no step is kept.
            routes = self.default_routes(alert);
        } else {
            let wit_alert = alert.to_wit();
            for (name, config) in &self.routers {
                let outcome = match registry.get(name) {
                    Some(p) if p.kind == PluginKind::Router => {
                        let mut callee = p
                            .router(config)
                            .expect("router plugins are pre-linked as routers");
                        if self.metrics.is_none() {
                            // A trial (routing tests) neither takes the plugin's share
                            // of live traffic nor counts toward its quarantine: a
                            // refused change must not harm the routing in force.
                            callee.gate = None;
                        }
                        (self.runtime)
                            .call_route(callee, &wit_alert, config, at)
                            .await
                            .outcome
                            .map_err(|e| {
                                // Refusals (quarantined, busy) are counted in
                                // assay_plugin_rejected_total; a log line per alert would
                                // let an alert storm flood the log.
                                let refused = matches!(e, crate::runtime::CallFailure::Refused(_));
                                (e.to_string(), refused)
                            })
                    }
                    Some(p) => Err((
                        format!("{name} is a {} plugin, not a router", p.kind),
                        false,
                    )),
                    None => Err((format!("no router plugin named {name} is loaded"), false)),
                };
                let label = match &outcome {
                    Ok(_) => "ok",
                    Err(_) => "failed",
                };
                if let Some(m) = &self.metrics {
                    m.router_calls.with_label_values(&[name, label]).inc();
                }
                match outcome {
                    Ok(WitDecision::Suppress(why)) => {
                        if routes.is_empty() {
                            steps.push(Step::new(name, format!("suppressed: {why}")));
                            return Routed {
                                decision: Decision::Suppressed(format!("{name}: {why}")),
                                steps,
                            };
                        }
                        steps.push(Step::new(
                            name,
                            format!(
                                "suppress ({why}): ends the chain; the deliveries before stand"
                            ),
                        ));
                        break;
                    }
                    Ok(WitDecision::Deliver(d)) => {
                        let to: Vec<&str> = d.to.iter().map(|d| d.channel.as_str()).collect();
                        let what = if to.is_empty() {
                            "no delivery".to_owned()
                        } else {
                            format!("deliver to {}", to.join(", "))
                        };
                        let then = if d.continue_chain {
                            "the next router decides too"
                        } else {
                            "ends the chain"
                        };
                        steps.push(Step::new(name, format!("{what}; {then}")));
                        routes.extend(d.to.into_iter().map(|d| Route {
                            channel: d.channel,
                            title: d.title,
                            body: d.body,
                            labels: d.labels.into_iter().collect(),
                            // Never more often than a group may be notified.
                            repeat_interval_ms:
                                d.repeat_interval_ms.map(|ms| ms.max(self.min_repeat_ms)),
                            router: name.clone(),
                        }));
                        if !d.continue_chain {
                            break;
                        }
                    }
                    Err((e, refused)) => {
                        if refused {
                            tracing::debug!(
                                router = %name,
                                alert = %alert.name,
                                "router refused, using the default routing for this alert: {e}"
                            );
                        } else {
                            tracing::error!(
                                router = %name,
                                alert = %alert.name,
                                fingerprint = %alert.fingerprint,
                                "routing failed, using the default routing for this alert: {e}"
                            );
                        }
                        steps.push(Step::new(
                            name,
                            format!("failed ({e}): the default routing takes over"),
                        ));
                        routes.extend(self.default_routes(alert));
                        break;
                    }
                }
            }
        }
        let decision = Decision::Deliver(self.filter(alert, routes, &mut steps));
        Routed { decision, steps }
    }

    /// Drops routes to unknown channels, below a channel's `min_severity`,
    /// and repeats; each drop is a step of `steps`.
    fn filter(&self, alert: &Alert, routes: Vec<Route>, steps: &mut Vec<Step>) -> Vec<Route> {
        let mut out: Vec<Route> = Vec::with_capacity(routes.len());
        for r in routes {
            if !self.channels.iter().any(|(c, _)| *c == r.channel) {
                if let Some(m) = &self.metrics {
                    self.note_drop(&r.router, &r.channel);
                    m.routes_dropped
                        .with_label_values(&["unknown_channel"])
                        .inc();
                }
                steps.push(Step::new(
                    "host",
                    format!("dropped {}: no such [[channel]]", r.channel),
                ));
            } else if !self.meets(alert, &r.channel) {
                if let Some(m) = &self.metrics {
                    m.routes_dropped
                        .with_label_values(&["below_min_severity"])
                        .inc();
                }
                steps.push(Step::new(
                    "host",
                    format!("dropped {}: the alert is below its min_severity", r.channel),
                ));
            } else if !out.iter().any(|o| o.channel == r.channel) {
                out.push(r);
            }
        }
        out
    }

    /// The built-in routing: every channel whose `min_severity` the alert meets.
    fn default_routes(&self, alert: &Alert) -> Vec<Route> {
        (self.channels.iter())
            .filter(|(_, min)| alert.severity >= *min)
            .map(|(c, _)| Route {
                channel: c.clone(),
                title: None,
                body: None,
                labels: BTreeMap::new(),
                repeat_interval_ms: None,
                router: "default".into(),
            })
            .collect()
    }

    fn meets(&self, alert: &Alert, channel: &str) -> bool {
        (self.channels.iter()).any(|(c, min)| c == channel && alert.severity >= *min)
    }

    /// Logs a drop to an unknown channel, at most once per router and
    /// channel per [`DROP_LOG_EVERY`], with the count since the last line.
    fn note_drop(&self, router: &str, channel: &str) {
        let now = std::time::Instant::now();
        let mut drops = self.drops.lock().expect("drop log lock");
        // Bounded: a router inventing channel names cannot grow the map forever.
        if drops.len() >= 1024 {
            drops.retain(|_, (at, _)| at.is_some_and(|at| now.duration_since(at) < DROP_LOG_EVERY));
        }
        let key = (router.to_owned(), channel.to_owned());
        let entry = drops.entry(key).or_insert((None, 0));
        entry.1 += 1;
        if entry
            .0
            .is_none_or(|at| now.duration_since(at) >= DROP_LOG_EVERY)
        {
            tracing::warn!(
                router,
                channel,
                "a router named a channel that does not exist: {} delivery(ies) dropped (logged at most once a minute per router and channel)",
                entry.1
            );
            *entry = (Some(now), 0);
        }
    }
}
