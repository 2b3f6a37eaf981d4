//! Runs the alert [`Engine`] as one task: it takes commands in order, reads
//! the clock, ticks, and carries out the engine's effects: the alert
//! repository, the outbox and the metrics. Owning the state in one task
//! means its decisions need no locks.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::engine::{AckError, AlertView, Effect, Engine, Outcome};
use super::model::Alert;
use super::outbox::Outbox;
use super::repo::AlertRepo;
use super::routing::Decision;
use super::silences::Silence;
use crate::clock::now_ms;
use crate::store::Committed;
use crate::tasks::Tasks;
use crate::telemetry::AlertMetrics;
use std::sync::Arc;

/// A request to the engine's task.
pub(super) enum Command {
    /// Routed alerts, applied in one turn, in order.
    Events {
        batch: Vec<(Alert, Decision)>,
        done: oneshot::Sender<Vec<(Outcome, Option<Committed>)>>,
    },
    Ack {
        fingerprint: String,
        by: String,
        comment: String,
        /// The alert as it is now, and the commit of its new state.
        reply: oneshot::Sender<Result<(AlertView, Committed), AckError>>,
    },
    List(oneshot::Sender<Vec<AlertView>>),
    Silences(Vec<Silence>),
}

pub(super) struct Driver {
    pub(super) engine: Engine,
    pub(super) repo: AlertRepo,
    pub(super) outbox: Arc<Outbox>,
    pub(super) metrics: AlertMetrics,
    /// Where outbox writes wait for their commit.
    pub(super) tasks: Tasks,
    pub(super) tick: Duration,
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
        let tasks = self.tasks.clone();
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
                _ = tick.tick() => {
                    let effects = self.engine.tick(now_ms());
                    self.carry_out(effects);
                    self.publish_gauges();
                }
                _ = tasks.stopped() => {
                    rx.close();
                    while let Ok(cmd) = rx.try_recv() {
                        self.handle(cmd);
                    }
                    break;
                }
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        let now = now_ms();
        match cmd {
            Command::Events { batch, done } => {
                let mut applied = Vec::with_capacity(batch.len());
                for (alert, decision) in batch {
                    let (outcome, effects) = self.engine.apply(alert, decision, now);
                    self.metrics
                        .received
                        .with_label_values(&[outcome.as_str()])
                        .inc();
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
            Command::List(reply) => {
                let _ = reply.send(self.engine.list(now));
            }
            Command::Silences(s) => self.engine.set_silences(s),
        }
    }

    /// Carries out `effects` in order; answers the commit of the last saved alert.
    fn carry_out(&self, effects: Vec<Effect>) -> Option<Committed> {
        let mut saved = None;
        for effect in effects {
            match effect {
                Effect::History { alert, detail } => self.repo.record(&alert, detail),
                Effect::Notify(batch) => {
                    for n in &batch {
                        (self.metrics.notifications)
                            .with_label_values(&[&n.channel, "queued"])
                            .inc();
                    }
                    let write = self.outbox.enqueue(batch);
                    self.tasks.spawn(async move {
                        if let Err(e) = write.await {
                            tracing::error!(
                                "alerts: writing notifications to the outbox failed: {e}"
                            );
                        }
                    });
                }
                Effect::Save(a) => saved = Some(self.repo.save(&a)),
                Effect::Forget(fp) => self.repo.forget(fp),
                Effect::RateLimited(channel) => {
                    (self.metrics.notifications)
                        .with_label_values(&[&channel, "rate_limited"])
                        .inc();
                }
            }
        }
        saved
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
