//! Cost of one routing decision: the shipped `severity-routes` router through
//! the sandbox (fresh instance, config JSON parsed and matchers compiled in the
//! guest, as on every host call) against the same code compiled natively (the
//! physical limit), with the config of `bench/alerts.sh`.
//!
//! Needs the built plugins (`cargo xtask build`), then
//! `cargo bench -p assay-host --bench router`. Numbers go in BENCHMARKS.md.

use std::time::Duration;

use assay_host::config::HostConfig;
use assay_host::registry::load_plugin;
use assay_plugin_sdk::{PreparedRouter, parse_config};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

const CONFIG: &str = r#"{"default": ["hook"], "rules": [
    {"matchers": ["team=\"db\"", "env!~\"dev|test\""], "channels": ["hook"]},
    {"min_severity": "critical", "channels": ["hook"], "repeat_interval": "30m"}
]}"#;

fn bench(c: &mut Criterion) {
    let (rt, runtime) = common::runtimes();
    let dir = common::shipped_dir();
    let path = dir.join("severity-routes.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build` first",
        path.display()
    );
    let plugin = rt
        .block_on(load_plugin(&runtime, &path, &HostConfig::default()))
        .unwrap();
    let (alert, native_alert) =
        common::alert("Bench", &[("team", "db"), ("env", "prod"), ("host", "h1")]);
    let wit_alert = alert.to_wit();

    let mut group = c.benchmark_group("route_one_alert");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("wasm/severity-routes", |b| {
        b.iter(|| {
            rt.block_on(runtime.call_route(
                plugin.router(CONFIG).unwrap(),
                &wit_alert,
                CONFIG,
                None,
            ))
            .outcome
            .unwrap()
        })
    });
    group.bench_function("native/severity-routes", |b| {
        b.iter(|| {
            // The same work as a wasm call: parse the config, then route.
            router_severity_routes::SeverityRoutes::route(
                &parse_config(CONFIG).unwrap(),
                &native_alert,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
