//! `required-fields` through the binary: missing, type and range rules from their levels on.

use crate::common::{Env, assert_levels, plugin_run, shipped};

const SIDECAR: &str = r#"
[config]
fields = [
  { pointer = "/id", type = "string" },
  { pointer = "/meta/age", required = false, type = "integer", minimum = 0, maximum = 150 },
  { pointer = "/tags", required = false, type = "array", max_length = 2 },
]
"#;

#[test]
fn each_rule_applies_from_its_level_on() {
    let env = Env::new();
    env.plugin(
        &shipped("required-fields"),
        "required-fields",
        Some(SIDECAR),
    );
    let missing = env.subject("missing.json", r#"{"meta": {"age": 3}}"#);
    let typed = env.subject("typed.json", r#"{"id": 7}"#);
    let range = env.subject(
        "range.json",
        r#"{"id": "a", "meta": {"age": -1}, "tags": [1, 2, 3]}"#,
    );
    assert_levels(
        &env,
        &[
            (&missing, "field.missing", "/id", "minimal"),
            (&typed, "field.type", "/id", "standard"),
            (&range, "field.range", "/meta/age", "comprehensive"),
            (&range, "field.range", "/tags", "comprehensive"),
        ],
    );
}

#[test]
fn records_mode_checks_each_record() {
    let env = Env::new();
    env.plugin(
        &shipped("required-fields"),
        "required-fields",
        Some("[config]\nrecords = true\nfields = [{ pointer = \"/id\" }]\n"),
    );
    let f = env.subject("r.jsonl", "{\"id\": 1}\n{\"name\": \"x\"}\n");
    let report = &env.validate_json(&[f.to_str().unwrap()]).reports()[0];
    assert_eq!(
        crate::common::findings(report),
        vec![("field.missing".into(), "/1/id".into())]
    );
}

#[test]
fn without_rules_it_is_not_applicable() {
    let env = Env::new();
    env.plugin(&shipped("required-fields"), "required-fields", None);
    let f = env.subject("a.json", "{}");
    let report = &env.validate_json(&[f.to_str().unwrap()]).reports()[0];
    assert_eq!(
        plugin_run(report, "required-fields")["outcome"],
        "not_applicable"
    );
}
