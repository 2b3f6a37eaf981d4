//! Warm instances: a stateless plugin's instance kept after a clean call and handed to its next call, within a host-wide budget.
//!
//! By default every call gets a fresh instance: nothing a call leaves in the
//! guest's memory can reach the next one. For a plugin carrying an
//! interpreter (CPython, StarlingMonkey) a fresh instance is most of the
//! cost of a call: mapping its 10–20 MiB image and faulting in what the call
//! touches, and wasmtime initialising the function references the call
//! uses, again every time (a Python validator: 1.9 ms a call, of which its
//! own code is a fraction). A plugin whose manifest says `stateless = true`,
//! where the operator set `reuse_instances = true`, gets its instance back
//! for the next call instead, as Extism does with every plugin.
//!
//! Both are asked because each answers a different question. The author
//! knows whether the code is right when calls share an instance; the
//! operator decides whether calls may share one at all: a kept instance is
//! state a plugin could carry from one caller's subject into another
//! caller's answer, which a fresh instance rules out. Like the probes'
//! grants, the manifest asks and the operator gives.
//!
//! What keeps that safe:
//! - only after a call that ended cleanly (an answer, or the guest's own
//!   `err`): a timeout, trap, memory or output breach drops the instance;
//! - each call renews the store's per-call state (deadline, output budget,
//!   host call counts, what was denied) and runs under the same limits; the
//!   memory cap applies to the instance, so what a reused instance keeps
//!   counts against the plugin's own `memory_limit_mib`;
//! - an instance that holds more host resources (streams, pollables) after
//!   a call than after its first is dropped: what it leaks would otherwise
//!   pile up in the host's memory, outside its cap; and an instance serves
//!   at most [`MAX_CALLS`] calls;
//! - idle instances are bounded per plugin (its share of the call slots) and
//!   host-wide ([`WarmBudget`], the pool's size again, each holding one of
//!   the pooling allocator's extra slots), and an instance idle for
//!   [`IDLE_TTL`] gives its place up to another plugin's.
//!
//! Only validators and routers called with the host's clock are reused;
//! probes (whose WASI context carries their grants) always start fresh.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;

use super::bindings::{Router, Validator};
use super::state::CallState;

/// Calls one instance serves before it is dropped.
pub const MAX_CALLS: u32 = 1000;

/// How long an idle instance keeps its place when another plugin needs one.
pub const IDLE_TTL: Duration = Duration::from_secs(10);

/// An instantiated plugin, typed by its kind's world.
pub enum Bound {
    Validator(Validator),
    Router(Router),
}

/// One kept instance: its store, its bindings, and its place in the budget.
pub struct Warm {
    store: Store<CallState>,
    bound: Bound,
    /// Calls it has served.
    calls: u32,
    idle_since: Instant,
    place: OwnedSemaphorePermit,
}

/// The host-wide bound on kept instances: one place each.
pub struct WarmBudget {
    places: Arc<Semaphore>,
    /// How long an idle instance keeps its place when another pool needs one.
    ttl: Duration,
    pools: Mutex<Vec<Weak<WarmPool>>>,
}

impl WarmBudget {
    pub fn new(places: u32, ttl: Duration) -> Arc<WarmBudget> {
        Arc::new(WarmBudget {
            places: Arc::new(Semaphore::new(places as usize)),
            ttl,
            pools: Mutex::default(),
        })
    }

    /// A pool for one compiled plugin (or one of its snapshots), keeping at most `max_idle`.
    pub fn pool(self: &Arc<Self>, max_idle: usize) -> Arc<WarmPool> {
        let pool = Arc::new(WarmPool {
            idle: Mutex::default(),
            max_idle: max_idle.max(1),
            budget: Arc::downgrade(self),
        });
        let mut pools = self.pools.lock().expect("warm pools lock");
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&pool));
        pool
    }

    /// A free place, taking one from an instance idle for the budget's TTL if none is free.
    fn place(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.places.clone().try_acquire_owned() {
            return Some(p);
        }
        let pools: Vec<Arc<WarmPool>> = self
            .pools
            .lock()
            .expect("warm pools lock")
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for pool in pools {
            // Dropped outside the lock: dropping a store frees its instance.
            let stale = pool.drain_idle(self.ttl);
            if !stale.is_empty() {
                drop(stale);
                return self.places.clone().try_acquire_owned().ok();
            }
        }
        None
    }
}

/// The kept instances of one compiled plugin or snapshot.
pub struct WarmPool {
    idle: Mutex<Vec<Warm>>,
    max_idle: usize,
    budget: Weak<WarmBudget>,
}

impl WarmPool {
    /// A kept instance for a call, if one is idle (the most recently used).
    pub(super) fn take(&self) -> Option<Warm> {
        self.idle.lock().expect("warm lock").pop()
    }

    /// Keeps `store` and `bound` after a clean call, when the instance has
    /// calls left, the plugin's idle instances are below its bound and the
    /// host has a place (its old one, if it had one). Otherwise drops them.
    pub(super) fn keep(
        &self,
        mut store: Store<CallState>,
        bound: Bound,
        calls: u32,
        place: Option<OwnedSemaphorePermit>,
    ) {
        let held = store.data_mut().table.iter_mut().count();
        if held > *store.data_mut().kept_resources.get_or_insert(held) {
            tracing::debug!(
                target: "assay::plugin",
                plugin = %store.data().plugin,
                "a kept instance holds {held} host resources, more than after its first call: dropped"
            );
            return;
        }
        if calls >= MAX_CALLS || self.idle.lock().expect("warm lock").len() >= self.max_idle {
            return;
        }
        let place = match place {
            Some(p) => p,
            None => match self.budget.upgrade().and_then(|b| b.place()) {
                Some(p) => p,
                None => return,
            },
        };
        let mut idle = self.idle.lock().expect("warm lock");
        if idle.len() < self.max_idle {
            idle.push(Warm {
                store,
                bound,
                calls,
                idle_since: Instant::now(),
                place,
            });
        }
    }

    /// Removes the instances idle for at least `ttl`.
    fn drain_idle(&self, ttl: Duration) -> Vec<Warm> {
        let mut idle = self.idle.lock().expect("warm lock");
        let (stale, fresh) = std::mem::take(&mut *idle)
            .into_iter()
            .partition(|w| w.idle_since.elapsed() >= ttl);
        *idle = fresh;
        stale
    }

    /// Instances kept idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().expect("warm lock").len()
    }
}

impl Warm {
    /// Splits a kept instance into what a call uses and its place in the budget.
    pub(super) fn open(self) -> (Store<CallState>, Bound, u32, OwnedSemaphorePermit) {
        (self.store, self.bound, self.calls, self.place)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kind::PluginKind;
    use crate::runtime::{CallLimits, Linked, Runtime, RuntimeOptions};

    const TRIVIAL: &[u8] = include_bytes!("../cli/bench/trivial.wasm");

    #[tokio::test]
    async fn places_are_bounded_and_an_idle_one_moves_to_another_plugin() {
        let rt = Runtime::new(RuntimeOptions {
            max_concurrency: 2,
            cache_dir: None,
            ..RuntimeOptions::default()
        })
        .unwrap();
        let (component, _) = rt.compile(TRIVIAL, "sha256:trivial").unwrap();
        let Linked::Validator(pre, _) = rt.link(PluginKind::Validator, &component).unwrap() else {
            panic!("the trivial plugin is a validator")
        };
        let name: Arc<str> = "trivial".into();
        let limits = CallLimits {
            timeout: Duration::from_secs(5),
            memory: 64 << 20,
            quotas: crate::runtime::Quotas::default(),
        };
        let instance = async || {
            let mut store = rt.store(&name, limits);
            let v = pre.instantiate_async(&mut store).await.unwrap();
            (store, Bound::Validator(v))
        };
        // One place host-wide, one idle instance per plugin.
        let budget = WarmBudget::new(1, Duration::from_millis(50));
        let (a, b) = (budget.pool(1), budget.pool(1));

        let (s, v) = instance().await;
        a.keep(s, v, 1, None);
        let (s, v) = instance().await;
        b.keep(s, v, 1, None);
        let (s, v) = instance().await;
        a.keep(s, v, 1, None);
        assert_eq!(
            (a.idle(), b.idle()),
            (1, 0),
            "one place; one idle per plugin"
        );

        // An instance at its last call gives its place back.
        let (s, v, calls, place) = a.take().unwrap().open();
        assert_eq!(calls, 1);
        a.keep(s, v, MAX_CALLS, Some(place));
        let (s, v) = instance().await;
        b.keep(s, v, 1, None);
        assert_eq!((a.idle(), b.idle()), (0, 1));

        // An instance that holds more host resources than after its first
        // call (a leak, call by call) is not kept.
        let (mut s, v, _, place) = b.take().unwrap().open();
        s.data_mut().table.push(7u32).unwrap();
        b.keep(s, v, 2, Some(place));
        assert_eq!(b.idle(), 0, "a leaking instance is dropped");
        let (s, v) = instance().await;
        b.keep(s, v, 1, None);
        assert_eq!(b.idle(), 1);

        // b's instance keeps its place until it has been idle for the TTL.
        let (s, v) = instance().await;
        a.keep(s, v, 1, None);
        assert_eq!((a.idle(), b.idle()), (0, 1));
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (s, v) = instance().await;
        a.keep(s, v, 1, None);
        assert_eq!((a.idle(), b.idle()), (1, 0));
    }
}
