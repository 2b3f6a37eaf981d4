//! The durable outbox: every notification is a row in SQLite before its first
//! attempt, and one worker per channel delivers the due rows.
//!
//! - At least once: a row leaves `pending` only when its receiver said yes
//!   (`delivered`) or its attempts ran out (`dead`). A crash at any moment
//!   leaves it pending, and the next start delivers it, with the same
//!   idempotency key (it is in the row).
//! - Retries back off exponentially with jitter: about `backoff_base × 2^(n-1)`,
//!   a random 50–100 % of it, at most `backoff_max`.
//! - A channel that fails `breaker_failures` times in a row is circuit-broken:
//!   nothing is attempted (and no attempts are spent) until its cooldown ends;
//!   then one trial delivery decides whether it closes or stays open for twice
//!   as long. The breaker is stored ([`super::breaker`]): replicas share it,
//!   and a restart keeps it.
//! - A dead-lettered notification raises a `NotificationDeadLettered` alert,
//!   resolved by the channel's next successful delivery.
//! - Among replicas sharing PostgreSQL every replica delivers: a worker
//!   claims due rows (`FOR UPDATE SKIP LOCKED`, so two never take the same
//!   row) for the channel's timeout plus the lease TTL. A replica that dies
//!   mid-attempt leaves its claim to expire; another then delivers the row
//!   with its original idempotency key.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

use super::breaker::{self, Breakers, Gate};
use super::channels::Channel;
use super::notification::Notification;
use crate::clock::{now_ms, rfc3339};
use crate::cluster::Fence;
use crate::config::AlertingSection;
use crate::store::{Stmt, Store, StoreError, args};
use crate::tasks::Tasks;
use crate::telemetry::AlertMetrics;

/// The state of one channel's deliveries.
pub struct ChannelQueue {
    /// Replaced when the channel's secrets change on disk ([`Outbox::refresh_secrets`]).
    pub channel: arc_swap::ArcSwap<Channel>,
    wake: Notify,
    /// The channel's breaker as this replica last saw it.
    breaker: Mutex<breaker::State>,
    /// Pending rows (the outbox depth).
    pub depth: AtomicI64,
    /// A dead-letter alert for this channel is firing.
    dead_alert: AtomicBool,
}

/// A notification row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its next attempt.
    Pending,
    /// Its receiver said yes.
    Delivered,
    /// Its attempts ran out.
    Dead,
}
crate::names::named!(Status, "status");

/// What `GET /v1/notifications` shows of a row.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationRecord {
    pub id: i64,
    pub idempotency_key: String,
    pub channel: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
    pub notification: serde_json::Value,
}

/// One delivery attempt, as the trail shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub at: String,
    pub duration_ms: Option<i64>,
    /// `delivered`, `failed` (retried) or `dead`.
    pub outcome: String,
    pub error: Option<String>,
    /// Which replica tried (among replicas).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

pub struct Outbox {
    pub queues: BTreeMap<String, Arc<ChannelQueue>>,
    policy: AlertingSection,
    store: Arc<Store>,
    metrics: AlertMetrics,
    breakers: Breakers,
    /// Among replicas: rows are claimed before their attempt.
    claims: Option<Claims>,
}

/// How a replica claims rows.
#[derive(Debug, Clone)]
pub struct Claims {
    /// This replica's name, in `claimed_by`.
    pub node: String,
    /// Added to the channel's timeout: how long a claim outlasts an attempt.
    pub margin: Duration,
}

impl Outbox {
    /// What retention deletes (`?1`: the cutoff time): delivered and dead
    /// notifications; pending ones stay whatever their age (nothing
    /// accepted is dropped).
    pub const RETENTION: &[&str] = &[
        "DELETE FROM notifications WHERE created_ms < ?1 AND status != 'pending'",
        // Attempts go with their notification.
        "DELETE FROM notification_attempts WHERE at_ms < ?1
           AND notification NOT IN (SELECT id FROM notifications)",
    ];

    pub fn new(
        channels: Vec<Arc<Channel>>,
        policy: AlertingSection,
        store: Arc<Store>,
        metrics: AlertMetrics,
        claims: Option<Claims>,
    ) -> Outbox {
        let queues = channels
            .into_iter()
            .map(|c| {
                let q = ChannelQueue {
                    channel: arc_swap::ArcSwap::new(c.clone()),
                    wake: Notify::new(),
                    breaker: Mutex::default(),
                    depth: AtomicI64::new(0),
                    dead_alert: AtomicBool::new(false),
                };
                (c.name().to_owned(), Arc::new(q))
            })
            .collect();
        let breakers = Breakers::new(
            store.clone(),
            breaker::Policy {
                failures: policy.breaker_failures,
                cooldown_ms: policy.breaker_cooldown.as_millis() as i64,
            },
        );
        Outbox {
            queues,
            policy,
            store,
            metrics,
            breakers,
            claims,
        }
    }

    /// Takes the secrets (URL, headers, signing secret, password) of a
    /// reloaded config into the running channels; their other settings wait
    /// for a restart. Answers the channels that changed; a channel whose new
    /// secrets it cannot use keeps its old ones, with an error logged.
    pub fn refresh_secrets(&self, sections: &[crate::config::ChannelSection]) -> Vec<String> {
        let mut changed = Vec::new();
        for (name, q) in &self.queues {
            let current = q.channel.load();
            let Some(new) = sections.iter().find(|c| &c.name == name) else {
                continue;
            };
            if new.kind != current.config.kind || new.same_secrets(&current.config) {
                continue;
            }
            match Channel::new(current.config.with_secrets_of(new)) {
                Ok(next) => {
                    q.channel.store(next);
                    changed.push(name.clone());
                }
                Err(e) => tracing::error!(
                    channel = %name,
                    "keeping the channel's current secrets: the new ones do not work: {e}"
                ),
            }
        }
        changed
    }

    /// Writes `batch` to the outbox (behind `fence`, if any); the answer
    /// resolves once committed, and the channels' workers are woken then.
    pub fn enqueue(
        &self,
        batch: Vec<Notification>,
        fence: Option<&Fence>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let stmts = batch
            .iter()
            .map(|n| {
                Stmt::exec(
                    // A notification queued again (its alert's work re-applied after a
                    // failed commit) keeps its first row: same key, same delivery.
                    "INSERT INTO notifications (key, channel, kind, created_ms, status, next_at_ms, payload)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?4, ?5) ON CONFLICT (key) DO NOTHING",
                    args![
                        n.idempotency_key.as_str(),
                        n.channel.as_str(),
                        n.kind.as_str(),
                        n.created_ms,
                        serde_json::to_string(n).expect("a notification serialises")
                    ],
                )
            })
            .collect();
        let queues: Vec<Arc<ChannelQueue>> = batch
            .iter()
            .filter_map(|n| self.queues.get(&n.channel).cloned())
            .collect();
        let committed = self.store.write(Fence::guarded(fence, stmts));
        async move {
            committed.wait().await?;
            for q in queues {
                q.depth.fetch_add(1, Ordering::Relaxed);
                q.wake.notify_one();
            }
            Ok(())
        }
    }

    /// Reads what is pending per channel and each channel's breaker (at
    /// start-up); warns of rows for channels the config no longer has (they
    /// stay pending, visible in the API).
    pub async fn resume(&self) -> Result<(), StoreError> {
        for (name, q) in &self.queues {
            let mut state = self.breakers.read(name).await?;
            if state.is_open() {
                // A restart often follows a repair: one trial now, not after the cooldown.
                state = self.breakers.try_now(name, now_ms()).await?;
                tracing::warn!(channel = %name, "outbox: the channel's circuit was open before this start; trying it once now");
            }
            self.learn(q, name, state);
        }
        let rows = self.store.query(
            "SELECT channel, COUNT(*) FROM notifications WHERE status = 'pending' GROUP BY channel",
            args![],
        );
        let mut counts = Vec::new();
        for mut r in rows.await? {
            counts.push((r.take_text(0)?, r.get::<i64>(1)?));
        }
        for (channel, n) in counts {
            match self.queues.get(&channel) {
                Some(q) => {
                    q.depth.store(n, Ordering::Relaxed);
                    tracing::info!(%channel, "outbox: {n} notification(s) pending from before");
                }
                None => tracing::warn!(
                    %channel,
                    "outbox: {n} pending notification(s) for a channel that is no longer configured; \
                     they stay pending (GET /v1/notifications?status=pending)"
                ),
            }
        }
        Ok(())
    }

    /// Starts one worker per channel; dead letters are raised through `alerting`.
    pub(super) fn spawn_workers(self: &Arc<Self>, alerting: &super::Alerting, tasks: &Tasks) {
        for q in self.queues.values() {
            let w = Worker {
                outbox: self.clone(),
                alerting: alerting.clone(),
                tasks: tasks.clone(),
                q: q.clone(),
            };
            tasks.spawn(w.run());
        }
    }

    /// Makes a dead (or pending) notification due now with fresh attempts.
    /// Answers false when there is no such row or it was delivered.
    pub async fn retry(&self, id: i64) -> Result<bool, StoreError> {
        let retry = Stmt::exec(
            "UPDATE notifications SET status = 'pending', attempts = 0, next_at_ms = ?2,
                    claimed_by = NULL, claim_until_ms = NULL
             WHERE id = ?1 AND status != 'delivered'",
            args![id, now_ms()],
        );
        if self.store.write(vec![retry]).wait().await? == 0 {
            return Ok(false);
        }
        let row = (self.store)
            .query_opt("SELECT channel FROM notifications WHERE id = ?1", args![id])
            .await?;
        let channel = row.map(|mut r| r.take_text(0)).transpose()?;
        if let Some(q) = channel.and_then(|c| self.queues.get(&c)) {
            q.depth.fetch_add(1, Ordering::Relaxed);
            q.wake.notify_one();
        }
        Ok(true)
    }

    /// Rows for the API, newest first; with `fingerprint`, those about that alert.
    pub async fn list(
        &self,
        status: Option<Status>,
        channel: Option<String>,
        fingerprint: Option<&str>,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        // Fingerprints are hex: nothing in one is special to LIKE.
        let about = fingerprint
            .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(|f| format!("%\"fingerprint\":\"{f}\"%"));
        if fingerprint.is_some() && about.is_none() {
            return Ok(Vec::new());
        }
        let rows = self.store.query(
            "SELECT id, key, channel, kind, status, attempts, created_ms, next_at_ms,
                    last_attempt_ms, delivered_ms, last_error, payload
             FROM notifications
             WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) AND (CAST(?2 AS TEXT) IS NULL OR channel = ?2)
               AND (CAST(?4 AS TEXT) IS NULL OR payload LIKE ?4)
             ORDER BY id DESC LIMIT ?3",
            args![status.map(Status::as_str), channel, limit, about],
        );
        rows.await?
            .into_iter()
            .map(|mut r| {
                let status = r.take_text(4)?;
                Ok(NotificationRecord {
                    id: r.get(0)?,
                    idempotency_key: r.take_text(1)?,
                    channel: r.take_text(2)?,
                    kind: r.take_text(3)?,
                    attempts: r.get(5)?,
                    created_at: rfc3339(r.get(6)?),
                    next_attempt_at: (status == "pending").then(|| rfc3339(r.get(7).unwrap_or(0))),
                    last_attempt_at: r.get::<Option<i64>>(8)?.map(rfc3339),
                    delivered_at: r.get::<Option<i64>>(9)?.map(rfc3339),
                    last_error: r.get(10)?,
                    status,
                    notification: r.json(11)?,
                })
            })
            .collect()
    }

    /// Every delivery attempt of the notifications about `fingerprint`,
    /// oldest first, by notification id.
    pub async fn attempts_about(
        &self,
        fingerprint: &str,
    ) -> Result<BTreeMap<i64, Vec<AttemptRecord>>, StoreError> {
        if !fingerprint.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(BTreeMap::new());
        }
        let rows = self.store.query(
            "SELECT a.notification, a.attempt, a.at_ms, a.duration_ms, a.outcome, a.error, a.node
             FROM notification_attempts a JOIN notifications n ON n.id = a.notification
             WHERE n.payload LIKE ?1
             ORDER BY a.id",
            args![format!("%\"fingerprint\":\"{fingerprint}\"%")],
        );
        Self::attempts(rows.await?)
    }

    /// The delivery attempts of the notifications with ids `from..=to`, by notification.
    pub async fn attempts_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<i64, Vec<AttemptRecord>>, StoreError> {
        let rows = self.store.query(
            "SELECT notification, attempt, at_ms, duration_ms, outcome, error, node
             FROM notification_attempts WHERE notification BETWEEN ?1 AND ?2 ORDER BY id",
            args![from, to],
        );
        Self::attempts(rows.await?)
    }

    fn attempts(
        rows: Vec<crate::store::Row>,
    ) -> Result<BTreeMap<i64, Vec<AttemptRecord>>, StoreError> {
        let mut out: BTreeMap<i64, Vec<AttemptRecord>> = BTreeMap::new();
        for mut r in rows {
            let record = AttemptRecord {
                attempt: r.get(1)?,
                at: rfc3339(r.get(2)?),
                duration_ms: r.get(3)?,
                outcome: r.take_text(4)?,
                error: r.get(5)?,
                node: r.get(6)?,
            };
            out.entry(r.get(0)?).or_default().push(record);
        }
        Ok(out)
    }

    /// Ends this replica's claims on rows it did not finish (a clean stop):
    /// the others take them at once instead of when the claims run out.
    pub async fn release_claims(&self) {
        let Some(c) = &self.claims else { return };
        let release = Stmt::exec(
            "UPDATE notifications SET claimed_by = NULL, claim_until_ms = NULL
             WHERE claimed_by = ?1 AND status = 'pending'",
            args![c.node.as_str()],
        );
        if let Err(e) = self.store.write(vec![release]).wait().await {
            tracing::warn!(
                "outbox: handing back claimed rows failed (their claims run out instead): {e}"
            );
        }
    }

    /// Takes `state` as `q`'s breaker now: logs a change and publishes it.
    fn learn(&self, q: &ChannelQueue, channel: &str, state: breaker::State) {
        let before = std::mem::replace(&mut *q.breaker.lock().expect("breaker lock"), state);
        let gauge = self.metrics.circuit_open.with_label_values(&[channel]);
        gauge.set(i64::from(state.is_open()));
        if state.open_until_ms != before.open_until_ms
            && let Some(until) = state.open_until_ms
        {
            tracing::warn!(
                %channel,
                "channel circuit open for {} ms (until {}) after {} failure(s) in a row",
                state.cooldown_ms,
                rfc3339(until),
                state.failures
            );
        } else if before.is_open() && !state.is_open() {
            tracing::info!(%channel, "channel circuit closed: a delivery succeeded");
        }
    }

    /// The delay before attempt `attempts + 1`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        backoff(&self.policy, attempts)
    }
}

fn backoff(p: &AlertingSection, attempts: u32) -> Duration {
    let exp = p
        .backoff_base
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(p.backoff_max);
    exp.mul_f64(0.5 + fastrand::f64() * 0.5)
}

struct Due {
    id: i64,
    attempts: u32,
    payload: String,
}

/// One channel's deliverer.
struct Worker {
    outbox: Arc<Outbox>,
    alerting: super::Alerting,
    tasks: Tasks,
    q: Arc<ChannelQueue>,
}

impl Worker {
    /// Delivers the channel's due rows, at most `concurrency` at once, until told to stop.
    async fn run(self) {
        let me = Arc::new(self);
        let q = &me.q;
        let store = &me.outbox.store;
        let concurrency = q.channel.load().config.concurrency;
        let slots = Arc::new(Semaphore::new(concurrency));
        let inflight: Arc<Mutex<Inflight>> = Arc::default();
        let name = q.channel.load().name().to_owned();
        while !me.tasks.is_stopping() {
            // Woken by new rows too: publish the depth they added.
            (me.outbox.metrics.outbox_depth)
                .with_label_values(&[&name])
                .set(q.depth.load(Ordering::Relaxed));
            let busy = inflight.lock().expect("inflight lock").attempting.len();
            let Some(trial) = me.breaker_gate(&name, busy).await else {
                continue;
            };
            let room = if trial {
                1
            } else {
                concurrency - busy.min(concurrency)
            };
            let due = if room == 0 {
                Vec::new()
            } else {
                let claim = (me.outbox.claims.as_ref()).map(|c| {
                    let hold = q.channel.load().config.timeout + c.margin;
                    (c.node.as_str(), hold)
                });
                // Claimed rows are this worker's until their claim ends: take
                // no more than it can attempt now (rows in flight are claimed
                // already, so no read can return them).
                let want = if claim.is_some() { room } else { room + busy };
                fetch_due(store, &name, want, &inflight, claim).await
            };
            let due: Vec<Due> = due.into_iter().take(room).collect();
            if due.is_empty() {
                let wait = if room == 0 {
                    Duration::from_secs(1)
                } else {
                    next_due_in(store, &name).await
                };
                me.wait(wait).await;
                continue;
            }
            for d in due {
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                inflight
                    .lock()
                    .expect("inflight lock")
                    .attempting
                    .insert(d.id);
                let (me2, inflight) = (me.clone(), inflight.clone());
                me.tasks.spawn(async move {
                    me2.attempt(d.id, d.attempts, &d.payload, trial).await;
                    inflight.lock().expect("inflight lock").settle(d.id);
                    drop(permit);
                    me2.q.wake.notify_one();
                });
            }
        }
    }

    /// Whether the breaker lets this worker attempt now: `Some(false)` as
    /// usual, `Some(true)` one trial (claimed), `None` not now (it has waited).
    async fn breaker_gate(&self, name: &str, busy: usize) -> Option<bool> {
        let outbox = &self.outbox;
        let shared = outbox.claims.is_some();
        if shared {
            // Another replica may have opened or closed it.
            match outbox.breakers.read(name).await {
                Ok(state) => outbox.learn(&self.q, name, state),
                Err(e) => {
                    tracing::warn!(channel = %name, "outbox: reading the circuit breaker failed: {e}")
                }
            }
        }
        let now = now_ms();
        let state = *self.q.breaker.lock().expect("breaker lock");
        // Alone, nothing changes the breaker meanwhile; among replicas, look again each second.
        let until = |t: i64| {
            let ms = (t - now).max(1) as u64;
            Duration::from_millis(if shared { ms.min(1000) } else { ms })
        };
        match state.gate(now) {
            Gate::Closed => Some(false),
            Gate::Wait(t) => {
                self.wait(until(t)).await;
                None
            }
            // Attempts begun before it opened finish first.
            Gate::Trial if busy > 0 => {
                self.wait(Duration::from_secs(1)).await;
                None
            }
            Gate::Trial => {
                let hold = self.q.channel.load().config.timeout
                    + outbox
                        .claims
                        .as_ref()
                        .map_or(Duration::from_secs(1), |c| c.margin);
                match (outbox.breakers)
                    .take_trial(name, now, hold.as_millis() as i64)
                    .await
                {
                    Ok(true) => {
                        tracing::info!(channel = %name, "outbox: trying the channel again after its cooldown");
                        Some(true)
                    }
                    Ok(false) => {
                        // Another replica's trial: see how it went.
                        self.wait(Duration::from_millis(200)).await;
                        None
                    }
                    Err(e) => {
                        tracing::warn!(channel = %name, "outbox: claiming the breaker's trial failed: {e}");
                        self.wait(Duration::from_secs(1)).await;
                        None
                    }
                }
            }
        }
    }

    /// Sleeps for `wait`, or until new rows arrive or the worker is told to stop.
    async fn wait(&self, wait: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.q.wake.notified() => {}
            _ = self.tasks.stopped() => {}
        }
    }

    /// One delivery attempt and its bookkeeping.
    async fn attempt(&self, id: i64, attempts: u32, payload: &str, trial: bool) {
        let q = &self.q;
        let current = q.channel.load_full();
        let channel = current.name();
        let m = &self.outbox.metrics;
        let n: Notification = match serde_json::from_str(payload) {
            Ok(n) => n,
            Err(e) => {
                // Not ours to fix by retrying: dead-letter it with the reason.
                let error = Err(format!("unreadable outbox row: {e}"));
                self.finish(id, attempts + 1, error, true, None, None).await;
                return;
            }
        };
        let span = tracing::info_span!(
            target: crate::telemetry::traces::TARGET,
            "alert.deliver",
            otel.name = %format_args!("deliver {channel}"),
            otel.kind = "client",
            assay.channel = %channel,
            assay.notification.id = id,
            assay.notification.idempotency_key = %n.idempotency_key,
            assay.delivery.attempt = attempts + 1,
            assay.delivery.outcome = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        if let Some(tp) = n.traceparent.as_deref().filter(|_| !span.is_disabled()) {
            use tracing_opentelemetry::OpenTelemetrySpanExt as _;
            let _ = span.set_parent(crate::telemetry::traces::from_traceparent(tp));
        }
        let started = Instant::now();
        let result = {
            use tracing::Instrument as _;
            current.deliver(&n).instrument(span.clone()).await
        };
        m.delivery_seconds
            .with_label_values(&[channel])
            .observe(started.elapsed().as_secs_f64());
        let tries = attempts + 1;
        let result = result.map_err(|e| e.to_string());
        let dead = result.is_err() && tries >= self.outbox.policy.max_attempts;
        span.record(
            "assay.delivery.outcome",
            match (&result, dead) {
                (Ok(()), _) => "delivered",
                (Err(_), false) => "failed",
                (Err(_), true) => "dead",
            },
        );
        if let Err(e) = &result {
            crate::telemetry::traces::failed(&span, e);
            span.record("error.type", "delivery_failed");
        }
        // The breaker learns from every attempt.
        let outcome = match result {
            Ok(()) => breaker::Outcome::Delivered,
            Err(_) => breaker::Outcome::Failed { trial },
        };
        let took = started.elapsed();
        self.finish(id, tries, result, dead, Some(outcome), Some(took))
            .await;
    }

    /// Records an attempt's outcome (on the row, and as one more attempt of
    /// it), and what it taught the channel's breaker, in one commit.
    async fn finish(
        &self,
        id: i64,
        tries: u32,
        result: Result<(), String>,
        dead: bool,
        learned: Option<breaker::Outcome>,
        took: Option<Duration>,
    ) {
        let q = &self.q;
        let channel = q.channel.load().name().to_owned();
        let m = &self.outbox.metrics;
        let now = now_ms();
        let status = match (&result, dead) {
            (Ok(()), _) => Status::Delivered,
            (Err(_), true) => Status::Dead,
            (Err(_), false) => Status::Pending,
        };
        let outcome = match status {
            Status::Pending => "failed",
            s => s.as_str(),
        };
        m.notifications
            .with_label_values(&[&channel, outcome])
            .inc();
        let next = now + self.outbox.backoff(tries).as_millis() as i64;
        let error = result.as_ref().err().cloned();
        let status_text = status.as_str();
        let update = Stmt::exec(
            "UPDATE notifications SET status = ?2, attempts = ?3, last_attempt_ms = ?4,
                    next_at_ms = ?5, last_error = ?6, claimed_by = NULL, claim_until_ms = NULL,
                    delivered_ms = CASE WHEN ?2 = 'delivered' THEN ?4 ELSE delivered_ms END
             WHERE id = ?1",
            args![id, status_text, tries, now, next, error.clone()],
        );
        let attempt = Stmt::exec(
            "INSERT INTO notification_attempts (notification, attempt, at_ms, duration_ms, outcome, error, node)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![
                id,
                tries,
                now,
                took.map(|t| t.as_millis() as i64),
                outcome,
                error.clone(),
                self.outbox.claims.as_ref().map(|c| c.node.clone())
            ],
        );
        let known = *q.breaker.lock().expect("breaker lock");
        let learn = learned.and_then(|o| (self.outbox.breakers).outcome(&channel, o, &known, now));
        let learns = learn.is_some();
        // The breaker's answer, if any, is the second.
        let write =
            (self.outbox.store).write([update].into_iter().chain(learn).chain([attempt]).collect());
        match write.each().await {
            Ok(answers) => {
                if learns && let Some(a) = answers.get(1) {
                    match breaker::State::from_answer(a) {
                        Ok(state) => self.outbox.learn(q, &channel, state.unwrap_or_default()),
                        Err(e) => {
                            tracing::warn!(%channel, "outbox: the breaker's state is unreadable: {e}")
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(%channel, "outbox: recording the outcome of notification {id} failed: {e}")
            }
        }
        if status != Status::Pending {
            // (Among replicas a row may be queued on one and delivered by another.)
            let _ = (q.depth).fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some((d - 1).max(0))
            });
        }
        m.outbox_depth
            .with_label_values(&[&channel])
            .set(q.depth.load(Ordering::Relaxed));
        match result {
            Ok(()) => {
                if q.dead_alert.swap(false, Ordering::Relaxed) {
                    (self.alerting).raise(super::sources::dead_letter(&channel, None).resolved());
                }
            }
            Err(e) if dead => {
                tracing::error!(%channel, "notification {id} dead-lettered after {tries} attempt(s): {e}");
                q.dead_alert.store(true, Ordering::Relaxed);
                (self.alerting).raise(super::sources::dead_letter(&channel, Some((id, &e))));
            }
            Err(e) => {
                tracing::warn!(%channel, "notification {id}: attempt {tries} failed: {e}");
            }
        }
    }
}

/// The rows a channel's worker has in hand.
#[derive(Default)]
struct Inflight {
    /// Being attempted now.
    attempting: HashSet<i64>,
    /// Attempted, outcome committed, since the last fetch began: a fetch
    /// whose read started before that commit may still see them pending.
    settled: HashSet<i64>,
}

impl Inflight {
    fn settle(&mut self, id: i64) {
        self.attempting.remove(&id);
        self.settled.insert(id);
    }
}

/// The channel's due rows, at most `limit`, oldest due first; with a
/// `claim` (node, how long), claimed for this replica (PostgreSQL only).
async fn fetch_due(
    store: &Store,
    channel: &str,
    limit: usize,
    inflight: &Mutex<Inflight>,
    claim: Option<(&str, Duration)>,
) -> Vec<Due> {
    // Rows settled before this read began are committed: the read sees them.
    inflight.lock().expect("inflight lock").settled.clear();
    let now = now_ms();
    let rows = match claim {
        None => {
            store
                .query(
                    "SELECT id, attempts, payload FROM notifications
                     WHERE status = 'pending' AND channel = ?1 AND next_at_ms <= ?2
                     ORDER BY next_at_ms, id LIMIT ?3",
                    args![channel, now, limit as i64],
                )
                .await
        }
        Some((node, hold)) => {
            let claim = Stmt::returning(
                "UPDATE notifications SET claimed_by = ?1, claim_until_ms = ?2
                 WHERE id IN (SELECT id FROM notifications
                              WHERE status = 'pending' AND channel = ?3 AND next_at_ms <= ?4
                                AND (claim_until_ms IS NULL OR claim_until_ms < ?4)
                              ORDER BY next_at_ms, id LIMIT ?5
                              FOR UPDATE SKIP LOCKED)
                 RETURNING id, attempts, payload",
                args![
                    node,
                    now + hold.as_millis() as i64,
                    channel,
                    now,
                    limit as i64
                ],
            );
            let claimed = store.write(vec![claim]).each().await;
            claimed.map(|mut answers| {
                let mut rows = answers.pop().map(|a| a.rows).unwrap_or_default();
                rows.sort_by_key(|r| r.get::<i64>(0).unwrap_or(0));
                rows
            })
        }
    };
    let rows = rows.and_then(|rows| {
        rows.into_iter()
            .map(|mut r| {
                Ok(Due {
                    id: r.get(0)?,
                    attempts: r.get(1)?,
                    payload: r.take_text(2)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
    });
    match rows {
        Ok(rows) => {
            let busy = inflight.lock().expect("inflight lock");
            rows.into_iter()
                .filter(|d| !busy.attempting.contains(&d.id) && !busy.settled.contains(&d.id))
                .collect()
        }
        Err(e) => {
            tracing::warn!("outbox: reading due notifications failed: {e}");
            Vec::new()
        }
    }
}

/// How long until the channel's next pending row is due (at most 1 s).
async fn next_due_in(store: &Store, channel: &str) -> Duration {
    let next: Option<i64> = store
        .query_opt(
            "SELECT MIN(next_at_ms) FROM notifications WHERE status = 'pending' AND channel = ?1",
            args![channel],
        )
        .await
        .ok()
        .flatten()
        .and_then(|r| r.get(0).ok().flatten());
    let cap = Duration::from_secs(1);
    next.map_or(cap, |t| {
        Duration::from_millis((t - now_ms()).clamp(1, 1000) as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let p = AlertingSection {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            ..AlertingSection::default()
        };
        for _ in 0..100 {
            let b1 = backoff(&p, 1);
            assert!(
                b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100),
                "{b1:?}"
            );
            let b3 = backoff(&p, 3);
            assert!(
                b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400),
                "{b3:?}"
            );
            let b30 = backoff(&p, 30);
            assert!(
                b30 >= Duration::from_millis(500) && b30 <= Duration::from_secs(1),
                "{b30:?}"
            );
        }
    }
}
