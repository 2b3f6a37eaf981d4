//! Runs the alert [`Engine`] as one task: it takes commands in order, reads
//! the clock, ticks, and carries out the engine's effects: the alert
//! repository, the outbox and the metrics. Owning the state in one task
//! means its decisions need no locks.
//!
//! Among replicas sharing PostgreSQL, exactly one decides alert state: the
//! holder of the `alerts` lease ([`crate::cluster`]). The others queue what
//! they are given (alerts, acks, silence changes) in the `alert_inbox`
//! table, durably, and answer `queued`; the leader reads the inbox every
//! [`INBOX_POLL`], applies it, and removes the rows only once everything
//! they caused is committed. A replica that gains the lease reads the
//! stored state first; one that loses it forgets its copy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::InhibitRule;
use super::engine::{AckError, AlertView, Effect, Engine, Outcome};
use super::model::Alert;
use super::outbox::Outbox;
use super::repo::{AlertRepo, InboxItem};
use super::routing::{Decision, Step};
use super::silences::Silence;
use crate::clock::now_ms;
use crate::cluster::Cluster;
use crate::config::AlertingSection;
use crate::store::{Committed, StoreError};
use crate::tasks::Tasks;
use crate::telemetry::AlertMetrics;

/// How often the leader reads the inbox.
const INBOX_POLL: Duration = Duration::from_millis(200);
/// Most inbox rows applied in one turn.
const INBOX_BATCH: u32 = 256;
/// The lease of the replica deciding alert state.
pub(super) const LEASE: &str = "alerts";

/// A request to the engine's task.
pub(super) enum Command {
    /// Routed alerts, applied in one turn, in order.
    Events {
        batch: Vec<(Alert, Decision)>,
        /// How the router chain came to each decision, in the same order.
        steps: Vec<Vec<Step>>,
        done: oneshot::Sender<Vec<(Outcome, Option<Committed>)>>,
    },
    Ack {
        fingerprint: String,
        by: String,
        comment: String,
        /// The alert as it is now, and the commit of its new state.
        reply: oneshot::Sender<Result<(AlertView, Committed), AckError>>,
    },
    List(oneshot::Sender<Result<Vec<AlertView>, StoreError>>),
    /// The silences changed (this replica wrote them).
    Silences(Vec<Silence>),
    /// The config file's `[[inhibit_rule]]`s changed.
    Inhibit(Vec<InhibitRule>),
}

/// What an engine is made from (to make a fresh one on gaining the lease).
pub(super) struct EngineSpec {
    pub(super) policy: AlertingSection,
    pub(super) limits: HashMap<String, u32>,
    pub(super) inhibit: Vec<InhibitRule>,
    /// Channels told of acknowledgements.
    pub(super) ack_channels: std::collections::BTreeSet<String>,
}

impl EngineSpec {
    pub(super) fn engine(&self) -> Engine {
        Engine::new(
            self.policy.clone(),
            self.limits.clone(),
            self.inhibit.clone(),
        )
        .with_ack_channels(self.ack_channels.clone())
    }
}

pub(super) struct Driver {
    pub(super) engine: Engine,
    pub(super) spec: EngineSpec,
    pub(super) repo: AlertRepo,
    pub(super) outbox: Arc<Outbox>,
    pub(super) metrics: AlertMetrics,
    /// Where outbox writes wait for their commit.
    pub(super) tasks: Tasks,
    pub(super) tick: Duration,
    pub(super) cluster: Cluster,
    /// This replica decides alert state now (always, alone on SQLite).
    pub(super) leading: bool,
    /// The engine may have applied what the store did not take: read it again before going on.
    pub(super) stale: bool,
}

impl Driver {
    /// Runs until told to stop (then it takes the commands already queued) or until no sender is left.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        if !self.engine.is_empty() {
            tracing::info!("alerts: resumed {} active alert(s)", self.engine.len());
        }
        self.publish_gauges();
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut inbox = tokio::time::interval(INBOX_POLL);
        inbox.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leases = self.cluster.changes();
        let tasks = self.tasks.clone();
        let shared = self.cluster.is_shared();
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.handle(cmd).await;
                    // Take what else is waiting before looking at the clock.
                    for _ in 0..4096 {
                        match rx.try_recv() {
                            Ok(cmd) => self.handle(cmd).await,
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => if self.leading {
                    let effects = self.engine.tick(now_ms());
                    self.carry_out(effects);
                    self.publish_gauges();
                },
                _ = inbox.tick(), if shared => self.follow_lease().await,
                _ = leases.changed(), if shared => self.follow_lease().await,
                _ = tasks.stopped() => {
                    rx.close();
                    while let Ok(cmd) = rx.try_recv() {
                        self.handle(cmd).await;
                    }
                    break;
                }
            }
        }
    }

    /// Takes up or gives up the alert state as the lease says; while leading, applies the inbox.
    async fn follow_lease(&mut self) {
        self.take_role().await;
        if self.leading
            && let Err(e) = self.apply_inbox().await
        {
            tracing::error!("alerts: applying the inbox failed (it is read again): {e}");
            self.stale = true;
        }
    }

    /// Takes up or gives up the alert state as the lease says.
    async fn take_role(&mut self) {
        if !self.cluster.is_shared() {
            return;
        }
        let token = self.cluster.holds(LEASE);
        let holds = token.is_some();
        // Held again under a new token (lost and regained between looks): what this copy knows may be old.
        let regained = self.repo.fence().is_some_and(|f| Some(f.token) != token);
        if holds && (!self.leading || self.stale || regained) {
            match self.load().await {
                Ok(engine) => {
                    self.engine = engine;
                    self.leading = true;
                    self.stale = false;
                    self.repo.set_fence(self.cluster.fence(LEASE));
                    tracing::info!(
                        node = %self.cluster.node(),
                        "alerts: this replica decides alert state now ({} active)",
                        self.engine.len()
                    );
                }
                Err(e) => {
                    tracing::error!("alerts: cannot read the alert state to take it up: {e}");
                }
            }
        } else if !holds && self.leading {
            self.leading = false;
            self.repo.set_fence(None);
            self.engine = self.spec.engine();
            tracing::info!(node = %self.cluster.node(), "alerts: another replica decides alert state now");
        }
    }

    /// An engine holding the stored state.
    async fn load(&self) -> Result<Engine, StoreError> {
        let mut engine = self.spec.engine();
        engine.restore(self.repo.active().await?, now_ms());
        engine.set_silences(self.repo.silences(now_ms()).await?);
        Ok(engine)
    }

    /// Applies the inbox's oldest rows; removes them once what they caused is committed.
    async fn apply_inbox(&mut self) -> Result<(), StoreError> {
        let rows = self.repo.inbox(INBOX_BATCH).await?;
        let Some(last) = rows.last().map(|(id, _)| *id) else {
            return Ok(());
        };
        let now = now_ms();
        let mut commits: Vec<BoxFuture<'static, Result<(), StoreError>>> = Vec::new();
        for (_, item) in rows {
            match item {
                Some(InboxItem::Events { batch, steps }) => {
                    let steps = steps.into_iter().chain(std::iter::repeat(Vec::new()));
                    for ((alert, decision), steps) in batch.into_iter().zip(steps) {
                        let (outcome, mut effects) = self.engine.apply(alert, decision, now);
                        with_steps(&mut effects, &steps);
                        self.count(outcome);
                        commits.extend(self.carry_out_waited(effects));
                    }
                }
                Some(InboxItem::Ack {
                    fingerprint,
                    by,
                    comment,
                }) => match self.engine.ack(&fingerprint, by, comment, now) {
                    Ok((_, effects)) => commits.extend(self.carry_out_waited(effects)),
                    Err(why) => {
                        tracing::info!("alerts: a queued ack of {fingerprint} is moot: {why}")
                    }
                },
                Some(InboxItem::Silences) => {
                    self.engine.set_silences(self.repo.silences(now).await?);
                }
                None => {}
            }
        }
        for c in commits {
            c.await?;
        }
        self.repo.inbox_done(last).wait().await?;
        Ok(())
    }

    async fn handle(&mut self, cmd: Command) {
        // Decide as the lease says now, not as it said at the last poll.
        self.take_role().await;
        let now = now_ms();
        match cmd {
            Command::Events { batch, steps, done } if !self.leading => {
                let n = batch.len();
                let committed = self.repo.to_inbox(&InboxItem::Events { batch, steps });
                self.count_n(Outcome::Queued, n);
                let mut answers: Vec<(Outcome, Option<Committed>)> =
                    (1..n).map(|_| (Outcome::Queued, None)).collect();
                answers.push((Outcome::Queued, Some(committed)));
                let _ = done.send(answers);
            }
            Command::Events { batch, steps, done } => {
                let mut applied = Vec::with_capacity(batch.len());
                for ((alert, decision), steps) in batch.into_iter().zip(steps) {
                    let (outcome, mut effects) = self.engine.apply(alert, decision, now);
                    with_steps(&mut effects, &steps);
                    self.count(outcome);
                    applied.push((outcome, self.carry_out(effects)));
                }
                // (The gauges are refreshed at the next tick: counting every alert per event would be quadratic.)
                let _ = done.send(applied);
            }
            Command::Ack {
                fingerprint,
                by,
                comment,
                reply,
            } if !self.leading => {
                // Answered from the stored state; the leader applies it from the inbox.
                let answer = match self.load().await {
                    Ok(mut e) => {
                        e.ack(&fingerprint, by.clone(), comment.clone(), now)
                            .map(|(view, _)| {
                                let item = InboxItem::Ack {
                                    fingerprint,
                                    by,
                                    comment,
                                };
                                (view, self.repo.to_inbox(&item))
                            })
                    }
                    Err(e) => {
                        tracing::error!("alerts: reading the alert state for an ack failed: {e}");
                        return;
                    }
                };
                let _ = reply.send(answer);
            }
            Command::Ack {
                fingerprint,
                by,
                comment,
                reply,
            } => {
                let answer =
                    self.engine
                        .ack(&fingerprint, by, comment, now)
                        .map(|(view, effects)| {
                            let committed =
                                self.carry_out(effects).expect("an ack saves the alert");
                            (view, committed)
                        });
                let _ = reply.send(answer);
            }
            Command::List(reply) if !self.leading => {
                let _ = reply.send(self.load().await.map(|e| e.list(now)));
            }
            Command::List(reply) => {
                let _ = reply.send(Ok(self.engine.list(now)));
            }
            Command::Inhibit(rules) => {
                self.engine.set_inhibit(rules.clone());
                self.spec.inhibit = rules;
            }
            Command::Silences(s) => {
                self.engine.set_silences(s);
                if self.cluster.is_shared() {
                    // The leader, wherever it is, reads them again.
                    let queued = self.repo.to_inbox(&InboxItem::Silences);
                    self.tasks.spawn(async move {
                        if let Err(e) = queued.wait().await {
                            tracing::error!(
                                "alerts: telling the leader of new silences failed: {e}"
                            );
                        }
                    });
                }
            }
        }
    }

    fn count(&self, outcome: Outcome) {
        self.count_n(outcome, 1);
    }

    fn count_n(&self, outcome: Outcome, n: usize) {
        self.metrics
            .received
            .with_label_values(&[outcome.as_str()])
            .inc_by(n as u64);
    }

    /// Carries out `effects` in order; answers the commit of the last saved
    /// alert. Outbox writes are waited for in the background.
    fn carry_out(&self, effects: Vec<Effect>) -> Option<Committed> {
        let mut saved = None;
        for write in self.effects(effects, &mut saved) {
            self.tasks.spawn(async move {
                if let Err(e) = write.await {
                    tracing::error!("alerts: writing notifications to the outbox failed: {e}");
                }
            });
        }
        saved
    }

    /// Carries out `effects` in order; answers every write to wait for.
    fn carry_out_waited(
        &self,
        effects: Vec<Effect>,
    ) -> Vec<BoxFuture<'static, Result<(), StoreError>>> {
        let mut saved = None;
        let mut writes = self.effects(effects, &mut saved);
        if let Some(c) = saved {
            writes.push(Box::pin(async move { c.wait().await.map(|_| ()) }));
        }
        writes
    }

    fn effects(
        &self,
        effects: Vec<Effect>,
        saved: &mut Option<Committed>,
    ) -> Vec<BoxFuture<'static, Result<(), StoreError>>> {
        let mut writes: Vec<BoxFuture<'static, Result<(), StoreError>>> = Vec::new();
        for effect in effects {
            match effect {
                Effect::History { alert, detail } => self.repo.record(&alert, detail),
                Effect::Notify(batch) => {
                    for n in &batch {
                        (self.metrics.notifications)
                            .with_label_values(&[&n.channel, "queued"])
                            .inc();
                    }
                    writes.push(Box::pin(self.outbox.enqueue(batch, self.repo.fence())));
                }
                Effect::Save(a) => *saved = Some(self.repo.save(&a)),
                Effect::Forget(fp) => self.repo.forget(fp),
                Effect::RateLimited(channel) => {
                    (self.metrics.notifications)
                        .with_label_values(&[&channel, "rate_limited"])
                        .inc();
                }
            }
        }
        writes
    }

    fn publish_gauges(&self) {
        for (severity, n) in self.engine.firing_by_severity() {
            self.metrics
                .firing
                .with_label_values(&[severity.as_str()])
                .set(n);
        }
    }
}

/// Adds how the router chain decided to the history rows of one alert event.
fn with_steps(effects: &mut [Effect], steps: &[Step]) {
    if steps.is_empty() {
        return;
    }
    for e in effects {
        if let Effect::History { detail, .. } = e {
            *detail = format!("{detail}; routing: {}", Step::text(steps));
        }
    }
}
