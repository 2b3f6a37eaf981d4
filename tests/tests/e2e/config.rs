//! The host configuration file and the on-disk cache of compiled plugins.

use crate::common::{Env, test_plugin};

#[test]
fn the_config_file_sets_the_plugin_dir_and_defaults() {
    let env = Env::new();
    env.plugin(
        &test_plugin("misbehave"),
        "slow",
        Some("[config]\nmode = \"loop\"\n"),
    );
    let config = env.subject(
        "assay.toml",
        format!(
            "[plugins]\ndir = {:?}\n[plugin_defaults]\ntimeout_ms = 50\nmemory_limit_mib = 16\n",
            env.plugins_dir()
        ),
    );
    let f = env.subject("a.json", "{}");
    let run = env
        .assay()
        .env_remove("ASSAY_PLUGINS_DIR")
        .args([
            "--config",
            config.to_str().unwrap(),
            "validate",
            "-f",
            "json",
            f.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        report["plugins"][0]["error"],
        "timed out after 50 ms (timeout_ms)"
    );
}

#[test]
fn a_config_file_with_an_unknown_key_is_exit_2_naming_it() {
    let env = Env::new();
    let config = env.subject("assay.toml", "[runtime]\nmax_concurency = 3\n");
    let run = env.run(&["--config", config.to_str().unwrap(), "validate", "a.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("assay.toml"), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown field `max_concurency`"),
        "{}",
        run.stderr
    );
}

#[test]
fn compiled_plugins_are_reused_across_runs_and_a_corrupt_artifact_is_rebuilt() {
    let env = Env::new();
    let cache = tempfile::tempdir().unwrap();
    let plugin = test_plugin("trivial");
    let inspect = || -> serde_json::Value {
        let out = env
            .assay()
            .env("ASSAY_CACHE_DIR", cache.path())
            .args(["plugin", "inspect", "-f", "json", plugin.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(inspect()["compiled_from_cache"], false);
    assert_eq!(inspect()["compiled_from_cache"], true);

    let artifacts: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert!(artifacts[0].to_string_lossy().ends_with(".cwasm"));
    std::fs::write(&artifacts[0], b"garbage").unwrap();
    assert_eq!(
        inspect()["compiled_from_cache"],
        false,
        "a corrupt artifact is recompiled, not trusted"
    );
    assert_eq!(inspect()["compiled_from_cache"], true);
}
