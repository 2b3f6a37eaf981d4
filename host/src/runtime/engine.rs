//! Engine configuration (component model, pooling allocator, epochs) and the epoch ticker thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::RuntimeOptions;

/// Memory kept resident per pooled memory slot and table between calls.
///
/// On reset wasmtime restores this much (`memset`, or a copy from the memory
/// image) instead of returning the pages to the OS, so the next call does
/// not page-fault them back in. Measured on a trivial validator
/// (BENCHMARKS.md): 0 → 29 µs a call, 64 KiB → 25 µs, 256 KiB → 8–10 µs
/// (with a 64 KiB guest stack, so that stack, data and the first heap pages
/// all fit), 1 MiB → 43 µs (the memset itself dominates). That is without
/// `pagemap_scan`, which is what [`KEEP_RESIDENT_SCANNED`] is for.
const KEEP_RESIDENT: usize = 256 << 10;

/// The same where `pagemap_scan` works (Linux 6.7+): only the pages a call
/// dirtied are reset and count against it, so a small plugin pays nothing
/// for a large value, and an interpreter's heap (CPython's 12 MiB,
/// StarlingMonkey's 9 MiB) stays resident instead of faulting back in from
/// its image on every call: a Python validator 2.53 → 2.12 ms a call, the
/// trivial validator unchanged at 8 µs (BENCHMARKS.md). The cost is memory:
/// up to this much stays resident per pooled slot a plugin has used.
const KEEP_RESIDENT_SCANNED: usize = 32 << 20;

/// Kept instances of stateless plugins, host-wide: as many as calls may run
/// at once, each in a pooled slot of its own besides the calls' slots.
pub(super) fn warm_places(options: &RuntimeOptions) -> u32 {
    options.max_concurrency.max(1)
}

/// Instance slots for the `info()` calls of plugins loading at once.
pub(super) const LOAD_SLOTS: u32 = 4;

pub(super) fn build(options: &RuntimeOptions) -> anyhow::Result<Engine> {
    let n = options.max_concurrency.max(1) + options.max_probe_concurrency;
    let mut pool = PoolingAllocationConfig::default();
    let keep_resident = if PoolingAllocationConfig::is_pagemap_scan_available() {
        KEEP_RESIDENT_SCANNED
    } else {
        KEEP_RESIDENT
    };
    // Kept instances of stateless plugins (`warm.rs`) have places of their own.
    // A Rust component is a handful of core instances, one or two memories
    // (the guest's and WASI adapter's) and tables; extra slots for the
    // `info()` calls made while plugins load.
    let slots = n + LOAD_SLOTS + warm_places(options);
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_memory_size(options.max_memory)
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(keep_resident)
        // Reset only the pages a call dirtied (Linux 6.7+; off elsewhere):
        // they stay resident, so the next instance takes no page faults on
        // them. What makes a prepared snapshot's large memory image cheap to
        // start from: json-schema 142 -> 54 µs a call (BENCHMARKS.md).
        .pagemap_scan(wasmtime::Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// A thread that advances the engine's epoch every tick, stopped on drop.
pub(super) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(super) fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("assay-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
