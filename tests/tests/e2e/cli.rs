//! The command line: exit codes, formats, stdin, plugin selection, load errors and `plugin inspect`.

use std::io::Write;
use std::process::Stdio;

use crate::common::{Env, shipped, test_plugin};

fn env_with_two() -> Env {
    let env = Env::new();
    env.plugin(&shipped("hash-chain"), "hash-chain", None);
    env.plugin(&test_plugin("trivial"), "trivial", None);
    env
}

#[test]
fn json_format_prints_one_report_per_subject_in_the_documented_shape() {
    let env = env_with_two();
    let a = env.subject("a.json", r#"{"chain": "c", "blocks": []}"#);
    let b = env.subject("b.json", "nope");
    let run = env.validate_json(&["--level", "full", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(run.code, 1, "b is malformed");
    let reports = run.reports();
    assert_eq!(reports.len(), 2);
    let r = &reports[0];
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "subject",
        "digest",
        "level",
        "verdict",
        "findings",
        "plugins",
        "cached",
        "duration_us",
    ] {
        assert!(keys.contains(&k), "missing {k}: {r}");
    }
    assert_eq!(r["level"], "full");
    assert_eq!(r["verdict"], "pass");
    assert!(r["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(r["digest"].as_str().unwrap().len(), "sha256:".len() + 64);
    let run_keys: Vec<&str> = r["plugins"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in ["name", "version", "outcome", "duration_us", "error"] {
        assert!(run_keys.contains(&k), "missing plugins[].{k}: {r}");
    }
    let f = &reports[1]["findings"][0];
    assert_eq!(f["plugin"], "hash-chain");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["code"], "chain.malformed");
    assert_eq!(f["path"], "");
    assert_eq!(reports[1]["verdict"], "fail");
}

#[test]
fn stdin_is_read_for_a_dash() {
    let env = env_with_two();
    let mut child = env
        .assay()
        .args(["validate", "-f", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"not json").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["subject"], "-");
    assert_eq!(report["verdict"], "fail");
}

#[test]
fn plugin_flag_restricts_and_an_unknown_name_is_a_usage_error() {
    let env = env_with_two();
    let f = env.subject("a.json", "x");
    let run = env.validate_json(&["--plugin", "trivial", f.to_str().unwrap()]);
    let r = &run.reports()[0];
    assert_eq!(r["plugins"].as_array().unwrap().len(), 1);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(run.code, 0);

    let bad = env.run(&["validate", "--plugin", "nope", f.to_str().unwrap()]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("no validator named \"nope\""),
        "{}",
        bad.stderr
    );
    assert!(bad.stderr.contains("hash-chain, trivial"), "{}", bad.stderr);
}

#[test]
fn min_level_keeps_a_plugin_out_of_shallower_levels() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    env.plugin(
        &test_plugin("trivial"),
        "deep",
        Some("min_level = \"comprehensive\"\n"),
    );
    let f = env.subject("a.json", "{}");
    let names = |level: &str| -> Vec<String> {
        env.validate_json(&["--level", level, f.to_str().unwrap()])
            .reports()[0]["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("standard"), ["trivial"]);
    assert_eq!(names("comprehensive"), ["deep", "trivial"]);
}

#[test]
fn subjects_globs_scope_a_plugin() {
    let env = Env::new();
    env.plugin(
        &shipped("hash-chain"),
        "hash-chain",
        Some("subjects = [\"*ledger*\"]\n"),
    );
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let other = env.subject("people.json", "[]");
    let r = &env.validate_json(&[other.to_str().unwrap()]).reports()[0];
    assert_eq!(r["plugins"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["verdict"], "pass");
}

#[test]
fn the_same_subject_twice_is_served_from_the_cache() {
    let env = env_with_two();
    let f = env.subject("a.json", r#"{"blocks": []}"#);
    let reports = env
        .validate_json(&[f.to_str().unwrap(), f.to_str().unwrap()])
        .reports();
    assert_eq!(reports[0]["cached"], false);
    assert_eq!(reports[1]["cached"], true);
    assert_eq!(reports[0]["findings"], reports[1]["findings"]);
}

#[test]
fn text_format_is_a_readable_summary() {
    let env = env_with_two();
    let a = env.subject("good.json", r#"{"blocks": []}"#);
    let b = env.subject("bad.json", "{}");
    let run = env.run(&["validate", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("good.json: pass (level standard, 2 plugins, 0 findings"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("bad.json: FAIL"), "{}", run.stdout);
    assert!(run.stdout.contains("chain.malformed"), "{}", run.stdout);
    assert!(
        run.stdout.contains("2 subjects: 1 pass, 1 fail"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unreadable_subject_is_exit_2_naming_it_and_the_others_are_still_reported() {
    let env = env_with_two();
    let good = env.subject("good.json", r#"{"blocks": []}"#);
    let run = env.run(&[
        "validate",
        "-f",
        "json",
        "missing.json",
        good.to_str().unwrap(),
        ".",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read missing.json"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cannot read ."), "{}", run.stderr);
    assert_eq!(run.reports().len(), 1);
}

#[test]
fn a_missing_plugin_dir_is_exit_2_naming_it() {
    let env = Env::new();
    let f = env.subject("a.json", "{}");
    let run = env
        .assay()
        .env("ASSAY_PLUGINS_DIR", "/nonexistent/plugins")
        .args(["validate", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("plugin directory /nonexistent/plugins does not exist"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn an_empty_plugin_dir_is_exit_2() {
    let env = Env::new();
    let f = env.subject("a.json", "{}");
    let run = env.run(&["validate", f.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no validator plugins in"),
        "{}",
        run.stderr
    );
}

/// An empty component (`\0asm`, component-model version 0xd, layer 1).
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
/// An empty core module.
const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

#[test]
fn non_plugin_wasm_files_are_exit_2_naming_the_file() {
    for (name, bytes, expect) in [
        (
            "core.wasm",
            CORE_MODULE,
            "not a valid WebAssembly component",
        ),
        (
            "text.wasm",
            b"hello".as_slice(),
            "not a valid WebAssembly component",
        ),
        (
            "empty.wasm",
            EMPTY_COMPONENT,
            "matches no assay plugin world: it exports nothing",
        ),
    ] {
        let env = Env::new();
        env.plugin(&test_plugin("trivial"), "trivial", None);
        std::fs::write(env.plugins_dir().join(name), bytes).unwrap();
        let f = env.subject("a.json", "{}");
        let run = env.run(&["validate", f.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{name}");
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty());

        let inspect = env.run(&[
            "plugin",
            "inspect",
            env.plugins_dir().join(name).to_str().unwrap(),
        ]);
        assert_eq!(inspect.code, 2, "{name}");
        assert!(
            inspect.stderr.contains(expect),
            "{name}: {}",
            inspect.stderr
        );
    }
}

#[test]
fn a_sidecar_with_an_unknown_key_is_exit_2_naming_file_and_key() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", Some("timeout = 5\n"));
    let f = env.subject("a.json", "{}");
    let run = env.run(&["validate", f.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("trivial.toml"), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown field `timeout`"),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_are_exit_2() {
    let env = env_with_two();
    assert_eq!(env.run(&["validate", "--level", "deep", "a.json"]).code, 2);
    assert_eq!(env.run(&["validate"]).code, 2);
    assert_eq!(env.run(&["frobnicate"]).code, 2);
    let help = env.run(&["validate", "--help"]);
    assert_eq!(help.code, 0);
    for flag in [
        "--level",
        "--plugin",
        "--plugins-dir",
        "--format",
        "--fail-on",
    ] {
        assert!(help.stdout.contains(flag), "--help does not explain {flag}");
    }
}

#[test]
fn inspect_shows_kind_info_and_interfaces() {
    let env = Env::new();
    let run = env.run(&[
        "plugin",
        "inspect",
        "-f",
        "json",
        shipped("hash-chain").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["kind"], "validator");
    assert_eq!(v["info"]["name"], "hash-chain");
    assert!(v["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(v["size"].as_u64().unwrap() > 1000);
    assert!(
        v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "assay:plugin/validation@0.1.0")
    );
    assert!(
        v["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("wasi:"))
    );

    let text = env.run(&["plugin", "inspect", shipped("hash-chain").to_str().unwrap()]);
    assert!(
        text.stdout.contains("kind:        validator"),
        "{}",
        text.stdout
    );
}

#[test]
fn inspect_tells_the_three_kinds_apart() {
    let env = Env::new();
    for (plugin, kind) in [
        ("trivial", "validator"),
        ("clock-probe", "probe"),
        ("severity-router", "router"),
    ] {
        let run = env.run(&[
            "plugin",
            "inspect",
            "-f",
            "json",
            test_plugin(plugin).to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{plugin}: {}", run.stderr);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["kind"], kind, "{plugin}");
        // Every kind's info() is called in its own world.
        assert_eq!(v["info"]["name"], plugin, "{v}");
    }
}

#[test]
fn validate_runs_only_the_validators_of_a_mixed_directory() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    env.plugin(&test_plugin("clock-probe"), "clock", None);
    env.plugin(&test_plugin("severity-router"), "route", None);
    let f = env.subject("a.json", "{}");
    let r = &env.validate_json(&[f.to_str().unwrap()]).reports()[0];
    let names: Vec<&str> = r["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["trivial"]);
}
