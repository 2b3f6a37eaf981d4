//! The in-memory result cache: reports by (subject digest, level, plugins and configs that ran), with a TTL.
//!
//! Small and specific enough to keep here rather than pull in a caching
//! crate: a map, an expiry per entry, oldest-first eviction at capacity.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Report;

pub struct ResultCache {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Instant, Report)>,
    /// Insertion order, for eviction.
    order: VecDeque<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

impl ResultCache {
    /// A `ttl` or `capacity` of zero disables caching.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        ResultCache {
            ttl,
            capacity,
            inner: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    pub fn get(&self, key: &str) -> Option<Report> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.inner.lock().expect("cache lock poisoned");
        let found = match inner.entries.get(key) {
            Some((expires, report)) if *expires > Instant::now() => Some(report.clone()),
            Some(_) => {
                inner.entries.remove(key);
                None
            }
            None => None,
        };
        drop(inner);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn put(&self, key: String, report: Report) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.inner.lock().expect("cache lock poisoned");
        while inner.entries.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.entries.remove(&old);
                }
                None => break,
            }
        }
        if inner
            .entries
            .insert(key.clone(), (Instant::now() + self.ttl, report))
            .is_none()
        {
            inner.order.push_back(key);
        }
        // Keys of entries dropped on expiry linger in `order`; bound it.
        if inner.order.len() > self.capacity * 2 {
            let Inner { entries, order } = &mut *inner;
            order.retain(|k| entries.contains_key(k));
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self
                .inner
                .lock()
                .expect("cache lock poisoned")
                .entries
                .len(),
        }
    }
}
