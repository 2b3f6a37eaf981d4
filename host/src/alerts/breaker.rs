//! Each channel's circuit breaker, kept in the store: every replica that
//! delivers for a channel sees the same breaker, and a restart does not
//! forget that a receiver is down: it tries it once at start
//! ([`Breakers::try_now`]) and keeps to the breaker from there.
//!
//! - Closed: attempts go ahead; each failure counts, a success resets.
//! - `failures` in a row open it for `cooldown`: nothing is attempted (no
//!   attempts are spent) until `open_until`.
//! - Then one trial: the replica that claims it ([`Breakers::take_trial`])
//!   makes one attempt while the others wait. A success closes the breaker;
//!   a failure opens it again for twice as long, up to [`MAX_COOLDOWN_MS`].
//!
//! The transitions are single SQL statements, so replicas recording at
//! once cannot lose an update; an attempt's outcome and the breaker's
//! change commit together with the notification's row.

use std::sync::Arc;

use crate::store::{Answer, Row, Stmt, Store, StoreError, args};

/// The longest an open breaker waits before its next trial.
pub const MAX_COOLDOWN_MS: i64 = 600_000;

/// When a breaker opens, and for how long first.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures in a row that open it.
    pub failures: u32,
    pub cooldown_ms: i64,
}

/// A channel's breaker as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    /// Failed attempts since the last success.
    pub failures: i64,
    /// Open until then (`None`: closed).
    pub open_until_ms: Option<i64>,
    /// How long it was opened for last.
    pub cooldown_ms: i64,
    /// A replica's trial attempt is under way until then.
    pub trial_until_ms: Option<i64>,
}

/// What a channel's worker may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Deliver as usual.
    Closed,
    /// Wait until then: the breaker is open, or another replica's trial is under way.
    Wait(i64),
    /// The cooldown is over: one trial may be claimed.
    Trial,
}

impl State {
    pub fn gate(&self, now_ms: i64) -> Gate {
        match (self.open_until_ms, self.trial_until_ms) {
            (None, _) => Gate::Closed,
            (Some(t), _) if t > now_ms => Gate::Wait(t),
            (Some(_), Some(t)) if t > now_ms => Gate::Wait(t),
            (Some(_), _) => Gate::Trial,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until_ms.is_some()
    }

    fn from_row(r: &Row) -> Result<State, StoreError> {
        Ok(State {
            failures: r.get(0)?,
            open_until_ms: r.get(1)?,
            cooldown_ms: r.get(2)?,
            trial_until_ms: r.get(3)?,
        })
    }

    /// The state a `RETURNING` answer carries (the statement from [`Breakers::outcome`]).
    pub fn from_answer(a: &Answer) -> Result<Option<State>, StoreError> {
        a.rows.first().map(State::from_row).transpose()
    }
}

/// How an attempt ended, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Failed {
        /// This was the trial of an open breaker.
        trial: bool,
    },
}

/// The breakers of all channels.
pub struct Breakers {
    store: Arc<Store>,
    policy: Policy,
}

const COLUMNS: &str = "failures, open_until_ms, cooldown_ms, trial_until_ms";

impl Breakers {
    pub fn new(store: Arc<Store>, policy: Policy) -> Breakers {
        Breakers { store, policy }
    }

    /// `channel`'s breaker as stored (closed when it has no row).
    pub async fn read(&self, channel: &str) -> Result<State, StoreError> {
        let row = (self.store)
            .query_opt(
                "SELECT failures, open_until_ms, cooldown_ms, trial_until_ms
                 FROM channel_breakers WHERE channel = ?1",
                args![channel],
            )
            .await?;
        Ok(row
            .as_ref()
            .map(State::from_row)
            .transpose()?
            .unwrap_or_default())
    }

    /// Ends the cooldown of `channel`'s open breaker now (a start): its
    /// next attempt is the trial. Answers the new state.
    pub async fn try_now(&self, channel: &str, now_ms: i64) -> Result<State, StoreError> {
        let end = Stmt::exec(
            "UPDATE channel_breakers SET open_until_ms = CAST(?2 AS BIGINT)
             WHERE channel = ?1 AND open_until_ms > CAST(?2 AS BIGINT)",
            args![channel, now_ms],
        );
        self.store.write(vec![end]).wait().await?;
        self.read(channel).await
    }

    /// Claims the trial of `channel`'s open breaker whose cooldown is over,
    /// for `hold_ms`; answers whether this replica got it.
    pub async fn take_trial(
        &self,
        channel: &str,
        now_ms: i64,
        hold_ms: i64,
    ) -> Result<bool, StoreError> {
        let claim = Stmt::exec(
            "UPDATE channel_breakers SET trial_until_ms = CAST(?3 AS BIGINT)
             WHERE channel = ?1 AND open_until_ms <= CAST(?2 AS BIGINT)
               AND (trial_until_ms IS NULL OR trial_until_ms <= CAST(?2 AS BIGINT))",
            args![channel, now_ms, now_ms + hold_ms],
        );
        Ok(self.store.write(vec![claim]).wait().await? == 1)
    }

    /// The statement recording `outcome` for `channel` (answering the new
    /// state), or `None` when it changes nothing: a success while `known`
    /// is closed with no failures.
    pub fn outcome(
        &self,
        channel: &str,
        outcome: Outcome,
        known: &State,
        now_ms: i64,
    ) -> Option<Stmt> {
        let p = self.policy;
        let stmt = match outcome {
            Outcome::Delivered if *known == State::default() => return None,
            Outcome::Delivered => Stmt::returning(
                format!(
                    "UPDATE channel_breakers SET failures = 0, open_until_ms = NULL,
                            cooldown_ms = 0, trial_until_ms = NULL
                     WHERE channel = ?1 RETURNING {COLUMNS}"
                ),
                args![channel],
            ),
            // A failed trial: open again, for twice as long.
            Outcome::Failed { trial: true } => Stmt::returning(
                format!(
                    "UPDATE channel_breakers SET
                        failures = failures + 1,
                        cooldown_ms = CASE WHEN cooldown_ms * 2 > ?3 THEN ?3 ELSE cooldown_ms * 2 END,
                        open_until_ms = CAST(?2 AS BIGINT)
                            + CASE WHEN cooldown_ms * 2 > ?3 THEN ?3 ELSE cooldown_ms * 2 END,
                        trial_until_ms = NULL
                     WHERE channel = ?1 RETURNING {COLUMNS}"
                ),
                args![channel, now_ms, MAX_COOLDOWN_MS],
            ),
            // Counted; it opens the breaker when it is the `failures`-th in a
            // row. (A failure of an attempt begun before the breaker opened
            // leaves the open breaker as it is.)
            Outcome::Failed { trial: false } => Stmt::returning(
                format!(
                    "INSERT INTO channel_breakers AS b ({COLUMNS}, channel)
                     VALUES (1,
                             CASE WHEN CAST(?3 AS BIGINT) <= 1 THEN CAST(?2 AS BIGINT) + CAST(?4 AS BIGINT) END,
                             CASE WHEN CAST(?3 AS BIGINT) <= 1 THEN CAST(?4 AS BIGINT) ELSE 0 END,
                             NULL, ?1)
                     ON CONFLICT (channel) DO UPDATE SET
                        failures = b.failures + 1,
                        cooldown_ms = CASE WHEN b.open_until_ms IS NULL AND b.failures + 1 >= ?3
                                           THEN ?4 ELSE b.cooldown_ms END,
                        open_until_ms = CASE WHEN b.open_until_ms IS NULL AND b.failures + 1 >= ?3
                                             THEN CAST(?2 AS BIGINT) + CAST(?4 AS BIGINT)
                                             ELSE b.open_until_ms END
                     RETURNING {COLUMNS}"
                ),
                args![channel, now_ms, i64::from(p.failures), p.cooldown_ms],
            ),
        };
        Some(stmt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::stores;

    const POLICY: Policy = Policy {
        failures: 3,
        cooldown_ms: 1000,
    };

    async fn record(b: &Breakers, outcome: Outcome, now: i64) -> State {
        let known = b.read("c").await.unwrap();
        let Some(stmt) = b.outcome("c", outcome, &known, now) else {
            return known;
        };
        let answers = b.store.write(vec![stmt]).each().await.unwrap();
        State::from_answer(&answers[0]).unwrap().unwrap_or_default()
    }

    const FAIL: Outcome = Outcome::Failed { trial: false };

    #[tokio::test]
    async fn failures_in_a_row_open_the_breaker_and_a_success_closes_it() {
        for t in stores().await {
            let b = Breakers::new(t.store.clone(), POLICY);
            assert_eq!(b.read("c").await.unwrap().gate(0), Gate::Closed);
            record(&b, FAIL, 10).await;
            let s = record(&b, FAIL, 20).await;
            assert_eq!((s.failures, s.gate(20)), (2, Gate::Closed));
            let s = record(&b, FAIL, 30).await;
            assert_eq!((s.open_until_ms, s.cooldown_ms), (Some(1030), 1000));
            assert_eq!(s.gate(500), Gate::Wait(1030));
            // An attempt begun before it opened fails late: still open until 1030.
            let s = record(&b, FAIL, 40).await;
            assert_eq!((s.failures, s.open_until_ms), (4, Some(1030)));
            assert_eq!(s.gate(1030), Gate::Trial);
            let s = record(&b, Outcome::Delivered, 1100).await;
            assert_eq!(s, State::default());
            assert_eq!(b.read("c").await.unwrap(), State::default());
        }
    }

    #[tokio::test]
    async fn one_replica_gets_the_trial_and_a_failed_trial_doubles_the_cooldown() {
        for t in stores().await {
            let b = Breakers::new(t.store.clone(), POLICY);
            for t in 0..3 {
                record(&b, FAIL, t).await;
            }
            assert!(
                !b.take_trial("c", 500, 100).await.unwrap(),
                "still cooling down"
            );
            assert!(b.take_trial("c", 1002, 100).await.unwrap());
            assert!(!b.take_trial("c", 1003, 100).await.unwrap(), "taken");
            assert_eq!(b.read("c").await.unwrap().gate(1050), Gate::Wait(1102));
            let s = record(&b, Outcome::Failed { trial: true }, 1050).await;
            assert_eq!((s.cooldown_ms, s.open_until_ms), (2000, Some(3050)));
            assert_eq!(s.trial_until_ms, None);
            // Doubling stops at the cap.
            let mut now = 3050;
            for _ in 0..12 {
                assert!(b.take_trial("c", now, 10).await.unwrap());
                let s = record(&b, Outcome::Failed { trial: true }, now).await;
                now = s.open_until_ms.unwrap();
            }
            assert_eq!(b.read("c").await.unwrap().cooldown_ms, MAX_COOLDOWN_MS);
            // A start ends the cooldown: the trial may go at once.
            let s = b.try_now("c", now - 5).await.unwrap();
            assert_eq!(s.gate(now - 5), Gate::Trial);
            // A trial claim that ran out (its replica died) can be taken again.
            assert!(b.take_trial("c", now, 10).await.unwrap());
            assert!(b.take_trial("c", now + 10, 10).await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_threshold_of_one_opens_on_the_first_failure() {
        for t in stores().await {
            let b = Breakers::new(
                t.store.clone(),
                Policy {
                    failures: 1,
                    cooldown_ms: 50,
                },
            );
            let s = record(&b, FAIL, 7).await;
            assert_eq!((s.failures, s.open_until_ms), (1, Some(57)));
        }
    }
}
