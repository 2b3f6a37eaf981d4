//! The host's own alert sources: probe state changes, monitored validation
//! verdicts, plugin load failures and dead-lettered notifications.
//!
//! | alert | severity | fires when | resolves when |
//! |---|---|---|---|
//! | `ProbeFailing` | `critical` for critical probes, else `error` | the probe turns failing | it passes again or warns |
//! | `ProbeWarning` | `warning` | the probe turns warning | it passes or fails |
//! | `ProbeFlapping` | `warning` | the probe starts flapping | it passes (settles) |
//! | `ValidationFailing` | `error` (fail), `warning` (warn), `error` (error) | a monitored subject's verdict turns so | it passes |
//! | `PluginLoadFailed` | `error` | a plugin file fails to load | it loads |
//! | `PluginQuarantined` | `error` | a plugin is quarantined after repeated timeouts, traps or limit breaches | a trial call answers, or an operator releases it |
//! | `PluginUpgradePending` | `warning` | a new version of a running plugin asks for grants the old one did not, and waits for approval | it is approved, its grants change, or its file is replaced, reverted or removed |
//! | `RouteTestsFailing` | `error` | the routing tests (`[alerting] route_tests`) fail: a routing change was refused, or the routing in force fails them | they pass again |
//! | `NotificationDeadLettered` | `warning` | a notification runs out of attempts | the channel delivers again |

use std::collections::BTreeMap;

use assay_contract::Severity;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::Alerting;
use super::model::Alert;
use crate::probes::{ProbeEvent, ProbeState};
use crate::registry::ReloadEvent;
use crate::tasks::Tasks;
use crate::validate::{MonitorVerdict, Verdict};

/// What happened in the host that alerting hears of (the composition root
/// turns each part's own events into these).
#[derive(Debug, Clone)]
pub enum HostEvent {
    /// A plugin file failed to load; if an older version was loaded, it keeps serving.
    PluginFailed(Box<ReloadEvent>),
    /// A probe instance's reported state changed.
    ProbeStateChanged(Box<ProbeEvent>),
    /// A monitored subject's verdict changed (or was seen for the first time).
    MonitorVerdict(Box<MonitorVerdict>),
    /// A plugin that had failed to load has loaded.
    PluginRecovered(String),
    /// A new version of a running plugin waits for approval (its event says what it asks).
    UpgradePending(Box<ReloadEvent>),
    /// A plugin has no version waiting for approval any more.
    UpgradeSettled(String),
    /// A plugin was quarantined, or released (by a trial call or an operator).
    Quarantine(Box<crate::runtime::QuarantineEvent>),
    /// The routing tests failed (what failed, and what it means), or
    /// passed again (`None`).
    RouteTests(Option<Box<RouteTestFailure>>),
}

/// Routing tests that failed.
#[derive(Debug, Clone)]
pub struct RouteTestFailure {
    /// One line: how many cases failed, and which.
    pub summary: String,
    /// What became of the change: refused, or (nothing to refuse) reported.
    pub consequence: String,
    /// The diff, for the alert's description.
    pub diff: String,
}

/// Turns host events into alerts until `tasks` stop.
pub fn spawn(mut rx: broadcast::Receiver<HostEvent>, alerting: Alerting, tasks: &Tasks) {
    let t = tasks.clone();
    tasks.spawn(async move {
        loop {
            let event = tokio::select! {
                e = rx.recv() => e,
                _ = t.stopped() => return,
            };
            let event = match event {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(
                        "alerts: {n} host event(s) were missed (the event stream overflowed)"
                    );
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            for alert in alerts_of(&event) {
                alerting.raise(alert);
            }
        }
    });
}

/// The alerts (firing and resolved) one host event means.
pub fn alerts_of(event: &HostEvent) -> Vec<Alert> {
    match event {
        HostEvent::ProbeStateChanged(e) => probe(e),
        HostEvent::MonitorVerdict(v) => monitor(v),
        HostEvent::PluginFailed(e) => vec![
            plugin_failed(&e.plugin)
                .with_description(e.error.clone().unwrap_or_default())
                .annotate("file", e.file.clone()),
        ],
        HostEvent::PluginRecovered(name) => vec![plugin_failed(name).resolved()],
        HostEvent::UpgradePending(e) => vec![
            upgrade_pending(&e.plugin)
                .with_description(e.error.clone().unwrap_or_default())
                .annotate("file", e.file.clone())
                .annotate("version", e.new_version.clone().unwrap_or_default())
                .annotate("digest", e.new_digest.clone().unwrap_or_default()),
        ],
        HostEvent::UpgradeSettled(name) => vec![upgrade_pending(name).resolved()],
        HostEvent::Quarantine(q) => vec![quarantined(q)],
        HostEvent::RouteTests(failure) => vec![route_tests(failure.as_deref())],
    }
}

fn route_tests(failure: Option<&RouteTestFailure>) -> Alert {
    let a = Alert::firing(
        "RouteTestsFailing",
        Severity::Error,
        "host:route-tests",
        BTreeMap::new(),
        "the routing tests fail",
    );
    match failure {
        Some(f) => {
            let mut a = a.with_description(format!("{}\n\n{}", f.consequence, f.diff));
            a.summary = format!("{}: {}", f.consequence, f.summary);
            a
        }
        None => a.resolved(),
    }
}

fn quarantined(q: &crate::runtime::QuarantineEvent) -> Alert {
    let plugin = &*q.plugin;
    let a = Alert::firing(
        "PluginQuarantined",
        Severity::Error,
        format!("plugin:{plugin}"),
        BTreeMap::from([("plugin".to_owned(), plugin.to_owned())]),
        format!("plugin {plugin} is quarantined: its calls are refused"),
    );
    match q.change {
        crate::runtime::QuarantineChange::Quarantined { cooldown, failures } => a
            .with_description(format!(
                "{failures} consecutive failure(s); next trial in {} s. Last failure: {}",
                cooldown.as_secs(),
                q.reason
            ))
            .annotate("cooldown_seconds", cooldown.as_secs().to_string()),
        crate::runtime::QuarantineChange::Released => a.resolved(),
    }
}

fn upgrade_pending(plugin: &str) -> Alert {
    Alert::firing(
        "PluginUpgradePending",
        Severity::Warning,
        format!("plugin:{plugin}"),
        BTreeMap::from([("plugin".to_owned(), plugin.to_owned())]),
        format!("a new version of plugin {plugin} asks for new grants and waits for approval"),
    )
}

fn plugin_failed(plugin: &str) -> Alert {
    Alert::firing(
        "PluginLoadFailed",
        Severity::Error,
        format!("plugin:{plugin}"),
        BTreeMap::from([("plugin".to_owned(), plugin.to_owned())]),
        format!("plugin {plugin} failed to load"),
    )
}

fn probe(e: &ProbeEvent) -> Vec<Alert> {
    let mut labels = e.labels.clone();
    labels.insert("probe".into(), e.probe.clone());
    labels.insert("plugin".into(), e.plugin.clone());
    let source = format!("probe:{}", e.probe);
    let make = |name: &str, severity: Severity, what: &str| {
        Alert::firing(
            name,
            severity,
            source.clone(),
            labels.clone(),
            format!("probe {} is {what}: {}", e.probe, e.result.message),
        )
        .annotate("probe_state", e.to.as_str())
        .annotate("at", crate::clock::rfc3339(e.result.at_ms))
    };
    let failing = make(
        "ProbeFailing",
        if e.critical {
            Severity::Critical
        } else {
            Severity::Error
        },
        "failing",
    );
    let warning = make("ProbeWarning", Severity::Warning, "warning");
    let flapping = make("ProbeFlapping", Severity::Warning, "flapping");
    match e.to {
        ProbeState::Failing => vec![failing, warning.resolved()],
        ProbeState::Warning => vec![warning, failing.resolved()],
        ProbeState::Flapping => vec![flapping],
        ProbeState::Passing => vec![failing.resolved(), warning.resolved(), flapping.resolved()],
        ProbeState::Unknown => vec![],
    }
}

fn monitor(v: &MonitorVerdict) -> Vec<Alert> {
    let labels = BTreeMap::from([
        ("monitor".to_owned(), v.monitor.clone()),
        ("subject".to_owned(), v.subject.clone()),
    ]);
    let source = format!("monitor:{}", v.monitor);
    let alert = |severity: Severity| {
        Alert::firing(
            "ValidationFailing",
            severity,
            source.clone(),
            labels.clone(),
            format!(
                "{} is {} (monitor {})",
                v.subject,
                v.verdict.as_str(),
                v.monitor
            ),
        )
        .annotate("report_id", v.report_id.to_string())
        .annotate("verdict", v.verdict.as_str())
    };
    // One alert name, a severity per verdict: the others are resolved.
    let all = [Severity::Warning, Severity::Error];
    let firing = match v.verdict {
        Verdict::Pass => None,
        Verdict::Warn => Some(Severity::Warning),
        Verdict::Fail | Verdict::Error => Some(Severity::Error),
    };
    all.into_iter()
        .map(|s| {
            let a = alert(s);
            if Some(s) == firing { a } else { a.resolved() }
        })
        .collect()
}

/// `NotificationDeadLettered` for `channel`; `dead` names the row and its last error.
pub fn dead_letter(channel: &str, dead: Option<(i64, &str)>) -> Alert {
    let a = Alert::firing(
        "NotificationDeadLettered",
        Severity::Warning,
        format!("channel:{channel}"),
        BTreeMap::from([("channel".to_owned(), channel.to_owned())]),
        format!("notifications to {channel} are being dead-lettered"),
    );
    match dead {
        Some((id, err)) => a
            .with_description(format!("notification {id} ran out of attempts: {err}"))
            .annotate("notification_id", id.to_string()),
        None => a,
    }
}
