//! The JSON Schema Test Suite (`../shared/conformance/json-schema-test-suite`), draft 2020-12
//! and draft 7, run end to end: each test group's schema becomes the `json-schema` plugin's
//! config, each test's data a subject, validated by the real binary at level `standard`
//! (where, as the suite's required tests expect, `format` is an annotation only).
//!
//! Skipped, with the reason: groups that `$ref` remote documents served by the
//! suite's own HTTP server (`localhost:1234`), which a sandboxed plugin cannot reach.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::common::{Env, shipped};

fn suite_dir() -> Option<PathBuf> {
    let dir = crate::common::root().join("../shared/conformance/json-schema-test-suite/tests");
    dir.is_dir().then_some(dir)
}

struct Group {
    file: String,
    description: String,
    schema: Value,
    tests: Vec<(String, Value, bool)>,
}

fn groups(dir: &Path) -> Vec<Group> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        for g in doc.as_array().unwrap() {
            out.push(Group {
                file: name.clone(),
                description: g["description"].as_str().unwrap().to_owned(),
                schema: g["schema"].clone(),
                tests: g["tests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        (
                            t["description"].as_str().unwrap().to_owned(),
                            t["data"].clone(),
                            t["valid"].as_bool().unwrap(),
                        )
                    })
                    .collect(),
            });
        }
    }
    out
}

fn needs_remote(g: &Group) -> bool {
    g.file == "refRemote.json" || g.schema.to_string().contains("localhost:1234")
}

/// Runs one draft; returns (passed, failures, skipped).
fn run_draft(draft_dir: &str, draft: &str) -> (usize, Vec<String>, usize) {
    let Some(root) = suite_dir() else {
        panic!(
            "the conformance suite is missing: expected ../shared/conformance next to the repository"
        );
    };
    let groups = groups(&root.join(draft_dir));
    let skipped: usize = groups
        .iter()
        .filter(|g| needs_remote(g))
        .map(|g| g.tests.len())
        .sum();
    let groups: Vec<&Group> = groups.iter().filter(|g| !needs_remote(g)).collect();
    let next = AtomicUsize::new(0);
    let passed = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(g) = groups.get(i) else { break };
                    let env = Env::new();
                    env.plugin(
                        &shipped("json-schema"),
                        "json-schema",
                        Some("config_file = \"suite-config.json\"\n"),
                    );
                    let config = json!({"schema": g.schema, "draft": draft});
                    std::fs::write(
                        env.plugins_dir().join("suite-config.json"),
                        config.to_string(),
                    )
                    .unwrap();
                    let files: Vec<String> = g
                        .tests
                        .iter()
                        .enumerate()
                        .map(|(j, (_, data, _))| {
                            env.subject(&format!("t{j}.json"), data.to_string())
                                .display()
                                .to_string()
                        })
                        .collect();
                    let mut args = vec!["--level", "standard"];
                    args.extend(files.iter().map(String::as_str));
                    let reports = env.validate_json(&args).reports();
                    for ((desc, data, valid), report) in g.tests.iter().zip(&reports) {
                        let ran = report["plugins"][0]["outcome"] == "ok";
                        let clean = report["findings"].as_array().unwrap().is_empty();
                        if ran && clean == *valid {
                            passed.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failures.lock().unwrap().push(format!(
                                "{} / {} / {desc}: expected {}, data {data}; report {report}",
                                g.file,
                                g.description,
                                if *valid { "valid" } else { "invalid" }
                            ));
                        }
                    }
                }
            });
        }
    });
    (passed.into_inner(), failures.into_inner().unwrap(), skipped)
}

fn check(draft_dir: &str, draft: &str) {
    let (passed, failures, skipped) = run_draft(draft_dir, draft);
    eprintln!(
        "JSON Schema Test Suite {draft_dir}: {passed} passed, {} failed, {skipped} skipped (remote refs)",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(passed > 500, "suspiciously few tests ran: {passed}");
}

#[test]
fn json_schema_test_suite_draft2020_12() {
    check("draft2020-12", "2020-12");
}

#[test]
fn json_schema_test_suite_draft7() {
    check("draft7", "7");
}
