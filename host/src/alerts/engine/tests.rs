//! The engine's semantics, one test each, on a fake clock: every call is
//! given its `now`, so nothing sleeps and every test takes microseconds.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use assay_contract::Severity;

use super::*;
use crate::alerts::matchers::Matcher;
use crate::alerts::notification::Kind;
use crate::alerts::routing::Route;

const S: i64 = 1000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 60 * MIN;

/// The defaults, spelt out: the tests below count on these numbers.
fn policy() -> AlertingSection {
    AlertingSection {
        group_by: vec!["alertname".into()],
        group_wait: Duration::from_secs(10),
        group_interval: Duration::from_secs(60),
        repeat_interval: Duration::from_secs(4 * 3600),
        resolve_cooldown: Duration::ZERO,
        escalate_after: Duration::from_secs(15 * 60),
        escalation_channels: Vec::new(),
        rate_window: Duration::from_secs(3600),
        ..AlertingSection::default()
    }
}

fn engine(policy: AlertingSection) -> Engine {
    Engine::new(policy, HashMap::new(), Vec::new())
}

/// An engine under `policy` where an error `name` fired at 0 and its
/// channel `ops` was told at 10 s (group_wait).
fn notified(policy: AlertingSection, name: &str) -> (Engine, Alert) {
    let mut e = engine(policy);
    let a = firing(name, Severity::Error, &[], 0);
    e.apply(a.clone(), to(&["ops"]), 0);
    assert_eq!(sent(&e.tick(10 * S)).len(), 1, "told at group_wait");
    (e, a)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    (pairs.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A firing alert that started at `at`.
fn firing(name: &str, severity: Severity, extra: &[(&str, &str)], at: i64) -> Alert {
    let mut a = Alert::firing(
        name,
        severity,
        "test",
        labels(extra),
        format!("{name} fires"),
    );
    a.starts_ms = at;
    a
}

fn resolved(mut a: Alert, at: i64) -> Alert {
    a.status = AlertStatus::Resolved;
    a.ends_ms = Some(at);
    a
}

fn to(channels: &[&str]) -> Decision {
    Decision::Deliver(
        (channels.iter())
            .map(|c| Route {
                channel: c.to_string(),
                title: None,
                body: None,
                labels: BTreeMap::new(),
                repeat_interval_ms: None,
                router: "test".into(),
            })
            .collect(),
    )
}

/// The notifications among `effects`.
fn sent(effects: &[Effect]) -> Vec<&Notification> {
    (effects.iter())
        .filter_map(|e| match e {
            Effect::Notify(n) => Some(n.iter()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// (channel, fingerprints and statuses) of each notification.
fn told(effects: &[Effect]) -> Vec<(String, Vec<(String, AlertStatus)>)> {
    (sent(effects).into_iter())
        .map(|n| {
            let alerts = (n.alerts.iter())
                .map(|a| (a.name.clone(), a.status))
                .collect();
            (n.channel.clone(), alerts)
        })
        .collect()
}

fn state(e: &Engine, now: i64, name: &str) -> ViewState {
    (e.list(now).into_iter())
        .find(|v| v.alert.name == name)
        .map(|v| v.state)
        .expect("the alert is active")
}

#[test]
fn a_new_alert_waits_group_wait_then_goes_once() {
    let mut e = engine(policy());
    let (outcome, effects) = e.apply(firing("Down", Severity::Error, &[], 0), to(&["ops"]), 0);
    assert_eq!(outcome, Outcome::New);
    assert!(matches!(effects[0], Effect::Save(_)), "{effects:?}");
    assert!(sent(&e.tick(9 * S)).is_empty(), "before group_wait");
    let effects = e.tick(10 * S);
    assert_eq!(
        told(&effects),
        [("ops".into(), vec![("Down".into(), AlertStatus::Firing)])]
    );
    assert!(sent(&e.tick(11 * S)).is_empty(), "told once");
}

#[test]
fn the_outbox_is_written_before_the_state_that_records_the_send() {
    let mut e = engine(policy());
    e.apply(firing("Down", Severity::Error, &[], 0), to(&["ops"]), 0);
    let effects = e.tick(10 * S);
    let notify = effects.iter().position(|e| matches!(e, Effect::Notify(_)));
    let save = effects.iter().position(|e| matches!(e, Effect::Save(_)));
    assert!(notify.unwrap() < save.unwrap(), "{effects:?}");
}

#[test]
fn the_same_firing_alert_again_is_deduplicated() {
    let (mut e, a) = notified(policy(), "Down");
    let mut again = a.clone();
    again.summary = "new text".into();
    let (outcome, effects) = e.apply(again, to(&["ops"]), 20 * S);
    assert_eq!(outcome, Outcome::Deduplicated);
    assert!(effects.is_empty(), "same routing: nothing to store");
    assert!(sent(&e.tick(2 * MIN)).is_empty(), "no new notification");
    let view = e.list(2 * MIN).remove(0);
    assert_eq!(view.alert.summary, "new text");
    assert_eq!(view.alert.starts_ms, 0, "its start is kept");
    // A new routing is stored (and the alert joins the new channel's group).
    let (outcome, effects) = e.apply(a, to(&["ops", "chat"]), 3 * MIN);
    assert_eq!(outcome, Outcome::Deduplicated);
    assert!(matches!(effects[0], Effect::Save(_)));
}

#[test]
fn firing_unacknowledged_alerts_repeat_every_repeat_interval() {
    let (mut e, a) = notified(policy(), "Down");
    assert!(sent(&e.tick(10 * S + 4 * HOUR - 1)).is_empty());
    assert_eq!(sent(&e.tick(10 * S + 4 * HOUR)).len(), 1, "repeated");
    // Acknowledged: no more repeats.
    e.ack(&a.fingerprint, "me".into(), "on it".into(), 5 * HOUR)
        .unwrap();
    assert_eq!(state(&e, 5 * HOUR, "Down"), ViewState::Acknowledged);
    assert!(sent(&e.tick(9 * HOUR)).is_empty());
}

#[test]
fn a_routers_repeat_interval_wins_for_its_channel() {
    let mut e = engine(policy());
    let mut d = to(&["ops"]);
    if let Decision::Deliver(r) = &mut d {
        r[0].repeat_interval_ms = Some(5 * MIN as u64);
    }
    e.apply(firing("Down", Severity::Error, &[], 0), d, 0);
    e.tick(10 * S);
    assert!(sent(&e.tick(10 * S + 5 * MIN - 1)).is_empty());
    assert_eq!(sent(&e.tick(10 * S + 5 * MIN)).len(), 1);
}

#[test]
fn alerts_of_one_group_go_together_and_changes_wait_group_interval() {
    let mut e = engine(policy());
    let a = firing("Down", Severity::Error, &[("host", "a")], 0);
    let b = firing("Down", Severity::Error, &[("host", "b")], 2 * S);
    let other = firing("Slow", Severity::Warning, &[], 3 * S);
    e.apply(a.clone(), to(&["ops"]), 0);
    e.apply(b, to(&["ops"]), 2 * S);
    e.apply(other, to(&["ops"]), 3 * S);
    // The Down group waits from its first alert; Slow is its own group.
    let effects = e.tick(10 * S);
    let n = sent(&effects);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].alerts.len(), 2, "both Down alerts in one notification");
    assert_eq!(n[0].group_labels, labels(&[("alertname", "Down")]));
    assert_eq!(
        told(&e.tick(13 * S))[0].1,
        [("Slow".into(), AlertStatus::Firing)]
    );
    // A third member after the first notification: sent at group_interval.
    e.apply(
        firing("Down", Severity::Error, &[("host", "c")], 20 * S),
        to(&["ops"]),
        20 * S,
    );
    assert!(sent(&e.tick(10 * S + MIN - 1)).is_empty());
    let n = e.tick(10 * S + MIN);
    assert_eq!(sent(&n)[0].alerts.len(), 3, "the group's whole state");
    // A resolution is a change too, told at the next group_interval.
    e.apply(resolved(a, 80 * S), Decision::Deliver(vec![]), 80 * S);
    let effects = e.tick(10 * S + 2 * MIN);
    let statuses: Vec<AlertStatus> = sent(&effects)[0].alerts.iter().map(|a| a.status).collect();
    assert!(statuses.contains(&AlertStatus::Resolved), "{statuses:?}");
}

#[test]
fn a_resolution_is_told_then_the_alert_is_forgotten() {
    let (mut e, a) = notified(policy(), "Down");
    let (outcome, _) = e.apply(resolved(a.clone(), 30 * S), to(&[]), 30 * S);
    assert_eq!(outcome, Outcome::Resolved);
    assert_eq!(state(&e, 30 * S, "Down"), ViewState::Resolved);
    let effects = e.tick(10 * S + MIN);
    assert_eq!(
        told(&effects),
        [("ops".into(), vec![("Down".into(), AlertStatus::Resolved)])]
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Forget(fp) if *fp == a.fingerprint))
    );
    assert!(e.is_empty());
    // Resolving it again is not news.
    let (outcome, effects) = e.apply(resolved(a, 2 * MIN), to(&[]), 2 * MIN);
    assert_eq!(outcome, Outcome::NotFiring);
    assert!(effects.is_empty());
}

#[test]
fn an_alert_resolved_before_any_notification_is_dropped_quietly() {
    let mut e = engine(policy());
    let a = firing("Blip", Severity::Error, &[], 0);
    e.apply(a.clone(), to(&["ops"]), 0);
    let (outcome, effects) = e.apply(resolved(a, 5 * S), to(&[]), 5 * S);
    assert_eq!(outcome, Outcome::Resolved);
    assert!(matches!(effects[0], Effect::Forget(_)), "{effects:?}");
    assert!(sent(&e.tick(MIN)).is_empty());
    assert!(e.is_empty());
}

#[test]
fn refiring_before_the_resolution_went_out_is_the_same_alert() {
    let (mut e, a) = notified(policy(), "Down");
    e.apply(resolved(a.clone(), 20 * S), to(&[]), 20 * S);
    let (outcome, _) = e.apply(a, to(&["ops"]), 30 * S);
    assert_eq!(outcome, Outcome::Refired);
    // The channel was told it fires, and it still does: nothing to say.
    assert!(sent(&e.tick(2 * MIN)).is_empty());
    assert_eq!(state(&e, 2 * MIN, "Down"), ViewState::Firing);
}

#[test]
fn firing_again_within_the_resolve_cooldown_is_held_until_it_ends() {
    let (mut e, a) = notified(
        AlertingSection {
            resolve_cooldown: Duration::from_secs(300),
            ..policy()
        },
        "Flappy",
    );
    e.apply(resolved(a.clone(), 20 * S), to(&[]), 20 * S);
    e.tick(10 * S + MIN); // the resolution goes out, the alert is forgotten
    assert!(e.is_empty());
    let (outcome, _) = e.apply(a.clone(), to(&["ops"]), 2 * MIN);
    assert_eq!(outcome, Outcome::Held);
    assert_eq!(state(&e, 2 * MIN, "Flappy"), ViewState::Held);
    assert!(sent(&e.tick(20 * S + 5 * MIN - 1)).is_empty(), "held");
    let effects = e.tick(20 * S + 5 * MIN);
    assert_eq!(
        told(&effects)[0].1,
        [("Flappy".into(), AlertStatus::Firing)]
    );
    // After the cooldown, firing again is new.
    e.apply(resolved(a.clone(), 7 * MIN), to(&[]), 7 * MIN);
    e.tick(9 * MIN);
    let (outcome, _) = e.apply(a, to(&["ops"]), 20 * MIN);
    assert_eq!(outcome, Outcome::New);
}

#[test]
fn a_silence_mutes_while_active_and_its_end_brings_the_alert_back() {
    let mut e = engine(policy());
    e.set_silences(vec![Silence {
        id: "s1".into(),
        matchers: Matcher::parse_all(&[r#"alertname="Down""#.to_string()]).unwrap(),
        created_by: "me".into(),
        comment: "maintenance".into(),
        created_ms: 0,
        starts_ms: 0,
        ends_ms: 5 * MIN,
    }]);
    e.apply(firing("Down", Severity::Error, &[], 0), to(&["ops"]), 0);
    e.apply(firing("Other", Severity::Error, &[], 0), to(&["ops"]), 0);
    let v = e.list(S);
    let down = v.iter().find(|v| v.alert.name == "Down").unwrap();
    assert_eq!(down.state, ViewState::Silenced);
    assert_eq!(down.silenced_by, ["s1"]);
    let effects = e.tick(10 * S);
    assert_eq!(
        told(&effects),
        [("ops".into(), vec![("Other".into(), AlertStatus::Firing)])]
    );
    assert!(sent(&e.tick(5 * MIN - 1)).is_empty());
    let effects = e.tick(5 * MIN);
    assert_eq!(
        told(&effects),
        [("ops".into(), vec![("Down".into(), AlertStatus::Firing)])]
    );
}

#[test]
fn a_firing_source_inhibits_targets_with_equal_labels() {
    let rule = InhibitRule {
        source: Matcher::parse_all(&[r#"alertname="HostDown""#.to_string()]).unwrap(),
        target: Matcher::parse_all(&[r#"severity="warning""#.to_string()]).unwrap(),
        equal: vec!["host".into()],
    };
    let mut e = Engine::new(policy(), HashMap::new(), vec![rule]);
    let host_down = firing("HostDown", Severity::Critical, &[("host", "a")], 0);
    e.apply(host_down.clone(), to(&["ops"]), 0);
    e.apply(
        firing("DiskSlow", Severity::Warning, &[("host", "a")], 0),
        to(&["ops"]),
        0,
    );
    e.apply(
        firing("CpuHot", Severity::Warning, &[("host", "b")], 0),
        to(&["ops"]),
        0,
    );
    let v = e.list(S);
    let disk = v.iter().find(|v| v.alert.name == "DiskSlow").unwrap();
    assert_eq!(disk.state, ViewState::Inhibited);
    assert_eq!(disk.inhibited_by, [host_down.fingerprint.as_str()]);
    let effects = e.tick(10 * S);
    let mut names: Vec<String> = told(&effects)
        .into_iter()
        .map(|(_, a)| a[0].0.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["CpuHot", "HostDown"],
        "DiskSlow is inhibited (same host)"
    );
    // The source resolves: the target is told at its group's next flush.
    e.apply(resolved(host_down, MIN), to(&[]), MIN);
    let effects = e.tick(2 * MIN);
    let names: Vec<String> = told(&effects)
        .into_iter()
        .flat_map(|(_, a)| a)
        .map(|a| a.0)
        .collect();
    assert!(names.contains(&"DiskSlow".to_string()), "{names:?}");
}

#[test]
fn past_max_per_hour_notifications_are_counted_then_summarised() {
    let limits = HashMap::from([("ops".to_string(), 2)]);
    let mut e = Engine::new(policy(), limits, Vec::new());
    for name in ["A", "B", "C"] {
        e.apply(firing(name, Severity::Error, &[], 0), to(&["ops"]), 0);
    }
    let effects = e.tick(10 * S);
    assert_eq!(sent(&effects).len(), 2);
    let limited: Vec<&Effect> = (effects.iter())
        .filter(|e| matches!(e, Effect::RateLimited(c) if c == "ops"))
        .collect();
    assert_eq!(limited.len(), 1);
    // The held one counts as told: it is not retried, it is summarised.
    assert!(sent(&e.tick(30 * MIN)).is_empty(), "no room yet");
    let effects = e.tick(10 * S + HOUR);
    let n = sent(&effects);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].kind, Kind::RateLimitSummary);
    assert!(n[0].title.contains("1 notification(s)"), "{}", n[0].title);
    assert!(
        sent(&e.tick(10 * S + HOUR + S)).is_empty(),
        "summarised once"
    );
}

#[test]
fn a_critical_alert_unacknowledged_escalates_once() {
    let mut e = engine(AlertingSection {
        escalation_channels: vec!["pager".into()],
        ..policy()
    });
    let crit = firing("Outage", Severity::Critical, &[], 0);
    let acked = firing("Known", Severity::Critical, &[], 0);
    e.apply(crit.clone(), to(&["ops"]), 0);
    e.apply(acked.clone(), to(&["ops"]), 0);
    e.apply(firing("Minor", Severity::Error, &[], 0), to(&["ops"]), 0);
    e.ack(&acked.fingerprint, "me".into(), String::new(), S)
        .unwrap();
    e.tick(10 * S);
    assert!(
        sent(&e.tick(15 * MIN - 1))
            .iter()
            .all(|n| n.kind != Kind::Escalation)
    );
    let effects = e.tick(15 * MIN);
    let esc: Vec<&Notification> = (sent(&effects).into_iter())
        .filter(|n| n.kind == Kind::Escalation)
        .collect();
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0].channel, "pager");
    assert_eq!(esc[0].alerts[0].fingerprint, crit.fingerprint);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::History { detail, .. } if detail == "escalated"))
    );
    assert!(
        e.list(15 * MIN)
            .iter()
            .any(|v| v.escalated && v.alert.name == "Outage")
    );
    assert!(
        sent(&e.tick(20 * MIN))
            .iter()
            .all(|n| n.kind != Kind::Escalation),
        "once"
    );
}

#[test]
fn acknowledging_needs_an_active_firing_alert() {
    let mut e = engine(policy());
    let a = firing("Down", Severity::Error, &[], 0);
    assert_eq!(
        e.ack("nope", "me".into(), String::new(), 0).unwrap_err(),
        AckError::Unknown("nope".into())
    );
    e.apply(a.clone(), to(&["ops"]), 0);
    e.tick(10 * S);
    e.apply(resolved(a.clone(), 20 * S), to(&[]), 20 * S);
    assert_eq!(
        e.ack(&a.fingerprint, "me".into(), String::new(), 30 * S)
            .unwrap_err(),
        AckError::Resolved(a.fingerprint.clone())
    );
}

#[test]
fn a_suppressed_alert_is_kept_but_told_to_nobody() {
    let mut e = engine(policy());
    e.apply(
        firing("Noise", Severity::Info, &[], 0),
        Decision::Suppressed("router: quiet hours".into()),
        0,
    );
    assert_eq!(state(&e, S, "Noise"), ViewState::Suppressed);
    assert!(sent(&e.tick(HOUR)).is_empty());
}

#[test]
fn restored_alerts_resume_without_telling_channels_again() {
    let mut e = engine(policy());
    e.apply(firing("Down", Severity::Error, &[], 0), to(&["ops"]), 0);
    let saved: Vec<Active> = (e.tick(10 * S).into_iter())
        .filter_map(|e| match e {
            Effect::Save(a) => Some(*a),
            _ => None,
        })
        .collect();
    assert_eq!(saved.len(), 1);
    // A restart an hour later: the channel was told; its repeat is due
    // repeat_interval after the restart, not at once and not never.
    let mut again = engine(policy());
    again.restore(saved, HOUR);
    assert!(sent(&again.tick(HOUR + MIN)).is_empty());
    assert_eq!(sent(&again.tick(5 * HOUR)).len(), 1);
    assert_eq!(again.firing_by_severity()[2], (Severity::Error, 1));
}

/// Alertmanager's `endsAt`: a firing alert that is not sent again by its
/// end resolves by itself, as of its end; each re-send moves the end.
#[test]
fn a_firing_alert_past_its_end_without_a_resend_resolves() {
    let (mut e, a) = notified(policy(), "Expiring");
    let mut sent_again = a.clone();
    sent_again.ends_ms = Some(2 * MIN);
    let (outcome, effects) = e.apply(sent_again.clone(), to(&["ops"]), 30 * S);
    assert_eq!(outcome, Outcome::Deduplicated);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Save(_))),
        "a new end is stored, so a restart keeps it"
    );
    // The same end again changes nothing.
    assert!(
        e.apply(sent_again.clone(), to(&["ops"]), 40 * S)
            .1
            .is_empty()
    );
    assert!(told(&e.tick(2 * MIN - 1)).is_empty(), "not yet");
    sent_again.ends_ms = Some(3 * MIN);
    e.apply(sent_again, to(&["ops"]), 2 * MIN - 1);
    assert!(
        told(&e.tick(2 * MIN + S)).is_empty(),
        "the re-send moved its end"
    );
    let effects = e.tick(3 * MIN);
    let history: Vec<&str> = (effects.iter())
        .filter_map(|e| match e {
            Effect::History { detail, .. } => Some(detail.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(history, ["resolved"]);
    // Its group was due: the resolution goes out in the same tick, as of its end.
    let out = sent(&effects);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, AlertStatus::Resolved);
    assert_eq!(out[0].alerts[0].fingerprint, a.fingerprint);
    assert_eq!(out[0].alerts[0].ends_ms, Some(3 * MIN));
    assert!(e.is_empty(), "told resolved everywhere: forgotten");
}

/// A channel that tracks acknowledgements (PagerDuty) is told of an ack of
/// an alert it was told fires; other channels are not.
#[test]
fn an_ack_is_told_to_the_channels_that_track_acknowledgements() {
    let mut e = engine(policy()).with_ack_channels(["pd".to_owned()].into());
    let a = firing("Paged", Severity::Critical, &[], 0);
    e.apply(a.clone(), to(&["pd", "ops"]), 0);
    assert_eq!(sent(&e.tick(10 * S)).len(), 2);
    let (_, effects) = e
        .ack(&a.fingerprint, "ann".into(), "on it".into(), 20 * S)
        .unwrap();
    let out = sent(&effects);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].channel.as_str(), out[0].kind),
        ("pd", Kind::Acknowledgement)
    );
    assert!(
        matches!(effects.first(), Some(Effect::Notify(_))),
        "the outbox before the state that records the ack"
    );
}
