//! Flushing one group: which of its alerts the channel should hear of, whether
//! a notification is due, what the routers rendered for it, and the
//! bookkeeping after it goes (or is held back by the channel's rate limit).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Active, Engine, GroupId};
use crate::alerts::model::{Alert, AlertStatus};
use crate::alerts::muting::Mute;
use crate::alerts::notification::{Kind, Notification, Rendering};
use crate::alerts::routing::{Decision, Route};

/// What flushing a due group gave.
pub(super) enum Flushed {
    Sent(Box<Notification>),
    /// Due, but the channel's rate limit held it back (it counts toward the summary).
    RateLimited,
}

impl Engine {
    /// Flushes group `id` if a notification is due at `now`.
    pub(super) fn flush(
        &mut self,
        id: &GroupId,
        now: i64,
        mutes: &HashMap<String, Mute>,
        touched: &mut BTreeSet<String>,
    ) -> Option<Flushed> {
        let g = self.groups.get(id)?;
        let ch = &id.channel;
        let visible = self.visible(&g.members, ch, mutes);
        let changed = (visible.iter()).any(|a| a.notified.get(ch) != Some(&a.alert.status));
        if !self.due(id, &visible, changed, now) {
            if !changed
                && visible.is_empty()
                && !g.members.iter().any(|fp| self.active.contains_key(fp))
            {
                self.groups.remove(id);
            } else {
                let next = self.next_check(id, &visible, changed, now);
                self.groups.get_mut(id).expect("present").next_check_ms = next;
            }
            return None;
        }
        let alerts: Vec<Alert> = visible.iter().map(|a| a.alert.clone()).collect();
        let rendering = Rendering {
            external_url: self.policy.external_url.clone(),
            ..rendering(&visible, ch)
        };
        let group_labels = g.labels.clone();
        // Bookkeeping first: sent or held by the rate limit, the group is flushed.
        self.mark_flushed(id, &alerts, now, touched);
        if !self.rates.admit(ch, now) {
            return Some(Flushed::RateLimited);
        }
        Some(Flushed::Sent(Box::new(Notification::of_alerts(
            Kind::Alerts,
            ch,
            id.key.clone(),
            group_labels,
            alerts,
            rendering,
            now,
        ))))
    }

    /// What `channel` should know of among `members`: the firing alerts that
    /// are not muted, and the resolutions of alerts it was told were firing.
    fn visible(
        &self,
        members: &BTreeSet<String>,
        channel: &str,
        mutes: &HashMap<String, Mute>,
    ) -> Vec<&Active> {
        (members.iter())
            .filter_map(|fp| self.active.get(fp))
            .filter(|a| match a.alert.status {
                AlertStatus::Firing => !mutes.contains_key(&a.alert.fingerprint),
                AlertStatus::Resolved => a.notified.get(channel) == Some(&AlertStatus::Firing),
            })
            .collect()
    }

    /// Whether group `id` sends now: a change once `group_wait` (first
    /// notification) or `group_interval` (later ones) has passed, or a repeat
    /// of firing, unacknowledged alerts every repeat interval.
    fn due(&self, id: &GroupId, visible: &[&Active], changed: bool, now: i64) -> bool {
        let g = &self.groups[id];
        if changed {
            let since = g.pending_since_ms.unwrap_or(now);
            return match g.last_flush_ms {
                None => now >= since + self.policy.group_wait.as_millis() as i64,
                Some(t) => now >= t + self.policy.group_interval.as_millis() as i64,
            };
        }
        let repeat_ms = self.repeat_ms(&id.channel, visible);
        g.last_flush_ms.is_some_and(|t| now >= t + repeat_ms)
            && (visible.iter()).any(|a| a.alert.is_firing() && a.acked.is_none())
    }

    /// The shortest repeat interval a router gave for `channel` among
    /// `visible`, or the policy's.
    fn repeat_ms(&self, channel: &str, visible: &[&Active]) -> i64 {
        (visible.iter())
            .filter_map(|a| route(a, channel).and_then(|r| r.repeat_interval_ms))
            .min()
            .map_or(self.policy.repeat_interval.as_millis() as i64, |r| r as i64)
    }

    /// When group `id`, not due at `now`, may be due: when its change may
    /// go, or its next repeat; never while nothing changes (all its alerts
    /// muted, or acknowledged): what unmutes them makes the engine look again.
    fn next_check(&self, id: &GroupId, visible: &[&Active], changed: bool, now: i64) -> i64 {
        let g = &self.groups[id];
        if changed {
            let since = g.pending_since_ms.unwrap_or(now);
            return match g.last_flush_ms {
                None => since + self.policy.group_wait.as_millis() as i64,
                Some(t) => t + self.policy.group_interval.as_millis() as i64,
            };
        }
        let repeats = (visible.iter()).any(|a| a.alert.is_firing() && a.acked.is_none());
        match g.last_flush_ms {
            Some(t) if repeats => t + self.repeat_ms(&id.channel, visible),
            _ => i64::MAX,
        }
    }

    /// Records that group `id` told its channel of `sent` at `now`; resolved
    /// alerts leave the group, and an empty group goes.
    fn mark_flushed(
        &mut self,
        id: &GroupId,
        sent: &[Alert],
        now: i64,
        touched: &mut BTreeSet<String>,
    ) {
        let ch = &id.channel;
        let g = self.groups.get_mut(id).expect("present");
        g.last_flush_ms = Some(now);
        g.pending_since_ms = None;
        // The next tick works out when it may send again.
        g.next_check_ms = 0;
        for alert in sent {
            let fp = &alert.fingerprint;
            if let Some(a) = self.active.get_mut(fp) {
                a.notified.insert(ch.clone(), a.alert.status);
                touched.insert(fp.clone());
                if !a.alert.is_firing() {
                    g.members.remove(fp);
                }
            }
        }
        if g.members.is_empty() {
            self.groups.remove(id);
        }
    }
}

/// `a`'s route to `channel`, if its routing names one.
fn route<'a>(a: &'a Active, channel: &str) -> Option<&'a Route> {
    match &a.decision {
        Decision::Deliver(r) => r.iter().find(|r| r.channel == channel),
        Decision::Suppressed(_) => None,
    }
}

/// The routers' rendering for a notification of `visible` to `channel`: the
/// title and body a router gave for a lone alert, and every route's labels.
fn rendering(visible: &[&Active], channel: &str) -> Rendering {
    let lone = match visible {
        [a] => route(a, channel),
        _ => None,
    };
    let mut labels = BTreeMap::new();
    for r in visible.iter().filter_map(|a| route(a, channel)) {
        labels.extend(r.labels.clone());
    }
    Rendering {
        title: lone.and_then(|r| r.title.clone()),
        body: lone.and_then(|r| r.body.clone()),
        labels,
        external_url: None,
    }
}
