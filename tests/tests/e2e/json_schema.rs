//! `json-schema` through the binary: violations at every level, formats from comprehensive, not-applicable cases.

use crate::common::{Env, assert_levels, plugin_run, shipped};

const SIDECAR: &str = r#"
[config.schema]
type = "object"
required = ["id"]
properties.id = { type = "string" }
properties.email = { type = "string", format = "email" }
"#;

#[test]
fn violations_are_reported_at_every_level_and_formats_from_comprehensive() {
    let env = Env::new();
    env.plugin(&shipped("json-schema"), "json-schema", Some(SIDECAR));
    let wrong_type = env.subject("wrong-type.json", r#"{"id": 5}"#);
    let missing = env.subject("missing.json", r#"{"email": "a@example.com"}"#);
    let bad_email = env.subject("bad-email.json", r#"{"id": "x", "email": "not an email"}"#);
    assert_levels(
        &env,
        &[
            (&wrong_type, "schema.violation", "/id", "minimal"),
            (&missing, "schema.violation", "", "minimal"),
            (&bad_email, "schema.violation", "/email", "comprehensive"),
        ],
    );
}

#[test]
fn minimal_reports_the_first_violation_and_standard_all() {
    let env = Env::new();
    env.plugin(&shipped("json-schema"), "json-schema", Some(SIDECAR));
    let f = env.subject("two.json", r#"{"email": 3}"#);
    let f = f.to_str().unwrap();
    let count = |level: &str| {
        env.validate_json(&["--level", level, f]).reports()[0]["findings"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("minimal"), 1);
    assert_eq!(count("standard"), 2);
}

#[test]
fn is_not_applicable_without_a_schema_or_to_non_json() {
    let env = Env::new();
    env.plugin(&shipped("json-schema"), "no-schema", None);
    env.plugin(&shipped("json-schema"), "json-schema", Some(SIDECAR));
    let f = env.subject("doc.txt", "plain text");
    let report = &env
        .validate_json(&["--level", "full", f.to_str().unwrap()])
        .reports()[0];
    assert_eq!(plugin_run(report, "no-schema")["outcome"], "not_applicable");
    assert_eq!(
        plugin_run(report, "json-schema")["outcome"],
        "not_applicable"
    );
    assert!(
        plugin_run(report, "json-schema")["error"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert_eq!(report["verdict"], "pass");
}

#[test]
fn an_invalid_schema_is_refused_at_load_naming_the_plugin() {
    let env = Env::new();
    env.plugin(
        &shipped("json-schema"),
        "json-schema",
        Some("[config]\nschema = { type = 12 }\n"),
    );
    let f = env.subject("a.json", "{}");
    // `prepare` compiles the schema when the plugin loads: a broken one is a
    // load error (exit 2) naming the file and the problem, before any subject.
    let run = env.run(&["validate", "--format", "json", f.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("json-schema")
            && run.stderr.contains("refuses its config")
            && run.stderr.contains("invalid schema"),
        "{}",
        run.stderr
    );
}

/// In `assay serve`: the schema is checked by `prepare` at load and on every
/// config change; a broken one is refused, naming the plugin, and the
/// previous version keeps serving.
#[test]
fn a_broken_schema_in_a_config_change_leaves_the_previous_one_serving() {
    let env = Env::new();
    let sidecar = env.plugins_dir().join("json-schema.toml");
    env.plugin(
        &shipped("json-schema"),
        "json-schema",
        Some("[config]\nschema = { type = \"object\", required = [\"id\"] }\n"),
    );
    let server = crate::server::Server::with_config(&env, "");
    let (_, p) = crate::server::json(server.get("/v1/plugins/json-schema").send().unwrap());
    assert_eq!(p["state"], "loaded", "{p}");
    assert_eq!(p["prepares"], true, "{p}");
    let verdict = |server: &crate::server::Server| {
        let (status, v) = server.validate("?plugin=json-schema", "{}");
        assert_eq!(status, 200, "{v}");
        v["verdict"].as_str().unwrap().to_owned()
    };
    assert_eq!(verdict(&server), "fail");

    std::fs::write(&sidecar, "[config]\nschema = { type = 12 }\n").unwrap();
    let p = crate::server::eventually(20, "the refused config", || {
        let (_, p) = crate::server::json(server.get("/v1/plugins/json-schema").send().unwrap());
        (p["state"] == "failed").then_some(p)
    });
    let err = p["last_error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}"));
    assert!(
        err.contains("refuses its config") && err.contains("invalid schema"),
        "{p}"
    );
    assert_eq!(p["serving"]["prepares"], true, "{p}");
    // The old schema still answers.
    assert_eq!(verdict(&server), "fail");

    std::fs::write(&sidecar, "[config]\nschema = { type = \"object\" }\n").unwrap();
    crate::server::eventually(20, "the fixed config", || {
        let (_, p) = crate::server::json(server.get("/v1/plugins/json-schema").send().unwrap());
        (p["state"] == "loaded").then_some(())
    });
    assert_eq!(verdict(&server), "pass");
}
