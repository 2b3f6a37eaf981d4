//! A probe instance's state machine: thresholds (Kubernetes semantics) and flap detection.
//!
//! Each result points at a state: pass → passing, warn → warning, fail or
//! unknown (the probe could not run) → failing. The instance leaves
//! `unknown` on its first result. After that it moves only when
//! `failure_threshold` consecutive results point at warning or failing, or
//! `success_threshold` consecutive results point at passing.
//!
//! More than `threshold` such moves within `window` is flapping: the
//! reported state becomes `flapping` (one event, instead of one per move),
//! and stays so until the underlying state has held still for a whole
//! window; then the underlying state is reported again.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A result's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Pass,
    Warn,
    Fail,
    /// The probe could not run (plugin missing, trapped, returned an error).
    Unknown,
}
crate::names::named!(ResultStatus, "result status");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeState {
    Unknown,
    Passing,
    Warning,
    Failing,
    Flapping,
}
crate::names::named!(ProbeState, "probe state");

impl ProbeState {
    pub const ALL: [ProbeState; 5] = [
        ProbeState::Unknown,
        ProbeState::Passing,
        ProbeState::Warning,
        ProbeState::Failing,
        ProbeState::Flapping,
    ];
}

impl ProbeState {
    fn of(status: ResultStatus) -> ProbeState {
        match status {
            ResultStatus::Pass => ProbeState::Passing,
            ResultStatus::Warn => ProbeState::Warning,
            ResultStatus::Fail | ResultStatus::Unknown => ProbeState::Failing,
        }
    }
}

/// The rules one instance is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub flap_window_ms: i64,
    pub flap_threshold: u32,
}

/// A change of the reported state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: ProbeState,
    pub to: ProbeState,
}

#[derive(Debug, Clone)]
pub struct Tracker {
    /// What the instance reports (may be `Flapping`).
    reported: ProbeState,
    /// The state the thresholds settled on (never `Flapping`).
    settled: ProbeState,
    streak_of: ProbeState,
    streak: u32,
    /// When the settled state moved, within the flap window.
    moves: VecDeque<i64>,
    /// When the reported state last changed.
    pub since_ms: i64,
}

impl Tracker {
    pub fn new(now_ms: i64) -> Self {
        Tracker {
            reported: ProbeState::Unknown,
            settled: ProbeState::Unknown,
            streak_of: ProbeState::Unknown,
            streak: 0,
            moves: VecDeque::new(),
            since_ms: now_ms,
        }
    }

    /// A tracker that goes on from `state` (as another replica left it):
    /// thresholds count from there, so a failing probe that recovers here
    /// resolves what it raised there.
    pub fn resume(state: ProbeState, since_ms: i64) -> Self {
        let settled = if state == ProbeState::Flapping {
            ProbeState::Unknown
        } else {
            state
        };
        Tracker {
            reported: state,
            settled,
            streak_of: settled,
            streak: u32::MAX / 2,
            moves: VecDeque::new(),
            since_ms,
        }
    }

    pub fn state(&self) -> ProbeState {
        self.reported
    }

    /// The state the thresholds settled on (differs while flapping).
    pub fn settled(&self) -> ProbeState {
        self.settled
    }

    /// Takes one result; answers the change of the reported state, if any.
    pub fn observe(&mut self, status: ResultStatus, at_ms: i64, p: &Policy) -> Option<Transition> {
        let target = ProbeState::of(status);
        if target == self.streak_of {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.streak_of = target;
            self.streak = 1;
        }
        let needed = if target == ProbeState::Passing {
            p.success_threshold
        } else {
            p.failure_threshold
        };
        if self.settled == ProbeState::Unknown {
            self.settled = target;
        } else if target != self.settled && self.streak >= needed {
            self.settled = target;
            self.moves.push_back(at_ms);
        }
        while self
            .moves
            .front()
            .is_some_and(|t| at_ms - t > p.flap_window_ms)
        {
            self.moves.pop_front();
        }
        let next = if self.moves.len() > p.flap_threshold as usize {
            ProbeState::Flapping
        } else if self.reported == ProbeState::Flapping && !self.moves.is_empty() {
            // Still moving within the window: keep reporting flapping.
            ProbeState::Flapping
        } else {
            self.settled
        };
        if next == self.reported {
            return None;
        }
        let t = Transition {
            from: self.reported,
            to: next,
        };
        self.reported = next;
        self.since_ms = at_ms;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeState::*;
    use ResultStatus::*;

    const P: Policy = Policy {
        failure_threshold: 3,
        success_threshold: 2,
        flap_window_ms: 10_000,
        flap_threshold: 3,
    };

    /// Feeds results one second apart; answers the reported state after each.
    fn run(t: &mut Tracker, start_s: i64, results: &[ResultStatus]) -> Vec<ProbeState> {
        results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                t.observe(*r, (start_s + i as i64) * 1000, &P);
                t.state()
            })
            .collect()
    }

    #[test]
    fn the_first_result_decides_then_thresholds_hold() {
        let mut t = Tracker::new(0);
        assert_eq!(
            run(&mut t, 0, &[Pass, Fail, Fail, Fail, Pass, Pass]),
            [Passing, Passing, Passing, Failing, Failing, Passing]
        );
        // A streak broken before the threshold changes nothing.
        assert_eq!(
            run(&mut t, 100, &[Warn, Warn, Pass, Warn, Warn, Warn]),
            [Passing, Passing, Passing, Passing, Passing, Warning]
        );
        let mut t = Tracker::new(0);
        assert_eq!(run(&mut t, 0, &[ResultStatus::Unknown]), [Failing]);
    }

    #[test]
    fn transitions_are_reported_once() {
        let mut t = Tracker::new(0);
        let p1 = Policy {
            failure_threshold: 1,
            success_threshold: 1,
            ..P
        };
        assert_eq!(
            t.observe(Pass, 0, &p1),
            Some(Transition {
                from: ProbeState::Unknown,
                to: Passing
            })
        );
        assert_eq!(t.observe(Pass, 1000, &p1), None);
        assert_eq!(
            t.observe(Fail, 2000, &p1),
            Some(Transition {
                from: Passing,
                to: Failing
            })
        );
        assert_eq!(t.since_ms, 2000);
    }

    #[test]
    fn flapping_is_one_state_until_things_settle() {
        let p1 = Policy {
            failure_threshold: 1,
            success_threshold: 1,
            ..P
        };
        let mut t = Tracker::new(0);
        let mut events = Vec::new();
        // Alternating every second: moves at 1,2,3,4 s; the 4th (> 3) is flapping.
        for (i, r) in [Pass, Fail, Pass, Fail, Pass, Fail, Pass]
            .iter()
            .enumerate()
        {
            if let Some(tr) = t.observe(*r, i as i64 * 1000, &p1) {
                events.push(tr.to);
            }
        }
        assert_eq!(events, [Passing, Failing, Passing, Failing, Flapping]);
        // Stable passing: flapping holds until the last move is a window old.
        let mut at = 7_000;
        while t.state() == Flapping {
            t.observe(Pass, at, &p1);
            at += 1000;
            assert!(at < 30_000, "never settled");
        }
        assert_eq!(t.state(), Passing);
        assert!(at - 6_000 > P.flap_window_ms, "settled too early, at {at}");
    }
}
