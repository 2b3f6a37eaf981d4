//! `duplicate-records` through the binary: each kind of duplicate from its level on, arrays and JSON Lines.

use crate::common::{Env, assert_levels, plugin_run, shipped};

const SIDECAR: &str = "[config]\nkey = [\"email\"]\ntext_field = \"/title\"\nsimilarity = 0.85\n";

#[test]
fn each_kind_of_duplicate_appears_from_its_level_on() {
    let env = Env::new();
    env.plugin(
        &shipped("duplicate-records"),
        "duplicate-records",
        Some(SIDECAR),
    );
    let array = env.subject(
        "records.json",
        r#"[
          {"email": "a@example.com", "title": "Annual report 2025"},
          {"title": "Annual report 2025", "email": "a@example.com"},
          {"email": "a@example.com", "title": "Something else entirely"},
          {"email": "  A@EXAMPLE.com", "title": "Yet another thing"},
          {"email": "e\u0301@example.com", "title": "Accented"},
          {"email": "\u00e9@example.com", "title": "Accented, composed"},
          {"email": "z@example.com", "title": "Annual report 2026"}
        ]"#,
    );
    let lines = env.subject(
        "records.jsonl",
        "{\"email\": \"x@example.com\"}\n\n{\"email\": \"x@example.com\"}\n",
    );
    assert_levels(
        &env,
        &[
            (&array, "dup.exact", "/1", "minimal"),
            (&array, "dup.key", "/2", "standard"),
            (&array, "dup.normalized_key", "/3", "comprehensive"),
            (&array, "dup.normalized_key", "/5", "comprehensive"),
            (&array, "dup.near", "/6", "full"),
            (&lines, "dup.exact", "/1", "minimal"),
        ],
    );
}

#[test]
fn a_single_object_is_not_applicable() {
    let env = Env::new();
    env.plugin(
        &shipped("duplicate-records"),
        "duplicate-records",
        Some(SIDECAR),
    );
    let f = env.subject("one.json", r#"{"email": "a@example.com"}"#);
    let report = &env.validate_json(&[f.to_str().unwrap()]).reports()[0];
    assert_eq!(
        plugin_run(report, "duplicate-records")["outcome"],
        "not_applicable"
    );
}
