//! Quarantine: a circuit breaker per plugin, as a pure state machine over an injected clock.
//!
//! - **Closed**: calls go through. Each timeout, trap or limit breach adds
//!   one to a run of consecutive failures; any other answer (a finding list,
//!   `not-applicable`, the guest's own `err`) ends the run. When the run
//!   reaches `after`, the plugin is quarantined.
//! - **Open** (quarantined): every call is refused at once until the
//!   cool-down has passed.
//! - **Half-open**: the first call after the cool-down is the one trial; the
//!   others are still refused while it runs. A trial that answers closes the
//!   breaker; one that fails opens it again with the cool-down doubled, up to
//!   `max_cooldown`.
//!
//! An operator's release closes it at once; new bytes (a reload) get a new
//! breaker. Calls that were admitted before the breaker opened and finish
//! after it are not counted again.

use std::time::{Duration, Instant};

use super::BreakerPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, cooldown: Duration },
    HalfOpen { cooldown: Duration, trial: bool },
}

/// What the breaker lets a call do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// An ordinary call.
    Go,
    /// The one trial call of a half-open breaker.
    Trial,
    /// Quarantined: refused; the cool-down ends at `until` (or a trial is running).
    Refused { until: Instant },
}

/// A change an operator should hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Quarantined (again) for `cooldown`, after `failures` consecutive failures.
    Quarantined { cooldown: Duration, failures: u32 },
    /// A trial answered, or an operator released it.
    Released,
}

/// One plugin's breaker.
#[derive(Debug, Clone)]
pub(super) struct Breaker {
    policy: BreakerPolicy,
    state: State,
}

/// How a breaker looks from outside, for the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Closed { failures: u32 },
    Quarantined { until: Instant, cooldown: Duration },
    HalfOpen,
}

impl Breaker {
    pub(super) fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            state: State::Closed { failures: 0 },
        }
    }

    pub(super) fn status(&self) -> Status {
        match self.state {
            State::Closed { failures } => Status::Closed { failures },
            State::Open { until, cooldown } => Status::Quarantined { until, cooldown },
            State::HalfOpen { .. } => Status::HalfOpen,
        }
    }

    /// Whether a call may run now.
    pub(super) fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed { .. } => Admission::Go,
            State::Open { until, .. } if now < until => Admission::Refused { until },
            State::Open { cooldown, .. } => {
                self.state = State::HalfOpen {
                    cooldown,
                    trial: true,
                };
                Admission::Trial
            }
            State::HalfOpen { trial: true, .. } => Admission::Refused { until: now },
            State::HalfOpen { cooldown, .. } => {
                self.state = State::HalfOpen {
                    cooldown,
                    trial: true,
                };
                Admission::Trial
            }
        }
    }

    /// Takes the end of an admitted call in: `failed` for a timeout, trap or limit breach.
    pub(super) fn settle(
        &mut self,
        admission: Admission,
        failed: bool,
        now: Instant,
    ) -> Option<Change> {
        match (self.state, admission) {
            (State::Closed { failures }, Admission::Go) => {
                if !failed {
                    self.state = State::Closed { failures: 0 };
                    return None;
                }
                let failures = failures + 1;
                if self.policy.after > 0 && failures >= self.policy.after {
                    let cooldown = self.policy.cooldown;
                    self.state = State::Open {
                        until: now + cooldown,
                        cooldown,
                    };
                    Some(Change::Quarantined { cooldown, failures })
                } else {
                    self.state = State::Closed { failures };
                    None
                }
            }
            (State::HalfOpen { cooldown, .. }, Admission::Trial) => {
                if failed {
                    let cooldown = (cooldown * 2).min(self.policy.max_cooldown);
                    self.state = State::Open {
                        until: now + cooldown,
                        cooldown,
                    };
                    Some(Change::Quarantined {
                        cooldown,
                        failures: 1,
                    })
                } else {
                    self.state = State::Closed { failures: 0 };
                    Some(Change::Released)
                }
            }
            // Calls admitted before the breaker opened: already counted.
            _ => None,
        }
    }

    /// A trial that never finished (its caller went away): the next call may try.
    pub(super) fn abandon(&mut self, admission: Admission) {
        if let (State::HalfOpen { cooldown, .. }, Admission::Trial) = (self.state, admission) {
            self.state = State::HalfOpen {
                cooldown,
                trial: false,
            };
        }
    }

    /// An operator lifts the quarantine. Answers whether it was in force.
    pub(super) fn release(&mut self) -> bool {
        let was = !matches!(self.state, State::Closed { .. });
        self.state = State::Closed { failures: 0 };
        was
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            after: 3,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(25),
        }
    }

    fn call(b: &mut Breaker, failed: bool, now: Instant) -> Option<Change> {
        let a = b.admit(now);
        assert_eq!(a, Admission::Go);
        b.settle(a, failed, now)
    }

    #[test]
    fn quarantines_after_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        assert_eq!(call(&mut b, true, t0), None);
        assert_eq!(call(&mut b, true, t0), None);
        // An answer ends the run.
        assert_eq!(call(&mut b, false, t0), None);
        assert_eq!(call(&mut b, true, t0), None);
        assert_eq!(call(&mut b, true, t0), None);
        assert_eq!(
            call(&mut b, true, t0),
            Some(Change::Quarantined {
                cooldown: Duration::from_secs(10),
                failures: 3
            })
        );
        assert_eq!(
            b.admit(t0 + Duration::from_secs(9)),
            Admission::Refused {
                until: t0 + Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn one_trial_at_a_time_then_closed_or_doubled() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        for _ in 0..3 {
            call(&mut b, true, t0);
        }
        let t1 = t0 + Duration::from_secs(10);
        let trial = b.admit(t1);
        assert_eq!(trial, Admission::Trial);
        assert!(matches!(b.admit(t1), Admission::Refused { .. }));
        let requarantined = |secs| {
            Some(Change::Quarantined {
                cooldown: Duration::from_secs(secs),
                failures: 1,
            })
        };
        // The trial fails: 20 s now.
        assert_eq!(b.settle(trial, true, t1), requarantined(20));
        let t2 = t1 + Duration::from_secs(20);
        let trial = b.admit(t2);
        // Fails again: capped at 25 s.
        assert_eq!(b.settle(trial, true, t2), requarantined(25));
        let t3 = t2 + Duration::from_secs(25);
        let trial = b.admit(t3);
        assert_eq!(b.settle(trial, false, t3), Some(Change::Released));
        assert_eq!(b.status(), Status::Closed { failures: 0 });
    }

    #[test]
    fn late_answers_and_abandoned_trials() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        let early = b.admit(t0);
        for _ in 0..3 {
            call(&mut b, true, t0);
        }
        // A call admitted before the quarantine changes nothing.
        assert_eq!(b.settle(early, false, t0), None);
        assert!(matches!(b.status(), Status::Quarantined { .. }));
        let t1 = t0 + Duration::from_secs(10);
        let trial = b.admit(t1);
        b.abandon(trial);
        assert_eq!(b.admit(t1), Admission::Trial);
        assert!(b.release());
        assert!(!b.release());
        assert_eq!(b.admit(t1), Admission::Go);
    }

    #[test]
    fn zero_never_quarantines() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerPolicy {
            after: 0,
            ..policy()
        });
        for _ in 0..100 {
            assert_eq!(call(&mut b, true, t0), None);
        }
    }
}
