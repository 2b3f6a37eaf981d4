//! Cost of one tick of the alert engine with many active alerts: each alert
//! in a group of its own (`group_by = ["alertname"]`, distinct names, as a
//! big fleet's alerts are), every group notified and waiting for its repeat.
//! A tick runs five times a second whatever happens, so its cost with
//! nothing due is what a large set of active alerts costs the host at rest;
//! and with one new alert per tick, what it costs under a steady trickle.
//!
//! `cargo bench -p assay-host --bench engine`. Numbers go in BENCHMARKS.md.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use assay_contract::Severity;
use assay_host::alerts::engine::Engine;
use assay_host::alerts::{Alert, Decision, Route};
use assay_host::config::AlertingSection;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn to(channel: &str) -> Decision {
    Decision::Deliver(vec![Route {
        channel: channel.into(),
        title: None,
        body: None,
        labels: BTreeMap::new(),
        repeat_interval_ms: None,
        router: "bench".into(),
    }])
}

fn alert(i: usize, at: i64) -> Alert {
    let labels = BTreeMap::from([("host".to_owned(), format!("h{i}"))]);
    let mut a = Alert::firing(
        &format!("Bench{i}"),
        Severity::Warning,
        "bench",
        labels,
        "bench",
    );
    a.starts_ms = at;
    a
}

/// An engine with `n` alerts, all notified at `t = 10 s`.
fn settled(n: usize) -> Engine {
    let mut e = Engine::new(AlertingSection::default(), HashMap::new(), Vec::new());
    for i in 0..n {
        e.apply(alert(i, 0), to("hook"), 0);
    }
    let effects = e.tick(10_000);
    assert!(!effects.is_empty());
    e
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine_tick");
    group.measurement_time(Duration::from_secs(5));
    for n in [1_000, 20_000] {
        let mut e = settled(n);
        let mut now = 20_000;
        group.bench_function(BenchmarkId::new("nothing_due", n), |b| {
            b.iter(|| {
                now += 200;
                e.tick(now)
            })
        });
        let mut e = settled(n);
        let mut now = 20_000;
        let mut next = n;
        group.bench_function(BenchmarkId::new("one_new_alert_per_tick", n), |b| {
            b.iter(|| {
                now += 200;
                next += 1;
                e.apply(alert(next, now), to("hook"), now);
                e.tick(now)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
