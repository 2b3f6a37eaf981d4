//! Kept instances: a stateless plugin's instance serves its next calls where
//! the operator allows it, and a breach ends it.
//!
//! The plugin is the `misbehave` test validator in `count` mode (it counts
//! its calls in a static, so "call 2" means the instance was kept) with an
//! `assay:manifest` section appended that says `stateless = true` or not.

use serde_json::Value;

use crate::common::{Env, test_plugin, with_manifest};
use crate::server::Server;

/// Deploys `misbehave` as `name`, counting, with `stateless` in its manifest.
fn counter(env: &Env, name: &str, stateless: bool, sidecar: &str) {
    let manifest = format!(
        "name = \"misbehave\"\nversion = \"0.1.0\"\nkind = \"validator\"\nstateless = {stateless}\n"
    );
    let bytes = with_manifest(&std::fs::read(test_plugin("misbehave")).unwrap(), &manifest);
    std::fs::write(env.plugins_dir().join(format!("{name}.wasm")), bytes).unwrap();
    std::fs::write(
        env.plugins_dir().join(format!("{name}.toml")),
        format!("{sidecar}\n[config]\nmode = \"count\"\n"),
    )
    .unwrap();
}

/// What `plugin` answered for `body`: its finding's message, or its error.
fn answer(s: &Server, plugin: &str, body: &str) -> String {
    let (status, report) = s.validate(&format!("?plugin={plugin}&name=s.json"), body.to_owned());
    assert_eq!(status, 200, "{report}");
    let result: &Value = &report["plugins"][0];
    match result["error"].as_str() {
        Some(e) => format!("error: {e}"),
        None => report["findings"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no finding: {report}"))
            .to_owned(),
    }
}

#[test]
fn a_stateless_plugins_instance_serves_its_next_calls_until_a_breach() {
    let env = Env::new();
    let reuse = "reuse_instances = true";
    counter(
        &env,
        "kept",
        true,
        &format!("{reuse}\nmemory_limit_mib = 32\ntimeout_ms = 1000"),
    );
    // Stateless, but the operator did not allow reuse (the default).
    counter(&env, "not-allowed", true, "");
    // Allowed, but its manifest does not say it is stateless.
    counter(&env, "stateful", false, reuse);
    let s = Server::with_config(&env, "");

    let (_, plugins) = crate::server::json(s.get("/v1/plugins/kept").send().unwrap());
    assert_eq!(plugins["reuse_instances"], true, "{plugins}");

    // Each body differs: the server does not answer a repeat from its cache.
    let mut n = 0;
    let mut call = |plugin: &str, what: &str| {
        n += 1;
        let body = match what {
            "count" => format!("[{n}]"),
            other => format!("\"{other}\""),
        };
        answer(&s, plugin, &body)
    };
    assert_eq!(call("kept", "count"), "call 1 of this instance");
    assert_eq!(call("kept", "count"), "call 2 of this instance");
    // The guest's own error is a clean end: the instance is kept.
    assert!(call("kept", "fail").contains("failing on purpose"));
    assert_eq!(call("kept", "count"), "call 3 of this instance");
    // A trap, a memory breach and a timeout each end the instance.
    for breach in ["trap", "hog", "loop"] {
        let e = call("kept", breach);
        assert!(e.starts_with("error: "), "{breach}: {e}");
        assert_eq!(
            call("kept", "count"),
            "call 1 of this instance",
            "after {breach}"
        );
        assert_eq!(call("kept", "count"), "call 2 of this instance");
    }

    // Without the operator's `reuse_instances = true`, or the manifest's
    // `stateless = true`: a fresh instance every call.
    for plugin in ["not-allowed", "stateful"] {
        for _ in 0..3 {
            assert_eq!(call(plugin, "count"), "call 1 of this instance", "{plugin}");
        }
        let (_, p) = crate::server::json(s.get(&format!("/v1/plugins/{plugin}")).send().unwrap());
        assert_eq!(p["reuse_instances"], false, "{p}");
    }
}
