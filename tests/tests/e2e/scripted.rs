//! The plugins written in Python and JavaScript through the binary, like the
//! Rust ones: `csv-check` (a Python validator), `log-errors` (a Python probe)
//! and `label-routes` (a JavaScript router). Each loads, answers, refuses a
//! bad configuration at load, is confined to its grants, and carries the
//! manifest its SDK's build embedded.

use serde_json::Value;

use crate::common::{Env, assert_levels, example_plugin, findings};

const CSV_SIDECAR: &str = r#"
[config]
columns = ["id", "amount"]
required = ["id"]
types = { amount = "number" }
key = "id"
"#;

#[test]
fn python_validator_checks_each_rule_from_its_level_on() {
    let env = Env::new();
    env.plugin(&example_plugin("csv-check"), "csv-check", Some(CSV_SIDECAR));
    let missing = env.subject("missing.csv", "id\n1\n");
    let bad = env.subject("bad.csv", "id,amount\n1,x\n,2\n1,3\n4\n");
    assert_levels(
        &env,
        &[
            (&missing, "csv.column_missing", "/header", "minimal"),
            (&bad, "csv.cell_type", "/rows/1/amount", "comprehensive"),
            (&bad, "csv.cell_empty", "/rows/2/id", "standard"),
            (&bad, "csv.key_duplicate", "/rows/3/id", "full"),
            (&bad, "csv.row_width", "/rows/4", "standard"),
        ],
    );
    let clean = env.subject("clean.csv", "id,amount\n1,2.5\n2,3\n");
    let other = env.subject("data.json", "{}");
    let reports = env
        .validate_json(&[
            "--level",
            "full",
            clean.to_str().unwrap(),
            other.to_str().unwrap(),
        ])
        .reports();
    assert_eq!(findings(&reports[0]), vec![]);
    assert_eq!(reports[0]["verdict"], "pass", "{}", reports[0]);
    assert_eq!(
        reports[1]["plugins"][0]["outcome"], "not_applicable",
        "{}",
        reports[1]
    );
}

#[test]
fn python_validator_refuses_a_bad_config_at_load() {
    let env = Env::new();
    env.plugin(
        &example_plugin("csv-check"),
        "csv-check",
        Some("[config]\ntypes = { amount = \"money\" }\n"),
    );
    let f = env.subject("a.csv", "id\n");
    let run = env.run(&["validate", f.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("csv-check")
            && run
                .stderr
                .contains("'money' is not one of number, integer, date"),
        "{}",
        run.stderr
    );
}

/// `assay probe run` on log-errors, with `args` (grants): (exit code, result).
fn log_probe(config: &str, args: &[&str]) -> (i32, Value) {
    let (run, v) = crate::probe_cli::probe(&example_plugin("log-errors"), config, args);
    (run.code, v)
}

#[test]
fn python_probe_reads_only_what_it_was_granted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "INFO start\nERROR disk full\nINFO ok\n").unwrap();
    let config = format!(r#"{{"path": "{}"}}"#, log.display());
    let grant = ["--allow-read", dir.path().to_str().unwrap()];

    let (code, v) = log_probe(&config, &grant);
    assert_eq!((code, v["status"].as_str()), (1, Some("warn")), "{v}");
    let matches = v["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "matches")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(matches["value"], 1.0, "{v}");

    let strict = format!(r#"{{"path": "{}", "fail_at": 1}}"#, log.display());
    assert_eq!(log_probe(&strict, &grant).0, 2);
    std::fs::write(&log, "INFO all quiet\n").unwrap();
    assert_eq!(log_probe(&config, &grant).1["status"], "pass");

    // Without the grant, the file does not exist for it.
    let (code, v) = log_probe(&config, &[]);
    assert_eq!(code, 2, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("cannot read"),
        "{v}"
    );
    // A bad config is an error of the call, not a verdict on the log.
    let (code, v) = log_probe(r#"{"path": "/x", "pattern": "("}"#, &grant);
    assert_eq!(code, 3, "{v}");
    assert!(v.to_string().contains("not a regular expression"), "{v}");
}

const ROUTING: &str = r#"
[[channel]]
name = "dba-pager"
type = "log"

[[channel]]
name = "ops-chat"
type = "log"

[[router]]
plugin = "label-routes"
[router.config]
label = "team"
routes = { db = ["dba-pager"] }
default = ["ops-chat"]
min_severity = "warning"
"#;

const CASES: &str = r#"
[[case]]
name = "the database team's alerts page the DBA"
[[case.alert]]
name = "ReplicationLag"
severity = "critical"
labels = { team = "db" }
expect = ["dba-pager"]

[[case]]
name = "others go to the ops chat"
[[case.alert]]
name = "DiskFilling"
labels = { team = "web" }
expect = ["ops-chat"]

[[case]]
name = "info is below min_severity"
[[case.alert]]
name = "CertificateRenewed"
severity = "info"
labels = { team = "db" }
expect = "suppressed"
"#;

#[test]
fn javascript_router_routes_by_label_in_route_tests() {
    let env = Env::new();
    env.plugin(&example_plugin("label-routes"), "label-routes", None);
    let config = env.subject("assay.toml", ROUTING);
    let cases = env.subject("cases.toml", CASES);
    let run = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "alert",
        "route-test",
        cases.to_str().unwrap(),
        "--verbose",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.ends_with(": 3 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("suppressed: label-routes: info is below min_severity"),
        "{}",
        run.stdout
    );

    // A config the router refuses fails every case, each saying why.
    let bad = env.subject(
        "bad.toml",
        ROUTING.replace("label = \"team\"", "colour = \"red\""),
    );
    let run = env.run(&[
        "--config",
        bad.to_str().unwrap(),
        "alert",
        "route-test",
        cases.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("label-routes: failed (unknown setting: colour)"),
        "{}",
        run.stdout
    );
}

#[test]
fn each_carries_its_manifest() {
    let env = Env::new();
    for (name, kind, grants) in [
        ("csv-check", "validator", 0),
        ("log-errors", "probe", 1),
        ("label-routes", "router", 0),
    ] {
        let run = env.run(&[
            "plugin",
            "inspect",
            "--format",
            "json",
            example_plugin(name).to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(v["kind"], kind, "{v}");
        assert_eq!(v["manifest"]["name"], name, "{v}");
        assert_eq!(v["manifest"]["contract"], "0.1.0", "{v}");
        assert_eq!(
            v["manifest"]["grant"].as_array().unwrap().len(),
            grants,
            "{v}"
        );
        assert_eq!(v["info"]["name"], name, "{v}");
    }
    let run = env.run(&[
        "plugin",
        "inspect",
        example_plugin("log-errors").to_str().unwrap(),
    ]);
    assert!(
        run.stdout
            .contains("read /var/log: reads the end of the log file named by `path`"),
        "{}",
        run.stdout
    );
}
