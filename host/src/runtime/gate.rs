//! A plugin's door to the call pool: its share of the call slots, a bounded wait, and its quarantine breaker.
//!
//! Every validator and router call passes its plugin's [`Gate`] before it
//! takes one of the runtime's shared slots:
//!
//! 1. **Quarantine.** A quarantined plugin's calls are refused at once
//!    ([`super::breaker`]).
//! 2. **Share.** A plugin holds at most `share` slots at a time (default:
//!    [`super::Runtime::default_share`], half the cores), so a plugin whose
//!    calls spin until their deadline can take neither the slots nor the CPU
//!    every other plugin needs.
//! 3. **Bounded wait.** A call waits at most `max_queue` for its share and
//!    then for a pool slot; past that it is refused ("busy"). When the
//!    plugin's share is full and no slot can plausibly free up in time, the
//!    call is refused at once instead of waiting to find out: a plugin whose
//!    calls run for seconds gets its excess turned away in microseconds, while
//!    a plugin whose calls take a millisecond queues. "Plausibly" is the
//!    larger of the plugin's recent slot-hold time (a moving average) and how
//!    long its current calls have already run: a call that has run for a
//!    second is expected to run about as long again, so even a plugin with no
//!    history (its first call hangs) has its excess refused once that call
//!    has outlived `max_queue`.
//!
//! Probe plugins pass the gate for quarantine only: the probe scheduler
//! already gives each plugin its share of the probe slots, and a probe waits
//! for its slot as scheduler lag rather than being refused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::GatePolicy;
use super::breaker::{Admission, Breaker, Change, Status};

/// Why a call was refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "plugin busy: it already holds its share of {share} call slot(s) (max_concurrency) and no slot could free up within max_queue_ms = {} ms",
        max_queue.as_millis()
    )]
    Share { share: u32, max_queue: Duration },
    #[error(
        "plugin busy: every call slot of the host is taken (runtime.max_concurrency) and none freed up within max_queue_ms = {} ms",
        max_queue.as_millis()
    )]
    Pool { max_queue: Duration },
    #[error("plugin quarantined: {0}")]
    Quarantined(String),
}

impl Refusal {
    /// The `reason` label of `assay_plugin_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Share { .. } => "share",
            Refusal::Pool { .. } => "pool",
            Refusal::Quarantined(_) => "quarantined",
        }
    }

    pub fn is_quarantined(&self) -> bool {
        matches!(self, Refusal::Quarantined(_))
    }
}

/// A plugin's quarantine state, for the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineView {
    /// `closed`, `quarantined` or `half_open`.
    pub state: &'static str,
    /// Consecutive failures so far (closed only).
    pub consecutive_failures: u32,
    /// Milliseconds until the next trial call (quarantined only).
    pub retry_in_ms: Option<u64>,
    pub cooldown_ms: Option<u64>,
    /// The failure that quarantined it.
    pub reason: Option<String>,
}

/// What happened to a plugin's breaker, for whoever watches the runtime.
#[derive(Debug, Clone)]
pub struct QuarantineEvent {
    pub plugin: Arc<str>,
    pub change: Change,
    /// The failure behind a quarantine.
    pub reason: String,
}

/// One plugin's gate; shared by every version of the plugin with the same bytes.
pub struct Gate {
    plugin: Arc<str>,
    policy: GatePolicy,
    share: Option<Semaphore>,
    load: Mutex<Load>,
    breaker: Arc<Mutex<BreakerState>>,
}

#[derive(Default)]
struct Load {
    waiting: u32,
    /// Moving average of how long a call holds its slot, in µs (0: none yet).
    ewma_us: f64,
    /// When each call now holding a slot got it.
    holders: Vec<Instant>,
}

impl Load {
    /// The expected time before a slot frees up for a call with `waiting`
    /// others ahead of it, `share` slots being held: the larger of the usual
    /// hold and the shortest time any current holder has held, for each round.
    fn expected_wait(&self, share: u32, now: Instant) -> Duration {
        let youngest = self
            .holders
            .iter()
            .map(|t| now.saturating_duration_since(*t))
            .min()
            .unwrap_or_default();
        let hold = Duration::from_micros(self.ewma_us as u64).max(youngest);
        hold * (self.waiting / share.max(1) + 1)
    }
}

struct BreakerState {
    breaker: Breaker,
    reason: Option<String>,
}

/// A call let through the gate; settle it with [`Gate::settle`].
pub struct Pass<'a> {
    gate: &'a Gate,
    admission: Admission,
    _share: Option<SemaphorePermit<'a>>,
    _pool: SemaphorePermit<'a>,
    /// Time spent waiting for the slots.
    pub queued: Duration,
    started: Instant,
    settled: bool,
}

impl Gate {
    pub fn new(plugin: Arc<str>, policy: GatePolicy) -> Self {
        Gate {
            share: policy.share.map(|n| Semaphore::new(n.max(1) as usize)),
            breaker: Arc::new(Mutex::new(BreakerState {
                breaker: Breaker::new(policy.breaker),
                reason: None,
            })),
            load: Mutex::default(),
            plugin,
            policy,
        }
    }

    /// The same quarantine state under another policy (a settings change:
    /// same bytes, so the breaker carries on).
    pub fn with_policy(&self, policy: GatePolicy) -> Self {
        let mut g = Gate::new(self.plugin.clone(), policy);
        g.breaker = self.breaker.clone();
        g
    }

    pub fn policy(&self) -> &GatePolicy {
        &self.policy
    }

    /// Waits for a slot: the plugin's share, then one of `pool`, within `max_queue`.
    pub async fn enter<'a>(&'a self, pool: &'a Semaphore) -> Result<Pass<'a>, Refusal> {
        let now = Instant::now();
        let admission = {
            let mut b = self.breaker.lock().expect("breaker lock");
            match b.breaker.admit(now) {
                Admission::Refused { until } => {
                    return Err(Refusal::Quarantined(quarantine_message(
                        &b,
                        until.saturating_duration_since(now),
                    )));
                }
                a => a,
            }
        };
        let deadline = tokio::time::Instant::from_std(now + self.policy.max_queue);
        let result = self.wait(pool, deadline).await;
        match result {
            Ok((share, pool)) => {
                let started = Instant::now();
                self.load.lock().expect("gate lock").holders.push(started);
                Ok(Pass {
                    gate: self,
                    admission,
                    _share: share,
                    _pool: pool,
                    queued: now.elapsed(),
                    started,
                    settled: false,
                })
            }
            Err(refusal) => {
                self.breaker
                    .lock()
                    .expect("breaker lock")
                    .breaker
                    .abandon(admission);
                Err(refusal)
            }
        }
    }

    async fn wait<'a>(
        &'a self,
        pool: &'a Semaphore,
        deadline: tokio::time::Instant,
    ) -> Result<(Option<SemaphorePermit<'a>>, SemaphorePermit<'a>), Refusal> {
        let max_queue = self.policy.max_queue;
        let share = match &self.share {
            None => None,
            Some(sem) => match sem.try_acquire() {
                Ok(p) => Some(p),
                Err(_) => {
                    let n = self.policy.share.unwrap_or(1).max(1);
                    let busy = || Refusal::Share {
                        share: n,
                        max_queue,
                    };
                    // Full: wait only if a slot can plausibly free up in time.
                    {
                        let mut load = self.load.lock().expect("gate lock");
                        if load.expected_wait(n, Instant::now()) > max_queue {
                            return Err(busy());
                        }
                        load.waiting += 1;
                    }
                    // Counted out on drop too: a caller that goes away while it
                    // waits (a client hanging up) must not stay counted.
                    let _waiting = Waiting(&self.load);
                    match tokio::time::timeout_at(deadline, sem.acquire()).await {
                        Ok(p) => Some(p.expect("the share semaphore is never closed")),
                        Err(_) => return Err(busy()),
                    }
                }
            },
        };
        let pool = match pool.try_acquire() {
            Ok(p) => p,
            // No share of its own (probes): wait as long as it takes; the
            // scheduler counts the wait as lag and skips overlapping runs.
            Err(_) if self.share.is_none() => pool
                .acquire()
                .await
                .expect("the pool semaphore is never closed"),
            Err(_) => match tokio::time::timeout_at(deadline, pool.acquire()).await {
                Ok(p) => p.expect("the pool semaphore is never closed"),
                Err(_) => return Err(Refusal::Pool { max_queue }),
            },
        };
        Ok((share, pool))
    }

    /// Takes a finished call in: `failure` is the timeout, trap or limit
    /// breach that ended it, if one did. Answers a quarantine change.
    pub fn settle(&self, mut pass: Pass<'_>, failure: Option<&str>) -> Option<QuarantineEvent> {
        pass.settled = true;
        let held = pass.started.elapsed().as_micros() as f64;
        {
            let mut load = self.load.lock().expect("gate lock");
            load.ewma_us = if load.ewma_us == 0.0 {
                held
            } else {
                load.ewma_us * 0.75 + held * 0.25
            };
        }
        let mut b = self.breaker.lock().expect("breaker lock");
        let change = b
            .breaker
            .settle(pass.admission, failure.is_some(), Instant::now())?;
        if let Change::Quarantined { .. } = change {
            b.reason = failure.map(str::to_owned);
        } else {
            b.reason = None;
        }
        Some(QuarantineEvent {
            plugin: self.plugin.clone(),
            change,
            reason: b.reason.clone().unwrap_or_default(),
        })
    }

    /// Lifts a quarantine (an operator's release). Answers whether one was in force.
    pub fn release(&self) -> bool {
        let mut b = self.breaker.lock().expect("breaker lock");
        b.reason = None;
        b.breaker.release()
    }

    pub fn quarantine(&self) -> QuarantineView {
        let b = self.breaker.lock().expect("breaker lock");
        let now = Instant::now();
        match b.breaker.status() {
            Status::Closed { failures } => QuarantineView {
                state: "closed",
                consecutive_failures: failures,
                retry_in_ms: None,
                cooldown_ms: None,
                reason: None,
            },
            Status::Quarantined { until, cooldown } => QuarantineView {
                state: "quarantined",
                consecutive_failures: 0,
                retry_in_ms: Some(until.saturating_duration_since(now).as_millis() as u64),
                cooldown_ms: Some(cooldown.as_millis() as u64),
                reason: b.reason.clone(),
            },
            Status::HalfOpen => QuarantineView {
                state: "half_open",
                consecutive_failures: 0,
                retry_in_ms: Some(0),
                cooldown_ms: None,
                reason: b.reason.clone(),
            },
        }
    }

    pub fn is_quarantined(&self) -> bool {
        !matches!(
            self.breaker.lock().expect("breaker lock").breaker.status(),
            Status::Closed { .. }
        )
    }
}

fn quarantine_message(b: &BreakerState, left: Duration) -> String {
    let why = b
        .reason
        .as_deref()
        .map(|r| format!(" (last failure: {r})"))
        .unwrap_or_default();
    if left.is_zero() {
        format!("its trial call is running{why}")
    } else {
        format!(
            "after repeated timeouts, traps or limit breaches; next trial in {} s{why} (POST /v1/plugins/NAME/release lifts it)",
            left.as_secs().max(1)
        )
    }
}

/// One call counted in [`Load::waiting`] until dropped.
struct Waiting<'a>(&'a Mutex<Load>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("gate lock").waiting -= 1;
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        {
            let mut load = self.gate.load.lock().expect("gate lock");
            if let Some(i) = load.holders.iter().position(|t| *t == self.started) {
                load.holders.swap_remove(i);
            }
        }
        if !self.settled {
            // The caller went away mid-call: a trial must not block the next one.
            self.gate
                .breaker
                .lock()
                .expect("breaker lock")
                .breaker
                .abandon(self.admission);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::BreakerPolicy;

    fn gate(share: u32, max_queue_ms: u64) -> Gate {
        Gate::new(
            "p".into(),
            GatePolicy {
                share: Some(share),
                max_queue: Duration::from_millis(max_queue_ms),
                breaker: BreakerPolicy {
                    after: 2,
                    ..BreakerPolicy::default()
                },
            },
        )
    }

    #[tokio::test]
    async fn a_full_share_of_slow_calls_refuses_at_once() {
        let pool = Semaphore::new(8);
        let g = gate(1, 50);
        let first = g.enter(&pool).await.unwrap();
        // No history yet: the second call waits its max_queue, then is refused.
        let t = Instant::now();
        assert!(matches!(g.enter(&pool).await, Err(Refusal::Share { .. })));
        assert!(t.elapsed() >= Duration::from_millis(45));
        // Still no history, but the call holding the slot has now run longer
        // than max_queue: expected to run as long again, so refused at once.
        tokio::time::sleep(Duration::from_millis(60)).await;
        let t = Instant::now();
        assert!(matches!(g.enter(&pool).await, Err(Refusal::Share { .. })));
        assert!(t.elapsed() < Duration::from_millis(20));
        // The first call held its slot ~200 ms: with that history the next is refused without waiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        g.settle(first, None);
        assert!(g.load.lock().unwrap().holders.is_empty());
        let _busy = g.enter(&pool).await.unwrap();
        let t = Instant::now();
        assert!(matches!(g.enter(&pool).await, Err(Refusal::Share { .. })));
        assert!(t.elapsed() < Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_while_waiting_is_not_counted_as_waiting() {
        let pool = Semaphore::new(8);
        let g = gate(1, 1000);
        let held = g.enter(&pool).await.unwrap();
        // Ten waiters whose callers go away (a timeout here, a hung-up client in serve).
        for _ in 0..10 {
            let _ = tokio::time::timeout(Duration::from_millis(5), g.enter(&pool)).await;
        }
        assert_eq!(g.load.lock().unwrap().waiting, 0);
        drop(held);
        assert!(g.enter(&pool).await.is_ok());
    }

    #[tokio::test]
    async fn the_pool_wait_is_bounded_too() {
        let pool = Semaphore::new(1);
        let other = pool.try_acquire().unwrap();
        let g = gate(4, 20);
        assert!(matches!(g.enter(&pool).await, Err(Refusal::Pool { .. })));
        drop(other);
        assert!(g.enter(&pool).await.is_ok());
    }

    #[tokio::test]
    async fn failures_quarantine_and_release_lifts_it() {
        let pool = Semaphore::new(8);
        let g = gate(4, 20);
        let p = g.enter(&pool).await.unwrap();
        assert!(g.settle(p, Some("timed out")).is_none());
        let p = g.enter(&pool).await.unwrap();
        let ev = g.settle(p, Some("timed out")).unwrap();
        assert!(matches!(ev.change, Change::Quarantined { failures: 2, .. }));
        let Err(Refusal::Quarantined(msg)) = g.enter(&pool).await else {
            panic!("not quarantined")
        };
        assert!(msg.contains("timed out"), "{msg}");
        assert_eq!(g.quarantine().state, "quarantined");
        // A settings change keeps the state; a release lifts it.
        let g2 = g.with_policy(*g.policy());
        assert!(g2.is_quarantined());
        assert!(g2.release());
        assert!(!g.is_quarantined());
        assert!(g.enter(&pool).await.is_ok());
    }
}
