//! Replicas sharing one database: who is alive, and which replica does each
//! piece of work (a probe instance, a monitor, the alert engine).
//!
//! Each replica (node) writes a heartbeat every third of `[cluster]
//! lease_ttl`. Work items are spread over the live nodes by rendezvous
//! hashing ([`assign`]), and each is held under a lease in the database
//! ([`repo`]): a node runs an item only while it holds that item's lease, so
//! an item runs on one node at a time even while nodes disagree about who
//! is alive. A lease lasts `lease_ttl`; a node that cannot renew its leases
//! (the database is away, or the node is partitioned from it) stops their
//! work when 80 % of the TTL has passed since the last renewal began,
//! before anyone else can take them. A node that dies stops renewing, and
//! its items move within one TTL plus one tick. Every change of holder
//! increments the lease's fencing token; writes that must not come from a
//! stale holder carry it ([`Fence`]) and land only if it is still current.
//!
//! With the embedded SQLite file there is one node, which holds everything
//! ([`Cluster::solo`]).

pub(crate) mod assign;
pub(crate) mod repo;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::clock::now_ms;
use crate::store::{Stmt, Store, StoreError};
use crate::tasks::Tasks;

/// Proof of holding a lease, for a write that must not land from a stale holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub token: i64,
}

impl Fence {
    /// The statement that goes first in a write that must come from this
    /// holder: it fails the write's transaction when the lease has moved
    /// on, and otherwise keeps the lease from moving until it commits
    /// (PostgreSQL's `assay_fence`, migration 5).
    pub fn guard(&self) -> Stmt {
        Stmt::guard(
            "SELECT assay_fence(?1, ?2, ?3)",
            crate::store::args![self.lease.as_str(), self.holder.as_str(), self.token],
        )
    }

    /// `stmts` behind `fence`, if any.
    pub fn guarded(fence: Option<&Fence>, stmts: Vec<Stmt>) -> Vec<Stmt> {
        match fence {
            None => stmts,
            Some(f) => std::iter::once(f.guard()).chain(stmts).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Held {
    token: i64,
    /// After this the node no longer counts on the lease.
    until: Instant,
}

/// This node's view of the cluster, cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    started_ms: i64,
    ttl: Duration,
    /// `None`: the only node (SQLite).
    store: Option<Arc<Store>>,
    wanted: Mutex<BTreeSet<String>>,
    held: Mutex<BTreeMap<String, Held>>,
    /// Bumped whenever the set of held items changes.
    changes: tokio::sync::watch::Sender<u64>,
    /// The first round (heartbeat and leases) is done: this node knows its share.
    joined: std::sync::atomic::AtomicBool,
    /// Wakes the loop for a round now (new items wanted).
    wake: tokio::sync::Notify,
}

/// `GET /v1/cluster`.
#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    /// This node.
    pub node: String,
    /// `solo` (SQLite: one node does everything) or `shared` (PostgreSQL).
    pub mode: &'static str,
    pub lease_ttl_ms: u64,
    pub nodes: Vec<repo::NodeRecord>,
    pub leases: Vec<repo::LeaseRecord>,
}

impl Cluster {
    /// The only node: every item is its own, with nothing to renew.
    pub fn solo(node: String) -> Cluster {
        Cluster::new(node, Duration::from_secs(10), None)
    }

    /// A node of replicas sharing `store`.
    pub fn shared(node: String, ttl: Duration, store: Arc<Store>) -> Cluster {
        Cluster::new(node, ttl, Some(store))
    }

    fn new(node: String, ttl: Duration, store: Option<Arc<Store>>) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                node,
                started_ms: now_ms(),
                ttl,
                store,
                wanted: Mutex::default(),
                held: Mutex::default(),
                changes: tokio::sync::watch::Sender::new(0),
                joined: std::sync::atomic::AtomicBool::new(false),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    pub fn is_shared(&self) -> bool {
        self.inner.store.is_some()
    }

    /// Whether this node has done its first round with the others (always, alone).
    pub fn has_joined(&self) -> bool {
        !self.is_shared() || self.inner.joined.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Replaces the items whose names start with `prefix` (`probe:`,
    /// `monitor:`) by `items`; the next tick spreads them.
    pub fn want(&self, prefix: &str, items: impl IntoIterator<Item = String>) {
        let mut wanted = self.inner.wanted.lock().expect("cluster lock");
        let before = wanted.clone();
        wanted.retain(|i| !i.starts_with(prefix));
        wanted.extend(items);
        if *wanted != before {
            // A round now: new work should not wait a third of the TTL.
            self.inner.wake.notify_one();
        }
    }

    /// The fencing token of `item`'s lease if this node may run it now.
    pub fn holds(&self, item: &str) -> Option<i64> {
        if !self.is_shared() {
            return Some(0);
        }
        let held = self.inner.held.lock().expect("cluster lock");
        held.get(item)
            .filter(|h| h.until > Instant::now())
            .map(|h| h.token)
    }

    /// What a write about `item` must carry (`None` on a solo node: nothing to check).
    pub fn fence(&self, item: &str) -> Option<Fence> {
        if !self.is_shared() {
            return None;
        }
        Some(Fence {
            lease: item.to_owned(),
            holder: self.inner.node.clone(),
            // No lease: a token no lease has, so the write is refused.
            token: self.holds(item).unwrap_or(-1),
        })
    }

    /// Changes whenever this node starts or stops holding an item.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Heartbeats and leases until `tasks` stop; then hands every lease back.
    pub fn spawn(&self, tasks: &Tasks) {
        let Some(store) = self.inner.store.clone() else {
            return;
        };
        let me = self.clone();
        let tasks2 = tasks.clone();
        tasks.spawn(async move {
            let tick = me.inner.ttl / 3;
            let mut failing = false;
            loop {
                match me.tick(&store).await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!(node = %me.node(), "cluster: the database answers again");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(node = %me.node(), "cluster: cannot renew leases: {e}");
                    }
                    Err(_) => {}
                }
                me.expire();
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = me.inner.wake.notified() => {}
                    _ = tasks2.stopped() => break,
                }
            }
            me.leave(&store).await;
        });
    }

    /// One round: heartbeat, the live nodes, then take what is ours and hand back what is not.
    async fn tick(&self, store: &Store) -> Result<(), StoreError> {
        let me = &self.inner;
        let ttl_ms = me.ttl.as_millis() as i64;
        let now = now_ms();
        let silent = now - (10 * ttl_ms).max(300_000);
        store
            .write(vec![
                repo::heartbeat(&me.node, me.started_ms, now),
                repo::forget_silent(silent),
            ])
            .wait()
            .await?;
        let live = repo::live(store, now - ttl_ms).await?;
        let wanted: Vec<String> = me
            .wanted
            .lock()
            .expect("cluster lock")
            .iter()
            .cloned()
            .collect();
        let (mine, others): (Vec<String>, Vec<String>) = wanted
            .into_iter()
            .partition(|i| assign::owner(i, &live).is_none_or(|o| o == me.node));
        let held_now: BTreeSet<String> = me
            .held
            .lock()
            .expect("cluster lock")
            .keys()
            .cloned()
            .collect();
        let release: Vec<&String> = others.iter().filter(|i| held_now.contains(*i)).collect();
        let began = Instant::now();
        let now = now_ms();
        let mut stmts: Vec<Stmt> = mine
            .iter()
            .map(|i| repo::acquire(i, &me.node, now, now + ttl_ms))
            .collect();
        stmts.extend(release.iter().map(|i| repo::release(i, &me.node)));
        // Items no longer wanted at all (a removed probe): hand them back too.
        let gone: Vec<&String> = held_now
            .iter()
            .filter(|i| !mine.contains(i) && !others.contains(i))
            .collect();
        stmts.extend(gone.iter().map(|i| repo::release(i, &me.node)));
        let answers = store.write(stmts).each().await?;
        let until = began + me.ttl.mul_f64(0.8);
        let mut held = me.held.lock().expect("cluster lock");
        let before: BTreeSet<String> = held.keys().cloned().collect();
        for (item, answer) in mine.iter().zip(&answers) {
            match answer.rows.first().and_then(|r| r.get::<i64>(0).ok()) {
                Some(token) => {
                    held.insert(item.clone(), Held { token, until });
                }
                None => {
                    held.remove(item);
                }
            }
        }
        for i in release.iter().chain(&gone) {
            held.remove(*i);
        }
        let after: BTreeSet<String> = held.keys().cloned().collect();
        drop(held);
        me.joined.store(true, std::sync::atomic::Ordering::Relaxed);
        if before != after {
            let gained = after.difference(&before).count();
            let lost = before.difference(&after).count();
            tracing::info!(
                node = %me.node,
                "cluster: {} live node(s); holding {} item(s) (+{gained} −{lost})",
                live.len(),
                after.len()
            );
            me.changes.send_modify(|g| *g += 1);
        }
        Ok(())
    }

    /// Drops held items whose time ran out without a renewal.
    fn expire(&self) {
        let now = Instant::now();
        let mut held = self.inner.held.lock().expect("cluster lock");
        let before = held.len();
        held.retain(|_, h| h.until > now);
        if held.len() != before {
            tracing::warn!(
                node = %self.inner.node,
                "cluster: {} lease(s) ran out unrenewed; their work stops here",
                before - held.len()
            );
            drop(held);
            self.inner.changes.send_modify(|g| *g += 1);
        }
    }

    /// A clean stop: hand every lease back now, so others take over at once.
    async fn leave(&self, store: &Store) {
        self.inner.held.lock().expect("cluster lock").clear();
        self.inner.changes.send_modify(|g| *g += 1);
        let left = store.write(repo::leave(&self.inner.node)).wait();
        match tokio::time::timeout(Duration::from_secs(2), left).await {
            Ok(Ok(_)) => {
                tracing::info!(node = %self.inner.node, "cluster: left, leases handed back")
            }
            Ok(Err(e)) => tracing::warn!("cluster: leaving failed (leases expire instead): {e}"),
            Err(_) => tracing::warn!("cluster: leaving timed out (leases expire instead)"),
        }
    }

    /// The nodes and leases, for `GET /v1/cluster`.
    pub async fn status(&self) -> Result<ClusterStatus, StoreError> {
        let me = &self.inner;
        let (nodes, leases) = match &me.store {
            Some(store) => repo::list(store, now_ms(), me.ttl.as_millis() as i64).await?,
            None => (Vec::new(), Vec::new()),
        };
        Ok(ClusterStatus {
            node: me.node.clone(),
            mode: if me.store.is_some() { "shared" } else { "solo" },
            lease_ttl_ms: me.ttl.as_millis() as u64,
            nodes,
            leases,
        })
    }
}

#[cfg(test)]
mod tests;
