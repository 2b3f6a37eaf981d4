//! The alert engine: one task that owns every active alert and decides when
//! notifications go out. It applies the host-side semantics in this order:
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
//! 4. **Silences** and **inhibition** mute alerts at flush time (so ending a
//!    silence or an inhibiting alert brings them back at the next tick).
//! 5. **Rate limits**: past a channel's `max_per_hour`, notifications are
//!    counted, not sent, and a summary goes out once there is room again.
//! 6. **Escalation**: a critical alert firing, unacknowledged, past
//!    `escalate_after` goes once to `escalation_channels`.
//!
//! State is written to SQLite (`alerts`) as it changes, so a restart resumes
//! with the same active alerts and what each channel was told.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use assay_contract::Severity;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::matchers::InhibitRule;
use super::model::{Alert, AlertStatus};
use super::notification::{Kind, Notification, Rendering};
use super::routing::{Decision, Route};
use super::silences::Silence;
use crate::clock::{now_ms, rfc3339};
use crate::config::AlertingSection;
use crate::service::Service;
use crate::store::Committed;

/// A request to the engine.
pub enum Command {
    Event {
        alert: Alert,
        decision: Decision,
        done: Option<oneshot::Sender<Accepted>>,
    },
    Ack {
        fingerprint: String,
        by: String,
        comment: String,
        /// The alert as it is now, and the commit of its new state.
        reply: oneshot::Sender<Result<(AlertView, Committed), String>>,
    },
    List(oneshot::Sender<Vec<AlertView>>),
    Silences(Vec<Silence>),
}

/// What became of a submitted alert; `committed` resolves once its state is in the store.
pub struct Accepted {
    pub fingerprint: String,
    /// `new`, `resolved`, `refired`, `deduplicated`, `not_firing` or `held`.
    pub outcome: &'static str,
    pub committed: Option<Committed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ack {
    pub by: String,
    pub comment: String,
    pub at_ms: i64,
}

/// One active alert and what the engine knows of it (the `alerts` row).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Active {
    alert: Alert,
    decision: Decision,
    acked: Option<Ack>,
    escalated: bool,
    held_until_ms: Option<i64>,
    /// The status each channel was last told.
    notified: BTreeMap<String, AlertStatus>,
}

/// What `GET /v1/alerts` shows of one.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    /// `firing`, `resolved` (not yet notified), `silenced`, `inhibited`,
    /// `acknowledged`, `held` (cooldown) or `suppressed` (by a router).
    pub state: &'static str,
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
}

#[derive(Default)]
struct RateWindow {
    sent: VecDeque<i64>,
    held: u64,
}

/// Why an alert is muted now.
enum Mute {
    Silenced(Vec<String>),
    Inhibited(Vec<String>),
    Held,
}

pub struct Engine {
    svc: Arc<Service>,
    policy: AlertingSection,
    inhibit: Vec<InhibitRule>,
    active: HashMap<String, Active>,
    groups: BTreeMap<GroupId, Group>,
    cooldowns: HashMap<String, i64>,
    silences: Vec<Silence>,
    rates: HashMap<String, RateWindow>,
    /// Each rate-limited channel's `max_per_hour`.
    limits: HashMap<String, u32>,
}

impl Engine {
    pub fn new(svc: Arc<Service>, restored: Vec<String>, silences: Vec<Silence>) -> Engine {
        let limits = (svc.config.channels.iter())
            .filter_map(|c| Some((c.name.clone(), c.max_per_hour?)))
            .collect();
        let mut e = Engine {
            policy: svc.config.alerting.clone(),
            inhibit: svc
                .config
                .inhibit_rules
                .iter()
                .map(InhibitRule::from)
                .collect(),
            svc,
            active: HashMap::new(),
            groups: BTreeMap::new(),
            cooldowns: HashMap::new(),
            silences,
            rates: HashMap::new(),
            limits,
        };
        let now = now_ms();
        for body in restored {
            match serde_json::from_str::<Active>(&body) {
                Ok(a) => {
                    let fp = a.alert.fingerprint.clone();
                    e.join_groups(&fp, &a, now);
                    e.active.insert(fp, a);
                }
                Err(err) => {
                    tracing::warn!("alerts: a stored alert is unreadable and dropped: {err}")
                }
            }
        }
        // A group whose channel was told everything counts as just notified:
        // its repeats resume after repeat_interval, not never.
        for (id, g) in e.groups.iter_mut() {
            let told = g.members.iter().all(|fp| {
                e.active
                    .get(fp)
                    .is_some_and(|a| a.notified.get(&id.channel) == Some(&a.alert.status))
            });
            if told {
                g.last_flush_ms = Some(now);
                g.pending_since_ms = None;
            }
        }
        if !e.active.is_empty() {
            tracing::info!("alerts: resumed {} active alert(s)", e.active.len());
        }
        e.publish_gauges();
        e
    }

    /// Runs until the command channel closes.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.policy.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.handle(cmd);
                    // Take what else is waiting before looking at the clock.
                    for _ in 0..4096 {
                        match rx.try_recv() {
                            Ok(cmd) => self.handle(cmd),
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => self.tick(now_ms()),
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Event {
                alert,
                decision,
                done,
            } => {
                let accepted = self.apply(alert, decision);
                if let Some(done) = done {
                    let _ = done.send(accepted);
                }
            }
            Command::Ack {
                fingerprint,
                by,
                comment,
                reply,
            } => {
                let _ = reply.send(self.ack(&fingerprint, by, comment));
            }
            Command::List(reply) => {
                let now = now_ms();
                let mut views: Vec<AlertView> =
                    self.active.values().map(|a| self.view(a, now)).collect();
                views.sort_by(|a, b| {
                    b.alert
                        .severity
                        .cmp(&a.alert.severity)
                        .then(a.alert.starts_ms.cmp(&b.alert.starts_ms))
                });
                let _ = reply.send(views);
            }
            Command::Silences(s) => self.silences = s,
        }
    }

    /// An alert event, already routed.
    fn apply(&mut self, alert: Alert, decision: Decision) -> Accepted {
        let now = now_ms();
        let fp = alert.fingerprint.clone();
        let m = &self.svc.metrics.alerts;
        let outcome = match (self.active.get_mut(&fp), alert.status) {
            (Some(a), AlertStatus::Firing) if a.alert.is_firing() => {
                // Dedupe: the same alert again. Refresh its text, keep its start.
                a.alert.summary = alert.summary;
                a.alert.description = alert.description;
                a.alert.annotations = alert.annotations;
                m.received.with_label_values(&["deduplicated"]).inc();
                if a.decision == decision {
                    return Accepted {
                        fingerprint: fp,
                        outcome: "deduplicated",
                        committed: None,
                    };
                }
                a.decision = decision;
                "deduplicated"
            }
            (Some(a), AlertStatus::Firing) => {
                // Fired again before its resolution went out: still the same alert.
                a.alert.status = AlertStatus::Firing;
                a.alert.ends_ms = None;
                a.decision = decision;
                "refired"
            }
            (Some(a), AlertStatus::Resolved) if a.alert.is_firing() => {
                a.alert.status = AlertStatus::Resolved;
                a.alert.ends_ms = alert.ends_ms.or(Some(now));
                a.acked = None;
                if !self.policy.resolve_cooldown.is_zero() {
                    self.cooldowns.insert(
                        fp.clone(),
                        now + self.policy.resolve_cooldown.as_millis() as i64,
                    );
                }
                "resolved"
            }
            (Some(_), AlertStatus::Resolved) | (None, AlertStatus::Resolved) => {
                m.received.with_label_values(&["not_firing"]).inc();
                return Accepted {
                    fingerprint: fp,
                    outcome: "not_firing",
                    committed: None,
                };
            }
            (None, AlertStatus::Firing) => {
                let held = self.cooldowns.get(&fp).copied().filter(|&t| t > now);
                self.active.insert(
                    fp.clone(),
                    Active {
                        alert,
                        decision,
                        acked: None,
                        escalated: false,
                        held_until_ms: held,
                        notified: BTreeMap::new(),
                    },
                );
                if held.is_some() { "held" } else { "new" }
            }
        };
        m.received.with_label_values(&[outcome]).inc();
        let a = self.active.get(&fp).expect("just set").clone();
        self.join_groups(&fp, &a, now);
        let committed = if a.alert.status == AlertStatus::Resolved && a.notified.is_empty() {
            // Never told anyone: nothing to resolve out loud.
            self.forget(&fp);
            self.history(&a.alert, "resolved before any notification");
            None
        } else {
            let c = self.persist(&a);
            self.history(&a.alert, outcome);
            Some(c)
        };
        // (The gauges are refreshed at the next tick: counting every alert per event would be quadratic.)
        Accepted {
            fingerprint: fp,
            outcome,
            committed,
        }
    }

    fn ack(
        &mut self,
        fp: &str,
        by: String,
        comment: String,
    ) -> Result<(AlertView, Committed), String> {
        let a = self
            .active
            .get_mut(fp)
            .ok_or_else(|| format!("no active alert has the fingerprint {fp}"))?;
        if !a.alert.is_firing() {
            return Err(format!("alert {fp} is resolved"));
        }
        a.acked = Some(Ack {
            by,
            comment,
            at_ms: now_ms(),
        });
        let a = a.clone();
        let committed = self.persist(&a);
        self.history(&a.alert, "acknowledged");
        Ok((self.view(&a, now_ms()), committed))
    }

    /// Puts `fp` in the group of each channel its routing names.
    fn join_groups(&mut self, fp: &str, a: &Active, now: i64) {
        let Decision::Deliver(routes) = &a.decision else {
            return;
        };
        for r in routes {
            let labels: BTreeMap<String, String> = self
                .policy
                .group_by
                .iter()
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
            });
            g.members.insert(fp.to_owned());
            g.pending_since_ms.get_or_insert(now);
        }
    }

    fn forget(&mut self, fp: &str) {
        self.active.remove(fp);
        for g in self.groups.values_mut() {
            g.members.remove(fp);
        }
        self.groups.retain(|_, g| !g.members.is_empty());
        let fp = fp.to_owned();
        self.svc.store.write_detached(move |tx| {
            tx.execute("DELETE FROM alerts WHERE fingerprint = ?1", [&fp])
                .map(|n| n as i64)
        });
    }

    fn persist(&self, a: &Active) -> Committed {
        let fp = a.alert.fingerprint.clone();
        let body = serde_json::to_string(a).expect("alerts serialise");
        self.svc.store.write(move |tx| {
            tx.execute(
                "INSERT INTO alerts (fingerprint, updated_ms, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (fingerprint) DO UPDATE SET updated_ms = ?2, body = ?3",
                params![fp, crate::clock::now_ms(), body],
            )
            .map(|n| n as i64)
        })
    }

    fn history(&self, a: &Alert, detail: &str) {
        let row = (
            a.fingerprint.clone(),
            a.name.clone(),
            a.status.as_str(),
            a.severity.as_str(),
            a.source.clone(),
            detail.to_owned(),
            serde_json::to_string(a).expect("alerts serialise"),
        );
        self.svc.store.write_detached(move |tx| {
            tx.prepare_cached(
                "INSERT INTO alert_history (at_ms, fingerprint, name, status, severity, source, detail, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![now_ms(), row.0, row.1, row.2, row.3, row.4, row.5, row.6])?;
            Ok(0)
        });
    }

    /// Why `a` is muted now, if it is.
    fn mute(&self, a: &Active, now: i64) -> Option<Mute> {
        let labels = &a.alert.labels;
        let silenced: Vec<String> = self
            .silences
            .iter()
            .filter(|s| s.is_active(now) && s.matches(labels))
            .map(|s| s.id.clone())
            .collect();
        if !silenced.is_empty() {
            return Some(Mute::Silenced(silenced));
        }
        let mut by = Vec::new();
        for rule in &self.inhibit {
            for (fp, src) in &self.active {
                if fp != &a.alert.fingerprint
                    && src.alert.is_firing()
                    && rule.mutes(&src.alert.labels, labels)
                {
                    by.push(fp.clone());
                }
            }
        }
        if !by.is_empty() {
            return Some(Mute::Inhibited(by));
        }
        if a.held_until_ms.is_some_and(|t| t > now) {
            return Some(Mute::Held);
        }
        None
    }

    fn view(&self, a: &Active, now: i64) -> AlertView {
        let mute = self.mute(a, now);
        let state = match (&mute, a.alert.status, &a.decision) {
            (_, AlertStatus::Resolved, _) => "resolved",
            (Some(Mute::Silenced(_)), ..) => "silenced",
            (Some(Mute::Inhibited(_)), ..) => "inhibited",
            _ if a.acked.is_some() => "acknowledged",
            (Some(Mute::Held), ..) => "held",
            (_, _, Decision::Suppressed(_)) => "suppressed",
            _ => "firing",
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

    /// Flushes the groups that are due, escalates, summarises rate limits.
    fn tick(&mut self, now: i64) {
        self.silences.retain(|s| s.ends_ms > now);
        for a in self.active.values_mut() {
            if a.held_until_ms.is_some_and(|t| t <= now) {
                a.held_until_ms = None;
            }
        }
        self.cooldowns.retain(|_, t| *t > now);
        let mut out: Vec<Notification> = Vec::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let ids: Vec<GroupId> = self.groups.keys().cloned().collect();
        for id in ids {
            if let Some(n) = self.flush(&id, now, &mut touched) {
                out.push(n);
            }
        }
        out.extend(self.escalate(now, &mut touched));
        out.extend(self.summaries(now));
        // The notifications are queued for writing before the alert state
        // that records them as sent: the writer commits in order, so a crash
        // between the two repeats a notification instead of losing it.
        if !out.is_empty() {
            for n in &out {
                self.svc
                    .metrics
                    .alerts
                    .notifications
                    .with_label_values(&[&n.channel, "queued"])
                    .inc();
            }
            let write = self.svc.alerts.outbox.enqueue(&self.svc.store, out);
            tokio::spawn(async move {
                if let Err(e) = write.await {
                    tracing::error!("alerts: writing notifications to the outbox failed: {e}");
                }
            });
        }
        // Alerts resolved and told to every channel they were told firing go.
        let done: Vec<String> = touched
            .iter()
            .filter(|fp| {
                self.active.get(*fp).is_some_and(|a| {
                    !a.alert.is_firing() && a.notified.values().all(|s| *s == AlertStatus::Resolved)
                })
            })
            .cloned()
            .collect();
        for fp in &touched {
            if !done.contains(fp)
                && let Some(a) = self.active.get(fp)
            {
                let _ = self.persist(a);
            }
        }
        for fp in done {
            self.forget(&fp);
        }
        self.publish_gauges();
    }

    /// A notification for group `id`, if one is due.
    fn flush(
        &mut self,
        id: &GroupId,
        now: i64,
        touched: &mut BTreeSet<String>,
    ) -> Option<Notification> {
        let g = self.groups.get(id)?;
        let ch = &id.channel;
        // What the channel should know of: visible firing alerts, and
        // resolutions of alerts it was told were firing.
        let mut visible: Vec<&Active> = Vec::new();
        for fp in &g.members {
            let Some(a) = self.active.get(fp) else {
                continue;
            };
            let told = a.notified.get(ch).copied();
            let show = match a.alert.status {
                AlertStatus::Firing => self.mute(a, now).is_none(),
                AlertStatus::Resolved => told == Some(AlertStatus::Firing),
            };
            if show {
                visible.push(a);
            }
        }
        let changed = visible
            .iter()
            .any(|a| a.notified.get(ch) != Some(&a.alert.status));
        let repeat_ms = visible
            .iter()
            .filter_map(|a| match &a.decision {
                Decision::Deliver(r) => r
                    .iter()
                    .find(|r| &r.channel == ch)
                    .and_then(|r| r.repeat_interval_ms),
                Decision::Suppressed(_) => None,
            })
            .min()
            .map_or(self.policy.repeat_interval.as_millis() as i64, |r| r as i64);
        let repeat_due = g.last_flush_ms.is_some_and(|t| now >= t + repeat_ms)
            && visible
                .iter()
                .any(|a| a.alert.is_firing() && a.acked.is_none());
        let due = if changed {
            let since = g.pending_since_ms.unwrap_or(now);
            match g.last_flush_ms {
                None => now >= since + self.policy.group_wait.as_millis() as i64,
                Some(t) => now >= t + self.policy.group_interval.as_millis() as i64,
            }
        } else {
            repeat_due
        };
        if !due {
            if !changed
                && visible.is_empty()
                && g.members.iter().all(|fp| !self.active.contains_key(fp))
            {
                self.groups.remove(id);
            }
            return None;
        }
        let alerts: Vec<Alert> = visible.iter().map(|a| a.alert.clone()).collect();
        let fps: Vec<String> = alerts.iter().map(|a| a.fingerprint.clone()).collect();
        let route: Option<Route> = match (visible.as_slice(),) {
            ([a],) => match &a.decision {
                Decision::Deliver(r) => r.iter().find(|r| &r.channel == ch).cloned(),
                Decision::Suppressed(_) => None,
            },
            _ => None,
        };
        let mut labels = BTreeMap::new();
        for a in &visible {
            if let Decision::Deliver(rs) = &a.decision
                && let Some(r) = rs.iter().find(|r| &r.channel == ch)
            {
                labels.extend(r.labels.clone());
            }
        }
        let group_labels = g.labels.clone();
        // Bookkeeping first: whether it is sent or held by the rate limit, the group is flushed.
        let g = self.groups.get_mut(id).expect("present");
        g.last_flush_ms = Some(now);
        g.pending_since_ms = None;
        for fp in &fps {
            if let Some(a) = self.active.get_mut(fp) {
                a.notified.insert(ch.clone(), a.alert.status);
                touched.insert(fp.clone());
            }
        }
        // Resolved members are done with this group.
        let resolved: Vec<String> = fps
            .iter()
            .filter(|fp| self.active.get(*fp).is_some_and(|a| !a.alert.is_firing()))
            .cloned()
            .collect();
        let g = self.groups.get_mut(id).expect("present");
        for fp in &resolved {
            g.members.remove(fp);
        }
        if g.members.is_empty() {
            self.groups.remove(id);
        }
        if !self.admit(ch, now) {
            return None;
        }
        Some(Notification::of_alerts(
            Kind::Alerts,
            ch,
            id.key.clone(),
            group_labels,
            alerts,
            Rendering {
                title: route.as_ref().and_then(|r| r.title.clone()),
                body: route.and_then(|r| r.body),
                labels,
            },
            self.policy.external_url.clone(),
        ))
    }

    /// Whether `channel`'s rate limit lets one more notification through now
    /// (counting it as sent, or as held back).
    fn admit(&mut self, channel: &str, now: i64) -> bool {
        if self.room(channel, now) {
            if self.limit(channel).is_some() {
                self.rates
                    .entry(channel.to_owned())
                    .or_default()
                    .sent
                    .push_back(now);
            }
            return true;
        }
        self.rates.entry(channel.to_owned()).or_default().held += 1;
        self.svc
            .metrics
            .alerts
            .notifications
            .with_label_values(&[channel, "rate_limited"])
            .inc();
        false
    }

    /// Whether `channel`'s window has room for one more now.
    fn room(&mut self, channel: &str, now: i64) -> bool {
        let Some(limit) = self.limit(channel) else {
            return true;
        };
        let window = self.policy.rate_window.as_millis() as i64;
        let w = self.rates.entry(channel.to_owned()).or_default();
        while w.sent.front().is_some_and(|&t| t <= now - window) {
            w.sent.pop_front();
        }
        w.sent.len() < limit as usize
    }

    fn limit(&self, channel: &str) -> Option<u32> {
        self.limits.get(channel).copied()
    }

    /// A summary for each channel that held notifications back and has room again.
    fn summaries(&mut self, now: i64) -> Vec<Notification> {
        let channels: Vec<String> = self
            .rates
            .iter()
            .filter(|(_, w)| w.held > 0)
            .map(|(c, _)| c.clone())
            .collect();
        let mut out = Vec::new();
        for ch in channels {
            if self.room(&ch, now) {
                let w = self.rates.get_mut(&ch).expect("present");
                let held = std::mem::take(&mut w.held);
                w.sent.push_back(now);
                let limit = self.limit(&ch).unwrap_or(0);
                out.push(Notification::rate_limit_summary(&ch, held, limit));
            }
        }
        out
    }

    /// Escalation notifications due now.
    fn escalate(&mut self, now: i64, touched: &mut BTreeSet<String>) -> Vec<Notification> {
        let channels = &self.policy.escalation_channels;
        if channels.is_empty() {
            return Vec::new();
        }
        let after = self.policy.escalate_after.as_millis() as i64;
        let due: Vec<String> = self
            .active
            .values()
            .filter(|a| {
                a.alert.is_firing()
                    && a.alert.severity == Severity::Critical
                    && a.acked.is_none()
                    && !a.escalated
                    && now - a.alert.starts_ms >= after
                    && matches!(a.decision, Decision::Deliver(_))
                    && self.mute(a, now).is_none()
            })
            .map(|a| a.alert.fingerprint.clone())
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
                    Rendering::default(),
                    self.policy.external_url.clone(),
                ));
            }
            self.history(&alert, "escalated");
            tracing::warn!(alert = %alert.name, fingerprint = %fp, "escalated: critical, unacknowledged for {:?}", self.policy.escalate_after);
        }
        out
    }

    fn publish_gauges(&self) {
        let m = &self.svc.metrics.alerts;
        let mut firing: BTreeMap<&str, i64> = [
            Severity::Info,
            Severity::Warning,
            Severity::Error,
            Severity::Critical,
        ]
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
        for a in self.active.values() {
            if a.alert.is_firing() {
                *firing.entry(a.alert.severity.as_str()).or_default() += 1;
            }
        }
        for (sev, n) in firing {
            m.firing.with_label_values(&[sev]).set(n);
        }
    }
}
