//! Prepared plugins against the plain path and the physical limit, in one run
//! and on the same inputs:
//! - `json-schema` per call, on the examples' schema and a 1 KB document:
//!   from its snapshot (prepared), as shipped (compiling the schema in the
//!   call), and natively with the schema compiled once;
//! - `severity-routes` per routing decision, with 10 rules and regex
//!   matchers: from its snapshot, as shipped, natively with the config
//!   prepared once, and natively preparing per decision (what every wasm
//!   call did before snapshots).
//!
//! Every wasm call is a fresh instance through the plugin's gate, as served.
//! Needs the built plugins (`cargo xtask build`), then
//! `cargo bench -p assay-host --bench prepared`. Numbers go in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use assay_host::registry::{Plugin, load_plugin};
use assay_host::runtime::bindings::{Level as WitLevel, Subject, Validation};
use assay_host::runtime::{Runtime, RuntimeOptions};
use assay_plugin_sdk::{Level, PreparedRouter, PreparedValidator, parse_config};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

/// Ten rules, regex matchers among them; the alert below matches the last.
const ROUTES: &str = r#"{"default": ["ops"], "rules": [
    {"matchers": ["team=\"payments\"", "env=~\"prod|staging\""], "channels": ["payments"]},
    {"matchers": ["team=\"search\""], "min_severity": "error", "channels": ["search"]},
    {"matchers": ["service=~\"billing-.*\""], "channels": ["billing"], "repeat_interval": "2h"},
    {"matchers": ["env=~\"dev|test|ci\""], "suppress": "not paged outside production"},
    {"matchers": ["team=\"web\"", "region!~\"eu-.*\""], "channels": ["web-us"]},
    {"matchers": ["team=\"web\"", "region=~\"eu-.*\""], "channels": ["web-eu"], "title": "[{severity}] {alertname} in {labels.region}"},
    {"severity": ["info"], "channels": ["digest"]},
    {"matchers": ["alertname=~\"Disk.*|Memory.*\"", "host=~\"db-[0-9]+\""], "channels": ["dba"], "continue": true},
    {"matchers": ["cluster!=\"staging\"", "team=~\"storage|db\""], "min_severity": "critical", "channels": ["pager"]},
    {"matchers": ["team=~\"db|data\"", "env=\"prod\""], "channels": ["db-oncall"], "title": "{alertname} on {labels.host}", "labels": [["routed_by", "bench"]]}
]}"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn runtime(snapshots: bool) -> Arc<Runtime> {
    Arc::new(
        Runtime::new(RuntimeOptions {
            cache_dir: None,
            snapshots,
            ..RuntimeOptions::default()
        })
        .unwrap(),
    )
}

/// `plugins_dir()/name.wasm`, loaded into `runtime` with `config` (a JSON
/// text) as its config, through a temporary plugin directory.
fn load(rt: &tokio::runtime::Runtime, runtime: &Arc<Runtime>, name: &str, config: &str) -> Plugin {
    let wasm = common::shipped_dir().join(format!("{name}.wasm"));
    assert!(
        wasm.exists(),
        "{} is missing: run `cargo xtask build` first",
        wasm.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.wasm"));
    std::fs::copy(&wasm, &file).unwrap();
    std::fs::write(dir.path().join(format!("{name}.config.json")), config).unwrap();
    std::fs::write(
        dir.path().join(format!("{name}.toml")),
        format!("config_file = \"{name}.config.json\"\n"),
    )
    .unwrap();
    let host = common::generous(256);
    let plugin = rt.block_on(load_plugin(runtime, &file, &host)).unwrap();
    // The snapshot is built from the file, so the directory lives until then.
    // (A validator's calls carry its config as the host normalised it; a
    // router's, its `[[router]]` entry's: here `config` as given.)
    if let Some(s) = &plugin.snapshots {
        let own = match plugin.kind {
            assay_host::registry::PluginKind::Validator => plugin.settings.config_json.as_str(),
            _ => config,
        };
        rt.block_on(s.ensure(own, plugin.settings.limits))
            .expect("building the snapshot");
    }
    plugin
}

/// About 1 KB of customer records that pass the examples' schema.
fn document() -> Vec<u8> {
    let names = [
        "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances",
    ];
    let records: Vec<serde_json::Value> = (0..11)
        .map(|i| {
            let n = names[i % names.len()];
            serde_json::json!({"id": format!("c-{i:03}"), "name": format!("{n} {i}"),
                "email": format!("{}@example.com", n.to_lowercase()), "age": 30 + i})
        })
        .collect();
    serde_json::to_vec_pretty(&records).unwrap()
}

fn json_schema(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let config = std::fs::read_to_string(root().join("examples/plugins.d/json-schema.config.json"))
        .expect("the examples' schema");
    let doc = document();
    let prepared_runtime = runtime(true);
    let prepared = load(rt, &prepared_runtime, "json-schema", &config);
    assert!(
        prepared.snapshots.is_some(),
        "json-schema asks for snapshots"
    );
    let plain_runtime = runtime(false);
    let plain = load(rt, &plain_runtime, "json-schema", &config);
    let subject = Subject {
        name: "customers.json".into(),
        content_type: "application/json".into(),
        data: doc.clone(),
    };
    let clean = |v: Validation| matches!(v, Validation::Findings(f) if f.is_empty());

    let mut group = c.benchmark_group(format!("json_schema_{}_bytes", doc.len()));
    group.measurement_time(Duration::from_secs(6));
    for (name, runtime, plugin) in [
        ("wasm/prepared", &prepared_runtime, &prepared),
        ("wasm/unprepared", &plain_runtime, &plain),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let call = runtime.call_validate(
                    plugin.validator().unwrap(),
                    &subject,
                    WitLevel::Standard,
                    &plugin.settings.config_json,
                );
                assert!(clean(rt.block_on(call).outcome.unwrap()));
            })
        });
    }
    let native =
        json_schema::JsonSchema::prepare(parse_config(&config).unwrap()).expect("the schema");
    let native_subject =
        assay_plugin_sdk::Subject::new("customers.json", "application/json", doc.clone());
    group.bench_function("native/prebuilt", |b| {
        b.iter(|| {
            let v = json_schema::JsonSchema::validate(&native, &native_subject, Level::Standard)
                .unwrap();
            assert!(v.findings().is_empty());
        })
    });
    group.finish();
}

fn severity_routes(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let prepared_runtime = runtime(true);
    // A router's config is its `[[router]]` entry's; here the snapshot's.
    let prepared = load(rt, &prepared_runtime, "severity-routes", ROUTES);
    let plain_runtime = runtime(false);
    let plain = load(rt, &plain_runtime, "severity-routes", ROUTES);
    let (alert, native_alert) = common::alert(
        "Latency",
        &[
            ("team", "db"),
            ("env", "prod"),
            ("host", "db-7"),
            ("region", "eu-west-1"),
        ],
    );
    let wit_alert = alert.to_wit();
    use router_severity_routes::SeverityRoutes;
    let delivered =
        |d: &assay_plugin_sdk::RoutingDecision| d.channels().first() == Some(&"db-oncall");

    let mut group = c.benchmark_group("route_one_alert_10_rules");
    group.measurement_time(Duration::from_secs(5));
    for (name, runtime, plugin) in [
        ("wasm/prepared", &prepared_runtime, &prepared),
        ("wasm/unprepared", &plain_runtime, &plain),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let call =
                    runtime.call_route(plugin.router(ROUTES).unwrap(), &wit_alert, ROUTES, None);
                rt.block_on(call).outcome.unwrap()
            })
        });
    }
    let config = SeverityRoutes::prepare(parse_config(ROUTES).unwrap()).unwrap();
    assert!(delivered(
        &SeverityRoutes::route(&config, &native_alert).unwrap()
    ));
    group.bench_function("native/prepared", |b| {
        b.iter(|| SeverityRoutes::route(&config, &native_alert).unwrap())
    });
    group.bench_function("native/prepare_per_decision", |b| {
        b.iter(|| {
            let config = SeverityRoutes::prepare(parse_config(ROUTES).unwrap()).unwrap();
            SeverityRoutes::route(&config, &native_alert).unwrap()
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    json_schema(c, &rt);
    severity_routes(c, &rt);
}

criterion_group!(benches, bench);
criterion_main!(benches);
