//! The router world's host side: a real router component loaded and called
//! through the runtime. (The alert engine that uses the decisions is unit-tested
//! in `src/alerts/engine/tests.rs`, and the whole path end to end in `tests/`.)
//!
//! Needs the test plugins (`cargo xtask test` builds them and sets
//! `ASSAY_TEST_PLUGINS`); without them the test says so and fails.

use std::path::PathBuf;
use std::sync::Arc;

use assay_host::config::HostConfig;
use assay_host::registry::{PluginKind, load_plugin};
use assay_host::runtime::bindings::{Alert, AlertStatus, RoutingDecision, Severity};
use assay_host::runtime::{Runtime, RuntimeOptions};

fn router_wasm() -> PathBuf {
    let dir = std::env::var_os("ASSAY_TEST_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugins")
        });
    let p = dir.join("severity-router.wasm");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test`",
        p.display()
    );
    p
}

fn alert(severity: Severity) -> Alert {
    Alert {
        name: "ProbeFailing".into(),
        status: AlertStatus::Firing,
        severity,
        summary: "api is down".into(),
        description: String::new(),
        labels: vec![("probe".into(), "api".into())],
        annotations: vec![],
        source: "probe:api".into(),
        fingerprint: "f1".into(),
        starts_at_ms: 0,
        ends_at_ms: None,
    }
}

#[tokio::test]
async fn a_router_component_routes_by_severity() {
    let runtime = Arc::new(
        Runtime::new(RuntimeOptions {
            cache_dir: None,
            ..RuntimeOptions::default()
        })
        .unwrap(),
    );
    let plugin = load_plugin(&runtime, &router_wasm(), &HostConfig::default())
        .await
        .unwrap();
    assert_eq!(plugin.kind, PluginKind::Router);
    assert_eq!(plugin.info.name, "severity-router");
    let config = r#"{"pager": "oncall", "chat": "team"}"#;
    assert!(plugin.router(config).is_some(), "pre-linked as a router");
    for (severity, channel) in [(Severity::Critical, "oncall"), (Severity::Warning, "team")] {
        let decision = runtime
            .call_route(
                plugin.router(config).unwrap(),
                &alert(severity),
                config,
                None,
            )
            .await
            .outcome
            .unwrap();
        match decision {
            RoutingDecision::Deliver(d) => {
                assert_eq!(d.to.len(), 1);
                assert_eq!(d.to[0].channel, channel);
                assert!(!d.continue_chain);
            }
            RoutingDecision::Suppress(why) => panic!("suppressed: {why}"),
        }
    }
    // A config the router rejects is that call's error, named.
    let e = runtime
        .call_route(
            plugin.router(r#"{"pagr": 1}"#).unwrap(),
            &alert(Severity::Info),
            r#"{"pagr": 1}"#,
            None,
        )
        .await
        .outcome
        .unwrap_err();
    assert!(e.to_string().contains("pagr"), "{e}");
}
