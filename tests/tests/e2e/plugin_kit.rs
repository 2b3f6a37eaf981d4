//! The authoring kit from a plugin author's seat: `assay plugin new` in each
//! language, into a directory outside the repository, built with that
//! language's own tools and nothing of the source tree, tested with
//! `assay plugin test` on the cases it came with, then served by
//! `assay serve`. And `assay plugin test` on its own: every kind, a failing
//! case's diff and exit 1, JUnit for CI, bad input as exit 2.
//!
//! The projects cover the three kinds: a Python validator, a JavaScript
//! router, a Rust probe, and a Python probe over `assay.http` (the host's
//! `wasi:http`, within its grants).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Env, Run, bin, root};
use crate::server::{Server, Start, json};
use crate::targets::HttpTarget;

/// Runs `cmd` in `dir`, asserting it succeeds; answers its stdout.
fn sh(dir: &Path, cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} in {}: {}\n{}\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `assay plugin new NAME --kind KIND --lang LANG` in a fresh temporary
/// directory (outside the repository); answers (that directory, the project).
fn new_project(name: &str, kind: &str, lang: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    assert!(!dir.path().starts_with(root()));
    let out = sh(
        dir.path(),
        Command::new(bin()).args(["plugin", "new", name, "--kind", kind, "--lang", lang]),
    );
    assert!(
        out.starts_with(&format!("made {name} ({name} {kind}")),
        "{out}"
    );
    let project = dir.path().join(name);
    let manifest = std::fs::read_to_string(project.join("plugin.toml")).unwrap();
    assert!(
        manifest.contains(&format!("kind = \"{kind}\"")),
        "{manifest}"
    );
    (dir, project)
}

/// `assay plugin test WASM ARGS…` in `dir`.
fn plugin_test(dir: &Path, wasm: &Path, args: &[&str]) -> Run {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("ASSAY_CONFIG")
        .env("ASSAY_CACHE_DIR", root().join("target/e2e-cache"))
        .args(["plugin", "test"])
        .arg(wasm)
        .args(args)
        .output()
        .unwrap()
        .into()
}

/// Asserts every sample case of the project passes.
fn sample_cases_pass(project: &Path, wasm: &Path, count: usize) {
    let run = plugin_test(project, wasm, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .ends_with(&format!("cases.toml: {count} passed, 0 failed\n")),
        "{}",
        run.stdout
    );
}

/// Serves `wasm` as plugin `name` and answers `/v1/plugins`' entry for it.
fn served(wasm: &Path, name: &str, sidecar: Option<&str>) -> (Env, Server, Value) {
    let env = Env::new();
    env.plugin(wasm, name, sidecar);
    let server = Server::start(&env, Start::default());
    let v: Value = server.get("/v1/plugins").send().unwrap().json().unwrap();
    let entry = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} not served: {v}\n{}", server.log()))
        .clone();
    (env, server, entry)
}

/// A Python project's unit tests, natively, then its build (`make`); answers the component.
fn python_test_and_build(project: &Path, name: &str) -> PathBuf {
    // The Python toolchain (componentize-py), as `pip install -r
    // requirements.txt` would give it; the SDK is the project's own copy.
    let toolchain = root().join("target/toolchains/python");
    sh(
        project,
        Command::new("python3").args(["-m", "unittest", "--quiet"]),
    );
    sh(project, Command::new("make").env("PYTHONPATH", &toolchain));
    project.join(format!("{name}.wasm"))
}

#[test]
fn python_validator_from_scaffold_to_serve() {
    let (_dir, project) = new_project("line-check", "validator", "python");
    let wasm = python_test_and_build(&project, "line-check");
    sample_cases_pass(&project, &wasm, 5);

    let (_env, server, entry) = served(&wasm, "line-check", Some("[config]\nmax_line = 5\n"));
    assert_eq!(entry["kind"], "validator", "{entry}");
    let (status, report) = server.validate("?name=a.txt&level=standard", "fine\nmuch too long\n");
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["findings"][0]["code"], "text.line_too_long",
        "{report}"
    );
    assert_eq!(report["findings"][0]["path"], "/lines/2", "{report}");
}

#[test]
fn python_http_probe_from_scaffold_to_serve() {
    let (_dir, project) = new_project("web-py", "probe", "python");
    // Natively, `assay.http` is urllib against the unit tests' own server.
    let wasm = python_test_and_build(&project, "web-py");
    // The runner's HTTP fixtures: 200 passes, 503 fails, a slow answer warns.
    sample_cases_pass(&project, &wasm, 3);

    // Served: one instance granted its target, one asking for an authority
    // nobody granted (refused by the host before any connection).
    let target = HttpTarget::start();
    let sidecar = format!(
        "[[probe]]\nname = \"granted\"\ninterval = \"1h\"\nallow_http = [\"{addr}\"]\nconfig = '{{\"url\": \"{url}\"}}'\n\n\
         [[probe]]\nname = \"refused\"\ninterval = \"1h\"\nallow_http = [\"{addr}\"]\nconfig = '{{\"url\": \"http://127.0.0.1:9/\"}}'\n",
        addr = target.addr,
        url = target.url("/health"),
    );
    let (_env, server, entry) = served(&wasm, "web-py", Some(&sidecar));
    assert_eq!(entry["kind"], "probe", "{entry}");
    let (code, run) = json(server.post("/v1/probes/granted/run").send().unwrap());
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["result"]["status"], "pass", "{run}");
    let code_seen = run["result"]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "status_code")
        .unwrap_or_else(|| panic!("no status_code: {run}"))["value"]
        .as_f64();
    assert_eq!(code_seen, Some(200.0), "{run}");
    assert!(target.hits() >= 1);
    let (_, run) = json(server.post("/v1/probes/refused/run").send().unwrap());
    assert_eq!(run["result"]["status"], "fail", "{run}");
    assert!(
        run["result"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("HttpRequestDenied")),
        "{run}"
    );
}

#[test]
fn javascript_router_from_scaffold_to_serve() {
    let (_dir, project) = new_project("pager-routes", "router", "js");
    sh(
        &project,
        Command::new("npm").args(["install", "--no-audit", "--no-fund", "--loglevel=error"]),
    );
    sh(&project, Command::new("npm").args(["test", "--silent"]));
    sh(
        &project,
        Command::new("npm").args(["run", "build", "--silent"]),
    );
    let wasm = project.join("pager-routes.wasm");
    sample_cases_pass(&project, &wasm, 3);

    let (_env, _server, entry) = served(&wasm, "pager-routes", None);
    assert_eq!(entry["kind"], "router", "{entry}");
}

#[test]
fn rust_probe_from_scaffold_to_serve() {
    let (_dir, project) = new_project("web-check", "probe", "rust");
    // A target directory shared across runs: the vendored SDK and its
    // crates.io dependencies compile once.
    let target = root().join("target/plugin-kit-e2e");
    let cargo = || {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.env("CARGO_TARGET_DIR", &target);
        c
    };
    sh(&project, cargo().args(["test", "--quiet"]));
    sh(
        &project,
        cargo().args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"]),
    );
    let wasm = target.join("wasm32-wasip2/release/web_check.wasm");
    sample_cases_pass(&project, &wasm, 3);

    let (_env, server, entry) = served(&wasm, "web-check", None);
    assert_eq!(entry["kind"], "probe", "{entry}");
    assert!(server.log().contains("web-check"), "{}", server.log());
}

/// `assay plugin test` itself, on the example plugins: a failing case is a
/// diff and exit 1 (in text and JUnit), bad cases are exit 2.
#[test]
fn plugin_test_diffs_junit_and_bad_input() {
    let env = Env::new();
    let wasm = crate::common::example_plugin("label-routes");
    let cases = env.subject(
        "cases.toml",
        r#"
config = { label = "team", routes = { db = ["dba"] }, default = ["ops"] }

[[case]]
name = "db pages the DBA"
alert = { name = "Lag", severity = "critical", labels = { team = "db" } }
deliver = ["dba"]

[[case]]
name = "a wrong expectation"
alert = { name = "Disk", labels = { team = "web" } }
deliver = ["dba"]

[[case]]
name = "a refused config is the case's error"
config = { colour = "red" }
alert = { name = "Disk" }
error = "unknown setting: colour"
"#,
    );
    let run = plugin_test(env.work_dir(), &wasm, &["--cases", cases.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "FAIL  a wrong expectation\n      - deliver to dba\n      + deliver to ops\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(": 2 passed, 1 failed\n"),
        "{}",
        run.stdout
    );

    let run = plugin_test(
        env.work_dir(),
        &wasm,
        &["--cases", cases.to_str().unwrap(), "--format", "junit"],
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("<?xml"), "{}", run.stdout);
    assert!(
        run.stdout.contains("tests=\"3\" failures=\"1\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("<failure message=\"- deliver to dba\" type=\"mismatch\">"),
        "{}",
        run.stdout
    );

    // Cases of another kind, a missing expectation, a missing file: exit 2.
    for (text, why) in [
        (
            "[[case]]\nname = \"x\"\ntext = \"a\"\nfindings = []\n",
            "`text` is not for a router's cases",
        ),
        (
            "[[case]]\nname = \"x\"\nalert = { name = \"A\" }\n",
            "say what to expect",
        ),
        (
            "[[case]]\nname = \"x\"\nalert = { name = \"A\" }\ndeliver = []\ncolour = 1\n",
            "unknown field `colour`",
        ),
    ] {
        let bad = env.subject("bad.toml", text);
        let run = plugin_test(env.work_dir(), &wasm, &["--cases", bad.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{text}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(why), "{text}: {}", run.stderr);
    }
    let run = plugin_test(env.work_dir(), &wasm, &["--cases", "missing.toml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read the cases missing.toml"),
        "{}",
        run.stderr
    );

    // A probe's cases: the log-errors example against file fixtures, with a
    // failing expectation on an observation.
    let probe_cases = env.subject(
        "probe.toml",
        r#"
[[case]]
name = "one error line warns"
fixture = { type = "file", content = "INFO a\nERROR b\n" }
config = { path = "${path}" }
status = "warn"
observations = { matches = 1 }

[[case]]
name = "a miscounted observation"
fixture = { type = "file", content = "ERROR a\nERROR b\n" }
config = { path = "${path}", fail_at = 5 }
status = "warn"
observations = { matches = 3 }
"#,
    );
    let run = plugin_test(
        env.work_dir(),
        &crate::common::example_plugin("log-errors"),
        &["--cases", probe_cases.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("FAIL  a miscounted observation\n      - matches = 3\n      + matches = 2\n"),
        "{}",
        run.stdout
    );
}

/// `assay plugin bench`: the figures for each kind, next to the trivial
/// validator, as JSON; a call that fails is an error, not a figure.
#[test]
fn plugin_bench_measures_each_kind() {
    let env = Env::new();
    let bench = |wasm: &Path, args: &[&str]| -> Value {
        let mut all = vec![
            "plugin",
            "bench",
            wasm.to_str().unwrap(),
            "--calls",
            "5",
            "--format",
            "json",
        ];
        all.extend_from_slice(args);
        let run = env.run(&all);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        serde_json::from_str(run.stdout.trim()).unwrap()
    };
    // A validator that prepares and asks for a snapshot: cold and prepared.
    let v = bench(
        &crate::common::shipped("json-schema"),
        &["--plugin-config", r#"{"schema": {"type": "object"}}"#],
    );
    assert_eq!(v["kind"], "validator", "{v}");
    assert_eq!(v["cold"]["calls"], 5, "{v}");
    assert!(v["prepared"]["median_ms"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["compile_ms"].as_f64().unwrap() > 0.0, "{v}");
    assert!(
        v["cold"]["usage"]["memory_bytes"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(v["baseline"]["plugin"], "trivial", "{v}");
    assert!(
        v["baseline"]["cold"]["median_ms"].as_f64().unwrap() > 0.0,
        "{v}"
    );

    // A router, with its alert; a probe, whose log-errors logs nothing but reads a file.
    let r = bench(
        &crate::common::example_plugin("label-routes"),
        &[
            "--plugin-config",
            r#"{"label": "team"}"#,
            "--alert",
            r#"{"name": "A", "labels": {"team": "db"}}"#,
        ],
    );
    assert_eq!(r["kind"], "router", "{r}");
    assert!(
        r["prepared"].is_null() && r["prepared_note"].is_string(),
        "{r}"
    );
    let p = bench(
        &crate::common::example_plugin("log-errors"),
        &["--plugin-config", r#"{"path": "/nope"}"#],
    );
    assert_eq!(p["kind"], "probe", "{p}");
    assert!(p["cold"]["usage"]["wasi"].as_bool().unwrap(), "{p}");

    // A router whose calls fail (its config lacks `label`): nothing to measure.
    let run = env.run(&[
        "plugin",
        "bench",
        crate::common::example_plugin("label-routes")
            .to_str()
            .unwrap(),
        "--calls",
        "3",
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("a call failed") && run.stderr.contains("label"),
        "{}",
        run.stderr
    );
}
