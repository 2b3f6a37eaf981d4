//! Running routing tests: each case on a fresh engine, its alerts routed by
//! the real chain at the case's time, then the engine's first flush read
//! for who was notified of what, and why the rest were not.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::cases::{Case, Cases};
use super::report::{AlertResult, CaseResult, Got, Report};
use crate::alerts::engine::{Effect, Engine, ViewState};
use crate::alerts::matchers::InhibitRule;
use crate::alerts::notification::Kind;
use crate::alerts::routing::{Chain, Decision, Step};
use crate::config::HostConfig;
use crate::registry::Registry;

/// Runs every case of `cases` through `chain` (with `registry`'s router
/// plugins) and `config`'s inhibition rules and grouping policy.
pub(crate) async fn run(
    cases: &Cases,
    chain: &Chain,
    registry: &Registry,
    config: &HostConfig,
) -> Report {
    let inhibit: Vec<InhibitRule> = config.inhibit_rules.iter().map(InhibitRule::from).collect();
    let mut results = Vec::with_capacity(cases.cases.len());
    for case in &cases.cases {
        results.push(run_case(case, chain, registry, config, &inhibit).await);
    }
    Report::new(cases.path.display().to_string(), results)
}

async fn run_case(
    case: &Case,
    chain: &Chain,
    registry: &Registry,
    config: &HostConfig,
    inhibit: &[InhibitRule],
) -> CaseResult {
    // No rate limits: a case is about where alerts go, not how many per hour.
    let mut engine = Engine::new(config.alerting.clone(), HashMap::new(), inhibit.to_vec());
    engine.set_silences(case.silences.clone());
    let at = case.at_ms;
    let mut how = Vec::with_capacity(case.alerts.len());
    for (alert, _) in &case.alerts {
        let routed = chain.route(registry, alert, Some(at)).await;
        how.push(Step::text(&routed.steps));
        engine.apply(alert.clone(), routed.decision, at);
    }
    // The first flush of every new group: `group_wait` after the alerts.
    let flush_at = at.saturating_add(config.alerting.group_wait.as_millis() as i64);
    let mut told: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for effect in engine.tick(flush_at) {
        let Effect::Notify(ns) = effect else { continue };
        for n in ns.iter().filter(|n| n.kind == Kind::Alerts) {
            for a in &n.alerts {
                if let Some((c, _)) = case
                    .alerts
                    .iter()
                    .find(|(c, _)| c.fingerprint == a.fingerprint)
                {
                    told.entry(c.fingerprint.as_str())
                        .or_default()
                        .insert(n.channel.clone());
                }
            }
        }
    }
    let views: HashMap<String, _> = (engine.list(flush_at).into_iter())
        .map(|v| (v.alert.fingerprint.clone(), v))
        .collect();
    let silence_names: BTreeMap<&str, String> = (case.silences.iter().enumerate())
        .map(|(i, s)| {
            let what = if s.comment.is_empty() {
                let ms: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
                format!("{{{}}}", ms.join(", "))
            } else {
                format!("{:?}", s.comment)
            };
            (s.id.as_str(), format!("silence {} {what}", i + 1))
        })
        .collect();
    let alert_names: BTreeMap<&str, String> = (case.alerts.iter())
        .map(|(a, _)| (a.fingerprint.as_str(), a.name.clone()))
        .collect();
    let mut alerts = Vec::with_capacity(case.alerts.len());
    for ((alert, expect), how) in case.alerts.iter().zip(how) {
        let fp = alert.fingerprint.as_str();
        let view = views.get(fp);
        let got = match view {
            Some(v) if v.state == ViewState::Silenced => Got::Silenced {
                by: named(&v.silenced_by, &silence_names),
            },
            Some(v) if v.state == ViewState::Inhibited => Got::Inhibited {
                by: named(&v.inhibited_by, &alert_names),
            },
            Some(v) if let Decision::Suppressed(why) = &v.routing => {
                Got::Suppressed { why: why.clone() }
            }
            _ => {
                let channels = told.remove(fp).unwrap_or_default();
                let routers = match view.map(|v| &v.routing) {
                    Some(Decision::Deliver(routes)) => (routes.iter())
                        .filter(|r| channels.contains(&r.channel))
                        .map(|r| r.router.clone())
                        .collect(),
                    _ => BTreeSet::new(),
                };
                Got::Delivered { channels, routers }
            }
        };
        alerts.push(AlertResult::new(
            alert.name.clone(),
            (alert.labels.iter())
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            expect.clone(),
            got,
            how,
        ));
    }
    CaseResult::new(case.name.clone(), at, alerts)
}

/// Each of `ids` by its name in `names` (the id itself when it has none).
fn named(ids: &[String], names: &BTreeMap<&str, String>) -> Vec<String> {
    (ids.iter())
        .map(|id| {
            names
                .get(id.as_str())
                .cloned()
                .unwrap_or_else(|| id.clone())
        })
        .collect()
}
