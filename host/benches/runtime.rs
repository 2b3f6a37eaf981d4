//! Cost of plugin calls: a fresh-instance call of a trivial validator, and
//! `hash-chain` at each level on a 10,000-block ledger in WebAssembly against
//! the same code compiled natively (the physical limit).
//!
//! Needs the built plugins: run through `cargo xtask build` and
//! `cargo xtask test` first, then `cargo bench -p assay-host --bench runtime`.
//! Numbers and machine go in BENCHMARKS.md.

use std::path::PathBuf;
use std::time::Duration;

use assay_host::registry::load_plugin;
use assay_host::runtime::bindings::{Level as WitLevel, Subject};
use assay_plugin_sdk::{Level, NoConfig, Validator};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn plugin_path(var: &str, default: &str, name: &str) -> PathBuf {
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(default));
    let p = dir.join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test` (it builds the plugins) first",
        p.display()
    );
    p
}

fn wit_level(l: Level) -> WitLevel {
    match l {
        Level::Minimal => WitLevel::Minimal,
        Level::Standard => WitLevel::Standard,
        Level::Comprehensive => WitLevel::Comprehensive,
        Level::Full => WitLevel::Full,
    }
}

fn bench(c: &mut Criterion) {
    let (rt, runtime) = common::runtimes();
    let defaults = common::generous(512);
    let load = |var: &str, default: &str, name: &str| {
        let path = plugin_path(var, default, name);
        rt.block_on(load_plugin(&runtime, &path, &defaults))
            .unwrap()
    };

    // A fresh store and instance per call, as the host always does.
    let trivial = load("ASSAY_TEST_PLUGINS", "target/test-plugins", "trivial");
    let small = Subject {
        name: "s.json".into(),
        content_type: "application/json".into(),
        data: b"{}".to_vec(),
    };
    // Through the plugin's gate (share, quarantine) and the quotas, as served.
    c.bench_function("fresh_instance_call/trivial", |b| {
        b.iter(|| {
            rt.block_on(runtime.call_validate(
                trivial.validator().unwrap(),
                &small,
                WitLevel::Full,
                "{}",
            ))
            .outcome
            .unwrap()
        })
    });

    let ledger = serde_json::to_vec(&hash_chain::seal::sample_ledger(10_000, 3)).unwrap();
    let hc = load("ASSAY_SHIPPED_PLUGINS", "plugins.d", "hash-chain");
    let wit_subject = Subject {
        name: "ledger.json".into(),
        content_type: "application/json".into(),
        data: ledger.clone(),
    };
    let native_subject =
        assay_plugin_sdk::Subject::new("ledger.json", "application/json", ledger.clone());

    let mut group = c.benchmark_group("hash_chain_10k_blocks");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(criterion::Throughput::Bytes(ledger.len() as u64));
    for &level in Level::ALL {
        group.bench_function(format!("wasm/{level}"), |b| {
            b.iter(|| {
                let r = rt.block_on(runtime.call_validate(hc.validator().unwrap(), &wit_subject, wit_level(level), "{}")).outcome;
                assert!(matches!(r.unwrap(), assay_host::runtime::bindings::Validation::Findings(f) if f.is_empty()));
            })
        });
        group.bench_function(format!("native/{level}"), |b| {
            b.iter(|| {
                let v = hash_chain::HashChain::validate(&native_subject, level, NoConfig).unwrap();
                assert!(v.findings().is_empty());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
