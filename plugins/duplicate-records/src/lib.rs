//! `duplicate-records`: finds repeated records in a JSON array or in JSON Lines.
//!
//! Config: `{"key": ["id", "/contact/email"], "text_field": "/title", "similarity": 0.9}`.
//! A field is a JSON Pointer (`/a/b`) or a top-level member name (`id`).
//!
//! | level | adds | code |
//! |---|---|---|
//! | minimal | records equal as JSON (member order and `1` vs `1.0` ignored) | `dup.exact` |
//! | standard | records with equal values in every `key` field | `dup.key` |
//! | comprehensive | key values equal after Unicode NFC, trimming and lower-casing | `dup.normalized_key` |
//! | full | `text_field` values at least `similarity` alike (normalised Levenshtein) | `dup.near` (warning) |
//!
//! Each later record is reported once, under the most exact code that
//! matches; `path` is the later record (`/<index>`, counting records from 0
//! also in JSON Lines). Records missing a key field take no part in key checks.

use std::collections::HashMap;

use assay_plugin_sdk::{Finding, Level, PluginInfo, PreparedValidator, Subject, Validation};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub key: Vec<String>,
    pub text_field: Option<String>,
    pub similarity: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key: Vec::new(),
            text_field: None,
            similarity: 0.9,
        }
    }
}

pub struct DuplicateRecords;

/// A field reference as a JSON Pointer.
fn pointer_of(field: &str) -> String {
    if field.starts_with('/') {
        field.to_owned()
    } else {
        assay_plugin_sdk::pointer([field])
    }
}

/// Records from a JSON array, or from JSON Lines (blank lines skipped).
/// Also returns each record's line number for JSON Lines, for messages.
fn records(data: &[u8]) -> Result<(Vec<Value>, Option<Vec<usize>>), String> {
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(items)) => return Ok((items, None)),
        Ok(_) => return Err("the subject is JSON but not an array of records".into()),
        Err(_) => {}
    }
    let text = std::str::from_utf8(data)
        .map_err(|_| "the subject is neither JSON nor UTF-8 JSON Lines".to_string())?;
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line)
            .map_err(|e| format!("neither a JSON array nor JSON Lines (line {}: {e})", n + 1))?;
        out.push(v);
        lines.push(n + 1);
    }
    if out.is_empty() {
        return Err("no records".into());
    }
    Ok((out, Some(lines)))
}

fn canonical(v: &Value) -> String {
    serde_json_canonicalizer::to_string(v).unwrap_or_default()
}

fn normalize_text(s: &str) -> String {
    s.nfc().collect::<String>().trim().to_lowercase()
}

fn normalized_key(values: &[&Value]) -> String {
    let norm: Vec<Value> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => Value::String(normalize_text(s)),
            other => (*other).clone(),
        })
        .collect();
    canonical(&Value::Array(norm))
}

/// Prepared: the settings, checked once (a bad `similarity` is refused at load).
impl PreparedValidator for DuplicateRecords {
    type Config = Config;
    type Prepared = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn prepare(config: Config) -> Result<Config, String> {
        if !(0.0..=1.0).contains(&config.similarity) {
            return Err(format!(
                "invalid plugin config: similarity must be between 0 and 1, not {}",
                config.similarity
            ));
        }
        Ok(config)
    }

    fn validate(config: &Config, subject: &Subject, level: Level) -> Result<Validation, String> {
        let (records, lines) = match records(&subject.data) {
            Ok(r) => r,
            Err(why) => return Ok(Validation::NotApplicable(why)),
        };
        let key_ptrs: Vec<String> = config.key.iter().map(|f| pointer_of(f)).collect();
        let text_ptr = config.text_field.as_deref().map(pointer_of);
        let describe = |i: usize| match &lines {
            Some(l) => format!("record {i} (line {})", l[i]),
            None => format!("record {i}"),
        };

        let mut exact: HashMap<String, usize> = HashMap::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut by_norm: HashMap<String, usize> = HashMap::new();
        let mut texts: Vec<(usize, String)> = Vec::new();
        let mut findings = Vec::new();

        for (i, record) in records.iter().enumerate() {
            let path = format!("/{i}");
            let mut found: Option<Finding> = None;

            let c = canonical(record);
            if let Some(&first) = exact.get(&c) {
                found = Some(Finding::error(
                    "dup.exact",
                    format!(
                        "{} is an exact duplicate of {}",
                        describe(i),
                        describe(first)
                    ),
                ));
            }
            exact.entry(c).or_insert(i);

            let key_values: Option<Vec<&Value>> = (!key_ptrs.is_empty()
                && level >= Level::Standard)
                .then(|| {
                    key_ptrs
                        .iter()
                        .map(|p| record.pointer(p))
                        .collect::<Option<Vec<_>>>()
                })
                .flatten();
            if let Some(values) = &key_values {
                let k = canonical(&Value::Array(values.iter().map(|v| (*v).clone()).collect()));
                if let (None, Some(&first)) = (&found, by_key.get(&k)) {
                    found = Some(Finding::error(
                        "dup.key",
                        format!(
                            "{} has the same {} as {}",
                            describe(i),
                            config.key.join(", "),
                            describe(first)
                        ),
                    ));
                }
                by_key.entry(k).or_insert(i);
                if level >= Level::Comprehensive {
                    let n = normalized_key(values);
                    if let (None, Some(&first)) = (&found, by_norm.get(&n)) {
                        found = Some(Finding::error(
                            "dup.normalized_key",
                            format!(
                                "{} has the same {} as {} after normalising case, whitespace and Unicode",
                                describe(i),
                                config.key.join(", "),
                                describe(first)
                            ),
                        ));
                    }
                    by_norm.entry(n).or_insert(i);
                }
            }

            if level >= Level::Full
                && let Some(text) = text_ptr
                    .as_deref()
                    .and_then(|p| record.pointer(p))
                    .and_then(Value::as_str)
            {
                let text = normalize_text(&text.split_whitespace().collect::<Vec<_>>().join(" "));
                if found.is_none()
                    && let Some((first, score)) = most_similar(&texts, &text, config.similarity)
                {
                    found = Some(Finding::warning(
                        "dup.near",
                        format!(
                            "{} is {:.0}% similar to {} in {}",
                            describe(i),
                            score * 100.0,
                            describe(first),
                            config.text_field.as_deref().unwrap_or_default()
                        ),
                    ));
                }
                texts.push((i, text));
            }

            if let Some(f) = found {
                findings.push(f.at(path));
            }
        }
        Ok(Validation::Findings(findings))
    }
}

/// The earliest earlier text at least `threshold` similar to `text`.
fn most_similar(texts: &[(usize, String)], text: &str, threshold: f64) -> Option<(usize, f64)> {
    let len = text.chars().count();
    texts.iter().find_map(|(i, other)| {
        // Edit distance is at least the length difference: skip what cannot reach the threshold.
        let olen = other.chars().count();
        let longest = len.max(olen).max(1) as f64;
        if 1.0 - (len.abs_diff(olen) as f64) / longest < threshold {
            return None;
        }
        let score = strsim::normalized_levenshtein(text, other);
        (score >= threshold).then_some((*i, score))
    })
}

assay_plugin_sdk::export_prepared_validator!(DuplicateRecords);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::parse_config;

    fn codes(doc: &str, level: Level, config: &str) -> Vec<(String, String)> {
        let s = Subject::new("r.json", "application/json", doc);
        DuplicateRecords::validate(
            &DuplicateRecords::prepare(parse_config(config).unwrap()).unwrap(),
            &s,
            level,
        )
        .unwrap()
        .findings()
        .iter()
        .map(|f| (f.code.clone(), f.path.clone().unwrap()))
        .collect()
    }

    const DOC: &str = r#"[
        {"id": 1, "email": "ann@example.com", "title": "Quarterly report for Q3"},
        {"email": "ann@example.com", "title": "Quarterly report for Q3", "id": 1.0},
        {"id": 1, "email": "ann@example.com", "title": "Something else"},
        {"id": 1, "email": " ANN@example.com ", "title": "Other"},
        {"id": 2, "email": "bob@example.com", "title": "Quarterly report for Q3!"}
    ]"#;
    const CFG: &str = r#"{"key": ["id", "/email"], "text_field": "title"}"#;

    #[test]
    fn each_level_adds_its_kind_of_duplicate() {
        let e = ("dup.exact".to_string(), "/1".to_string());
        let k = ("dup.key".to_string(), "/2".to_string());
        let n = ("dup.normalized_key".to_string(), "/3".to_string());
        let near = ("dup.near".to_string(), "/4".to_string());
        assert_eq!(codes(DOC, Level::Minimal, CFG), vec![e.clone()]);
        assert_eq!(codes(DOC, Level::Standard, CFG), vec![e.clone(), k.clone()]);
        assert_eq!(
            codes(DOC, Level::Comprehensive, CFG),
            vec![e.clone(), k.clone(), n.clone()]
        );
        assert_eq!(codes(DOC, Level::Full, CFG), vec![e, k, n, near]);
    }

    #[test]
    fn reads_json_lines_and_counts_records_not_lines() {
        let doc = "{\"a\":1}\n\n{\"a\":1}\n";
        assert_eq!(
            codes(doc, Level::Minimal, "{}"),
            vec![("dup.exact".into(), "/1".into())]
        );
    }

    #[test]
    fn a_single_object_is_not_applicable() {
        let s = Subject::new("r.json", "application/json", "{\"a\":1}");
        let out = DuplicateRecords::validate(&Config::default(), &s, Level::Full).unwrap();
        assert!(matches!(out, Validation::NotApplicable(_)));
    }
}
