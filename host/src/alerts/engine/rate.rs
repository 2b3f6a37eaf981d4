//! Channels' `max_per_hour`: a sliding window of what was sent, a count of
//! what was held back, and the summary that goes out once there is room.

use std::collections::{HashMap, VecDeque};

use crate::alerts::notification::Notification;

pub(super) struct RateLimits {
    /// Each rate-limited channel's `max_per_hour`.
    limits: HashMap<String, u32>,
    /// The window they count over, in ms.
    window_ms: i64,
    windows: HashMap<String, Window>,
}

#[derive(Default)]
struct Window {
    sent: VecDeque<i64>,
    held: u64,
}

impl RateLimits {
    pub(super) fn new(limits: HashMap<String, u32>, window_ms: i64) -> RateLimits {
        RateLimits {
            limits,
            window_ms,
            windows: HashMap::new(),
        }
    }

    /// Whether `channel` may send one more notification at `now`; counts it
    /// as sent, or as held back.
    pub(super) fn admit(&mut self, channel: &str, now: i64) -> bool {
        let Some(&limit) = self.limits.get(channel) else {
            return true;
        };
        let w = self.window(channel, now);
        if w.sent.len() < limit as usize {
            w.sent.push_back(now);
            true
        } else {
            w.held += 1;
            false
        }
    }

    /// A summary for each channel that held notifications back and has room again.
    pub(super) fn summaries(&mut self, now: i64) -> Vec<Notification> {
        let mut held: Vec<(String, u32)> = (self.windows.iter())
            .filter(|(_, w)| w.held > 0)
            .filter_map(|(c, _)| Some((c.clone(), *self.limits.get(c)?)))
            .collect();
        held.sort();
        let mut out = Vec::new();
        for (ch, limit) in held {
            let w = self.window(&ch, now);
            if w.sent.len() < limit as usize {
                let n = std::mem::take(&mut w.held);
                w.sent.push_back(now);
                out.push(Notification::rate_limit_summary(&ch, n, limit, now));
            }
        }
        out
    }

    /// `channel`'s window with what has slid out of it dropped.
    fn window(&mut self, channel: &str, now: i64) -> &mut Window {
        let w = self.windows.entry(channel.to_owned()).or_default();
        while w.sent.front().is_some_and(|&t| t <= now - self.window_ms) {
            w.sent.pop_front();
        }
        w
    }
}
