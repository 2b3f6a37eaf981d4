//! The alert engine: a state machine over every active alert. It decides
//! what to store and what to send, and does no I/O: no store, no metrics,
//! no clock (`now` comes in with each call). [`super::driver`] runs it and
//! carries out its [`Effect`]s, so each semantic here is unit-tested with a
//! fake clock (`tests.rs`). It applies, in this order:
//!
//! 1. **Dedupe** by fingerprint: a firing alert that is already firing is the
//!    same alert (its text is refreshed, nothing is sent).
//! 2. **Cooldown**: an alert firing again within `resolve_cooldown` of its
//!    resolution is held back until the cooldown ends.
//! 3. **Grouping**: each routed channel gets the alert in the group of alerts
//!    sharing its `group_by` label values. A new group waits `group_wait`, a
//!    notified group sends changes at most every `group_interval`, and
//!    repeats its firing, unacknowledged alerts every `repeat_interval` (or
//!    the router's per-delivery interval).
//! 4. **Silences** and **inhibition** ([`super::muting`]) mute alerts when
//!    groups flush (so ending a silence or an inhibiting alert brings them
//!    back at the next tick).
//! 5. **Rate limits**: past a channel's `max_per_hour`, notifications are
//!    counted, not sent, and a summary goes out once there is room again.
//! 6. **Escalation**: a critical alert firing, unacknowledged, past
//!    `escalate_after` goes once to `escalation_channels`.

mod flush;
mod rate;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use assay_contract::Severity;
use serde::{Deserialize, Serialize};

use super::matchers::InhibitRule;
use super::model::{Alert, AlertStatus};
use super::muting::{Mute, Muting};
use super::notification::{Kind, Notification, Rendering};
use super::routing::Decision;
use super::silences::Silence;
use crate::clock::rfc3339;
use crate::config::AlertingSection;

/// What the driver must do for the engine, in this order.
#[derive(Debug)]
pub enum Effect {
    /// Append to the alert history.
    History { alert: Box<Alert>, detail: String },
    /// Queue these in the outbox. They come before the [`Effect::Save`]s that
    /// record them as sent: the store commits in order, so a crash between
    /// the two repeats a notification instead of losing it.
    Notify(Vec<Notification>),
    /// Store the alert's state (replacing what was stored).
    Save(Box<Active>),
    /// Drop the alert's stored state: it is over.
    Forget(String),
    /// A channel's rate limit held a notification back.
    RateLimited(String),
}

/// What the engine made of an alert event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Firing, and not active before.
    New,
    /// An active firing alert resolved.
    Resolved,
    /// Fired again before its resolution went out.
    Refired,
    /// Firing, and already firing: the same alert.
    Deduplicated,
    /// A resolution of an alert that was not firing.
    NotFiring,
    /// Firing again within `resolve_cooldown`: held back until it ends.
    Held,
    /// Taken by a replica and queued, durably, for the replica that decides
    /// alert state (`[storage] url`: replicas sharing PostgreSQL).
    Queued,
}
crate::names::named!(Outcome, "outcome");

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("no active alert has the fingerprint {0}")]
    Unknown(String),
    #[error("alert {0} is resolved")]
    Resolved(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub comment: String,
    pub at_ms: i64,
}

/// One active alert and what the engine knows of it: the stored row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Active {
    alert: Alert,
    decision: Decision,
    acked: Option<Ack>,
    escalated: bool,
    held_until_ms: Option<i64>,
    /// The status each channel was last told.
    notified: BTreeMap<String, AlertStatus>,
}

impl Active {
    pub fn alert(&self) -> &Alert {
        &self.alert
    }
}

/// What `GET /v1/alerts` shows of one.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub state: ViewState,
    pub alert: Alert,
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    pub acknowledged: Option<Ack>,
    pub escalated: bool,
    pub routing: Decision,
    pub notified: BTreeMap<String, AlertStatus>,
}

/// An active alert's state as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewState {
    Firing,
    /// Resolved, and the resolution not yet told to every channel.
    Resolved,
    Silenced,
    Inhibited,
    Acknowledged,
    /// Held back by the resolve cooldown.
    Held,
    /// A router suppressed it.
    Suppressed,
}
crate::names::named!(ViewState, "alert state");

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct GroupId {
    channel: String,
    key: String,
}

#[derive(Debug)]
struct Group {
    labels: BTreeMap<String, String>,
    members: BTreeSet<String>,
    last_flush_ms: Option<i64>,
    /// Since when a change waits to be sent.
    pending_since_ms: Option<i64>,
    /// The earliest time a flush could send anything (0: look at the next
    /// tick), so that a tick looks only at groups that may be due, not at
    /// every group; `i64::MAX` until something changes (see `recheck_all`).
    next_check_ms: i64,
}

/// The alert state machine (see the module docs).
pub struct Engine {
    policy: AlertingSection,
    inhibit: Vec<InhibitRule>,
    silences: Vec<Silence>,
    active: HashMap<String, Active>,
    groups: BTreeMap<GroupId, Group>,
    /// Until when each recently resolved fingerprint is held back if it fires.
    cooldowns: HashMap<String, i64>,
    rates: rate::RateLimits,
    /// Channels told of acknowledgements (PagerDuty's incidents follow them).
    ack_channels: BTreeSet<String>,
    /// Something may have unmuted alerts (a silence ended or changed, an
    /// inhibiting alert resolved, a hold ended): the next tick looks at
    /// every group, not only those whose `next_check_ms` has come.
    recheck_all: bool,
}

impl Engine {
    /// An engine with no alerts. `limits` holds each rate-limited channel's `max_per_hour`.
    pub fn new(
        policy: AlertingSection,
        limits: HashMap<String, u32>,
        inhibit: Vec<InhibitRule>,
    ) -> Engine {
        let rates = rate::RateLimits::new(limits, policy.rate_window.as_millis() as i64);
        Engine {
            policy,
            inhibit,
            silences: Vec::new(),
            active: HashMap::new(),
            groups: BTreeMap::new(),
            cooldowns: HashMap::new(),
            rates,
            ack_channels: BTreeSet::new(),
            recheck_all: false,
        }
    }

    /// Channels that are told when an alert they were told of is acknowledged.
    pub fn with_ack_channels(mut self, channels: BTreeSet<String>) -> Engine {
        self.ack_channels = channels;
        self
    }

    /// Takes back the stored alerts after a restart. A group whose channel
    /// was told everything counts as just notified: its repeats resume after
    /// `repeat_interval`, not never.
    pub fn restore(&mut self, stored: Vec<Active>, now: i64) {
        for a in stored {
            let fp = a.alert.fingerprint.clone();
            self.join_groups(&fp, &a, now);
            self.active.insert(fp, a);
        }
        for (id, g) in self.groups.iter_mut() {
            let told = g.members.iter().all(|fp| {
                self.active
                    .get(fp)
                    .is_some_and(|a| a.notified.get(&id.channel) == Some(&a.alert.status))
            });
            if told {
                g.last_flush_ms = Some(now);
                g.pending_since_ms = None;
            }
        }
    }

    /// Replaces the inhibition rules (a reloaded config file).
    pub fn set_inhibit(&mut self, rules: Vec<InhibitRule>) {
        self.inhibit = rules;
        self.recheck_all = true;
    }

    /// Replaces the silences (all of them, as stored).
    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
        self.recheck_all = true;
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// An alert event, already routed.
    pub fn apply(&mut self, alert: Alert, decision: Decision, now: i64) -> (Outcome, Vec<Effect>) {
        let fp = alert.fingerprint.clone();
        let outcome = match (self.active.get_mut(&fp), alert.status) {
            (Some(a), AlertStatus::Firing) if a.alert.is_firing() => {
                // Dedupe: the same alert again. Refresh its text and when it
                // ends unless sent again; keep its start.
                a.alert.summary = alert.summary;
                a.alert.description = alert.description;
                a.alert.annotations = alert.annotations;
                a.alert.generator_url = alert.generator_url;
                let extended = a.alert.ends_ms != alert.ends_ms;
                a.alert.ends_ms = alert.ends_ms;
                if a.decision == decision && !extended {
                    return (Outcome::Deduplicated, Vec::new());
                }
                a.decision = decision;
                Outcome::Deduplicated
            }
            (Some(a), AlertStatus::Firing) => {
                a.alert.status = AlertStatus::Firing;
                a.alert.ends_ms = alert.ends_ms;
                a.decision = decision;
                Outcome::Refired
            }
            (Some(a), AlertStatus::Resolved) if a.alert.is_firing() => {
                a.alert.status = AlertStatus::Resolved;
                a.alert.ends_ms = alert.ends_ms.or(Some(now));
                a.acked = None;
                if !self.policy.resolve_cooldown.is_zero() {
                    let until = now + self.policy.resolve_cooldown.as_millis() as i64;
                    self.cooldowns.insert(fp.clone(), until);
                }
                Outcome::Resolved
            }
            (_, AlertStatus::Resolved) => return (Outcome::NotFiring, Vec::new()),
            (None, AlertStatus::Firing) => {
                let held = self.cooldowns.get(&fp).copied().filter(|&t| t > now);
                let a = Active {
                    alert,
                    decision,
                    acked: None,
                    escalated: false,
                    held_until_ms: held,
                    notified: BTreeMap::new(),
                };
                self.active.insert(fp.clone(), a);
                if held.is_some() {
                    Outcome::Held
                } else {
                    Outcome::New
                }
            }
        };
        let a = self.active.get(&fp).expect("just set").clone();
        if outcome == Outcome::Resolved && self.inhibits(&a.alert) {
            // Its targets may be heard again.
            self.recheck_all = true;
        }
        self.join_groups(&fp, &a, now);
        let effects = if a.alert.status == AlertStatus::Resolved && a.notified.is_empty() {
            // Never told anyone: nothing to resolve out loud.
            self.forget(&fp);
            vec![
                Effect::Forget(fp),
                history(a.alert, "resolved before any notification"),
            ]
        } else {
            let h = history(a.alert.clone(), outcome.as_str());
            vec![Effect::Save(Box::new(a)), h]
        };
        (outcome, effects)
    }

    /// Acknowledges a firing alert: no more repeats, no escalation.
    pub fn ack(
        &mut self,
        fp: &str,
        by: String,
        comment: String,
        now: i64,
    ) -> Result<(AlertView, Vec<Effect>), AckError> {
        let a = (self.active.get_mut(fp)).ok_or_else(|| AckError::Unknown(fp.to_owned()))?;
        if !a.alert.is_firing() {
            return Err(AckError::Resolved(fp.to_owned()));
        }
        a.acked = Some(Ack {
            by,
            comment,
            at_ms: now,
        });
        let a = a.clone();
        let view = self.view(&a, &self.firing(), now);
        let h = history(a.alert.clone(), "acknowledged");
        let told: Vec<Notification> = (a.notified.iter())
            .filter(|(c, s)| **s == AlertStatus::Firing && self.ack_channels.contains(*c))
            .map(|(c, _)| {
                Notification::of_alerts(
                    Kind::Acknowledgement,
                    c,
                    format!("ack:{fp}"),
                    BTreeMap::new(),
                    vec![a.alert.clone()],
                    Rendering::default(),
                    now,
                )
            })
            .collect();
        // The outbox first, as everywhere: the state that records the ack comes after.
        let mut effects = Vec::new();
        if !told.is_empty() {
            effects.push(Effect::Notify(told));
        }
        effects.extend([Effect::Save(Box::new(a)), h]);
        Ok((view, effects))
    }

    /// Every active alert, most severe first, then oldest first.
    pub fn list(&self, now: i64) -> Vec<AlertView> {
        let firing = self.firing();
        let mut views: Vec<AlertView> = (self.active.values())
            .map(|a| self.view(a, &firing, now))
            .collect();
        views.sort_by(|a, b| {
            (b.alert.severity.cmp(&a.alert.severity))
                .then(a.alert.starts_ms.cmp(&b.alert.starts_ms))
        });
        views
    }

    /// The firing alerts by severity, every severity present (for the gauges).
    pub fn firing_by_severity(&self) -> [(Severity, i64); 4] {
        let mut out = [
            (Severity::Info, 0),
            (Severity::Warning, 0),
            (Severity::Error, 0),
            (Severity::Critical, 0),
        ];
        for a in self.active.values().filter(|a| a.alert.is_firing()) {
            if let Some(slot) = out.iter_mut().find(|(s, _)| *s == a.alert.severity) {
                slot.1 += 1;
            }
        }
        out
    }

    /// Time passes: flushes the groups that are due, escalates, and
    /// summarises what rate limits held back.
    pub fn tick(&mut self, now: i64) -> Vec<Effect> {
        let mut effects = self.expire(now);
        let silences = self.silences.len();
        self.silences.retain(|s| s.ends_ms > now);
        self.recheck_all |= self.silences.len() != silences;
        for a in self.active.values_mut() {
            if a.held_until_ms.is_some_and(|t| t <= now) {
                a.held_until_ms = None;
                self.recheck_all = true;
            }
        }
        self.cooldowns.retain(|_, t| *t > now);
        // Only the groups that may be due: with thousands of alerts active,
        // looking at each group every tick was most of the engine's time.
        let all = std::mem::take(&mut self.recheck_all);
        let ids: Vec<GroupId> = (self.groups.iter())
            .filter(|(_, g)| all || g.next_check_ms <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let escalating = self.escalation_candidates(now);
        let mutes = self.mutes(
            (ids.iter())
                .flat_map(|id| self.groups[id].members.iter())
                .chain(escalating.iter()),
            now,
        );
        let mut out: Vec<Notification> = Vec::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for id in ids {
            match self.flush(&id, now, &mutes, &mut touched) {
                Some(flush::Flushed::Sent(n)) => out.push(*n),
                Some(flush::Flushed::RateLimited) => {
                    effects.push(Effect::RateLimited(id.channel.clone()))
                }
                None => {}
            }
        }
        out.extend(self.escalate(escalating, now, &mutes, &mut touched, &mut effects));
        out.extend(self.rates.summaries(now));
        if !out.is_empty() {
            effects.push(Effect::Notify(out));
        }
        // Alerts resolved and told to every channel they were told firing go.
        let (done, kept): (Vec<String>, Vec<String>) = touched.into_iter().partition(|fp| {
            self.active.get(fp).is_some_and(|a| {
                !a.alert.is_firing() && a.notified.values().all(|s| *s == AlertStatus::Resolved)
            })
        });
        for fp in kept {
            if let Some(a) = self.active.get(&fp) {
                effects.push(Effect::Save(Box::new(a.clone())));
            }
        }
        for fp in done {
            self.forget(&fp);
            effects.push(Effect::Forget(fp));
        }
        effects
    }

    /// Resolves the firing alerts whose end has come without a re-send
    /// (Alertmanager's `endsAt`: Prometheus re-sends what still fires), as
    /// of their end.
    fn expire(&mut self, now: i64) -> Vec<Effect> {
        let due: Vec<(Alert, Decision)> = (self.active.values())
            .filter(|a| a.alert.is_firing() && a.alert.ends_ms.is_some_and(|t| t <= now))
            .map(|a| {
                let mut alert = a.alert.clone();
                alert.status = AlertStatus::Resolved;
                (alert, a.decision.clone())
            })
            .collect();
        let mut effects = Vec::new();
        for (alert, decision) in due {
            effects.extend(self.apply(alert, decision, now).1);
        }
        effects
    }

    /// Puts `fp` in the group of each channel its routing names.
    fn join_groups(&mut self, fp: &str, a: &Active, now: i64) {
        let Decision::Deliver(routes) = &a.decision else {
            return;
        };
        for r in routes {
            let labels: BTreeMap<String, String> = (self.policy.group_by.iter())
                .filter_map(|k| a.alert.labels.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            let id = GroupId {
                channel: r.channel.clone(),
                key: format!("{}:{}", r.channel, Alert::label_text(&labels)),
            };
            let g = self.groups.entry(id).or_insert_with(|| Group {
                labels,
                members: BTreeSet::new(),
                last_flush_ms: None,
                pending_since_ms: None,
                next_check_ms: 0,
            });
            g.members.insert(fp.to_owned());
            g.pending_since_ms.get_or_insert(now);
            g.next_check_ms = 0;
        }
    }

    /// Drops `fp` from the state (the caller emits [`Effect::Forget`]).
    fn forget(&mut self, fp: &str) {
        self.active.remove(fp);
        for g in self.groups.values_mut() {
            g.members.remove(fp);
        }
        self.groups.retain(|_, g| !g.members.is_empty());
    }

    /// Why each muted alert among `fps` is muted at `now`. Computed once
    /// per tick: flushing changes what channels were told, never what fires.
    fn mutes<'a>(&self, fps: impl Iterator<Item = &'a String>, now: i64) -> HashMap<String, Mute> {
        let mut fps = fps.peekable();
        if fps.peek().is_none() {
            return HashMap::new();
        }
        let firing = self.firing();
        let mut out = HashMap::new();
        for fp in fps {
            if out.contains_key(fp) {
                continue;
            }
            if let Some(m) = self.active.get(fp).and_then(|a| self.mute(a, &firing, now)) {
                out.insert(fp.clone(), m);
            }
        }
        out
    }

    /// Whether `alert` is the source of an inhibition rule (its firing mutes others).
    fn inhibits(&self, alert: &Alert) -> bool {
        (self.inhibit.iter()).any(|r| super::matchers::all_match(&r.source, &alert.labels))
    }

    /// Why `a` is muted at `now`, if it is.
    fn mute(&self, a: &Active, firing: &[&Alert], now: i64) -> Option<Mute> {
        let silenced = self.silences.muted_by(&a.alert, firing, now);
        if !silenced.is_empty() {
            return Some(Mute::Silenced(silenced));
        }
        let inhibited = self.inhibit.muted_by(&a.alert, firing, now);
        if !inhibited.is_empty() {
            return Some(Mute::Inhibited(inhibited));
        }
        a.held_until_ms.filter(|&t| t > now).map(|_| Mute::Held)
    }

    /// Every firing alert (what inhibition looks at).
    fn firing(&self) -> Vec<&Alert> {
        (self.active.values())
            .map(|a| &a.alert)
            .filter(|a| a.is_firing())
            .collect()
    }

    fn view(&self, a: &Active, firing: &[&Alert], now: i64) -> AlertView {
        let mute = self.mute(a, firing, now);
        let state = match (&mute, a.alert.status, &a.decision) {
            (_, AlertStatus::Resolved, _) => ViewState::Resolved,
            (Some(Mute::Silenced(_)), ..) => ViewState::Silenced,
            (Some(Mute::Inhibited(_)), ..) => ViewState::Inhibited,
            _ if a.acked.is_some() => ViewState::Acknowledged,
            (Some(Mute::Held), ..) => ViewState::Held,
            (_, _, Decision::Suppressed(_)) => ViewState::Suppressed,
            _ => ViewState::Firing,
        };
        let (silenced_by, inhibited_by) = match mute {
            Some(Mute::Silenced(s)) => (s, vec![]),
            Some(Mute::Inhibited(i)) => (vec![], i),
            _ => (vec![], vec![]),
        };
        AlertView {
            state,
            starts_at: rfc3339(a.alert.starts_ms),
            ends_at: a.alert.ends_ms.map(rfc3339),
            alert: a.alert.clone(),
            silenced_by,
            inhibited_by,
            acknowledged: a.acked.clone(),
            escalated: a.escalated,
            routing: a.decision.clone(),
            notified: a.notified.clone(),
        }
    }

    /// The alerts that escalate at `now` unless muted.
    fn escalation_candidates(&self, now: i64) -> Vec<String> {
        if self.policy.escalation_channels.is_empty() {
            return Vec::new();
        }
        let after = self.policy.escalate_after.as_millis() as i64;
        (self.active.values())
            .filter(|a| {
                a.alert.is_firing()
                    && a.alert.severity == Severity::Critical
                    && a.acked.is_none()
                    && !a.escalated
                    && now - a.alert.starts_ms >= after
                    && matches!(a.decision, Decision::Deliver(_))
            })
            .map(|a| a.alert.fingerprint.clone())
            .collect()
    }

    /// Escalation notifications of `candidates` due at `now` (their history rows go to `effects`).
    fn escalate(
        &mut self,
        candidates: Vec<String>,
        now: i64,
        mutes: &HashMap<String, Mute>,
        touched: &mut BTreeSet<String>,
        effects: &mut Vec<Effect>,
    ) -> Vec<Notification> {
        let channels = &self.policy.escalation_channels;
        let due: Vec<String> = (candidates.into_iter())
            .filter(|fp| !mutes.contains_key(fp))
            .collect();
        let mut out = Vec::new();
        for fp in due {
            let a = self.active.get_mut(&fp).expect("present");
            a.escalated = true;
            touched.insert(fp.clone());
            let alert = a.alert.clone();
            for ch in channels {
                out.push(Notification::of_alerts(
                    Kind::Escalation,
                    ch,
                    format!("escalation:{fp}"),
                    BTreeMap::new(),
                    vec![alert.clone()],
                    Rendering {
                        external_url: self.policy.external_url.clone(),
                        ..Rendering::default()
                    },
                    now,
                ));
            }
            tracing::warn!(alert = %alert.name, fingerprint = %fp, "escalated: critical, unacknowledged for {:?}", self.policy.escalate_after);
            effects.push(history(alert, "escalated"));
        }
        out
    }
}

fn history(alert: Alert, detail: &str) -> Effect {
    Effect::History {
        alert: Box::new(alert),
        detail: detail.to_owned(),
    }
}
