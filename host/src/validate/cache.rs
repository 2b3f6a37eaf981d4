//! The in-memory result cache: reports by (subject digest, level, plugins and configs that ran), with a TTL.
//!
//! Small and specific enough to keep here rather than pull in a caching
//! crate: a map, an expiry per entry, oldest-first eviction at capacity.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Report;

/// Thread-safe; the policy (on/off, TTL) can change while it serves.
pub struct ResultCache {
    enabled: AtomicBool,
    ttl_ms: AtomicU64,
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
    /// `enabled` false, or a `ttl` or `capacity` of zero, disables caching.
    pub fn new(enabled: bool, ttl: Duration, capacity: usize) -> Self {
        ResultCache {
            enabled: AtomicBool::new(enabled),
            ttl_ms: AtomicU64::new(ttl.as_millis().try_into().unwrap_or(u64::MAX)),
            capacity,
            inner: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether lookups and stores happen at all (callers can skip building a key).
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
            && self.ttl_ms.load(Ordering::Relaxed) > 0
            && self.capacity > 0
    }

    /// Turns the cache on or off and sets the TTL of entries stored from now
    /// on. Turning it off empties it.
    pub fn set_policy(&self, enabled: bool, ttl: Duration) {
        self.ttl_ms.store(
            ttl.as_millis().try_into().unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.enabled.store(enabled, Ordering::Relaxed);
        if !enabled {
            self.clear();
        }
    }

    /// Drops every entry; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut inner = self.inner.lock().expect("cache lock poisoned");
        let n = inner.entries.len();
        inner.entries.clear();
        inner.order.clear();
        n
    }

    pub fn get(&self, key: &str) -> Option<Report> {
        if !self.is_enabled() {
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
        if !self.is_enabled() {
            return;
        }
        let ttl = Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed));
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
            .insert(key.clone(), (Instant::now() + ttl, report))
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
