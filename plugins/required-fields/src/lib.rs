//! `required-fields`: configured fields must be present, typed and in range.
//!
//! Config:
//! ```json
//! {"records": false,
//!  "fields": [{"pointer": "/id", "type": "string", "min_length": 1},
//!             {"pointer": "/age", "required": false, "type": "integer", "minimum": 0, "maximum": 150}]}
//! ```
//! `type` is one of `string`, `number`, `integer`, `boolean`, `object`,
//! `array`, `null`. `minimum`/`maximum` bound numbers; `min_length`/`max_length`
//! bound the length of strings (in characters) and arrays. With
//! `"records": true` the subject is a JSON array (or JSON Lines) of records
//! and every rule applies to each record, at `/<index><pointer>`.
//!
//! | level | adds | code |
//! |---|---|---|
//! | minimal | required fields are present | `field.missing` |
//! | standard | present fields have their type | `field.type` |
//! | comprehensive, full | present fields are within their range | `field.range` |
//!
//! `not_applicable` when no field is configured or the subject is not JSON.

use assay_plugin_sdk::{Finding, Level, PluginInfo, PreparedValidator, Subject, Validation};
use serde_json::Value;

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub records: bool,
    pub fields: Vec<Rule>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub pointer: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(rename = "type")]
    pub kind: Option<Kind>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
}

fn yes() -> bool {
    true
}

#[derive(serde::Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Null,
}

impl Kind {
    fn matches(self, v: &Value) -> bool {
        match self {
            Kind::String => v.is_string(),
            Kind::Number => v.is_number(),
            Kind::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Kind::Boolean => v.is_boolean(),
            Kind::Object => v.is_object(),
            Kind::Array => v.is_array(),
            Kind::Null => v.is_null(),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub struct RequiredFields;

fn check_one(doc: &Value, base: &str, rules: &[Rule], level: Level, out: &mut Vec<Finding>) {
    for rule in rules {
        let path = format!("{base}{}", rule.pointer);
        let Some(v) = doc.pointer(&rule.pointer) else {
            if rule.required {
                out.push(
                    Finding::error(
                        "field.missing",
                        format!("required field {} is missing", rule.pointer),
                    )
                    .at(path),
                );
            }
            continue;
        };
        if level >= Level::Standard
            && let Some(kind) = rule.kind
            && !kind.matches(v)
        {
            let want = format!("{kind:?}").to_lowercase();
            out.push(
                Finding::error(
                    "field.type",
                    format!("{} is {}, expected {want}", rule.pointer, type_name(v)),
                )
                .at(path),
            );
            continue;
        }
        if level >= Level::Comprehensive
            && let Some(problem) = out_of_range(rule, v)
        {
            out.push(Finding::error("field.range", format!("{} {problem}", rule.pointer)).at(path));
        }
    }
}

fn out_of_range(rule: &Rule, v: &Value) -> Option<String> {
    if let Some(n) = v.as_f64() {
        if let Some(min) = rule.minimum.filter(|m| n < *m) {
            return Some(format!("is {n}, below the minimum {min}"));
        }
        if let Some(max) = rule.maximum.filter(|m| n > *m) {
            return Some(format!("is {n}, above the maximum {max}"));
        }
    }
    let len = match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        _ => None,
    }?;
    if let Some(min) = rule.min_length.filter(|m| len < *m) {
        return Some(format!("has length {len}, below the minimum {min}"));
    }
    if let Some(max) = rule.max_length.filter(|m| len > *m) {
        return Some(format!("has length {len}, above the maximum {max}"));
    }
    None
}

fn parse_records(data: &[u8]) -> Result<Vec<Value>, String> {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        return match v {
            Value::Array(items) => Ok(items),
            _ => Err("records = true but the subject is not a JSON array".into()),
        };
    }
    let text = std::str::from_utf8(data).map_err(|_| "subject is not UTF-8".to_string())?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| format!("subject is neither JSON nor JSON Lines: {e}"))
        })
        .collect()
}

/// Prepared: the rules, checked once (a bad pointer is refused at load).
impl PreparedValidator for RequiredFields {
    type Config = Config;
    type Prepared = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn prepare(config: Config) -> Result<Config, String> {
        if let Some(bad) = config
            .fields
            .iter()
            .find(|r| !(r.pointer.is_empty() || r.pointer.starts_with('/')))
        {
            return Err(format!(
                "invalid plugin config: pointer {:?} must be empty or start with '/'",
                bad.pointer
            ));
        }
        Ok(config)
    }

    fn validate(config: &Config, subject: &Subject, level: Level) -> Result<Validation, String> {
        if config.fields.is_empty() {
            return Ok(Validation::NotApplicable("no fields configured".into()));
        }
        let mut findings = Vec::new();
        if config.records {
            let records = match parse_records(&subject.data) {
                Ok(r) => r,
                Err(why) => return Ok(Validation::NotApplicable(why)),
            };
            for (i, r) in records.iter().enumerate() {
                check_one(r, &format!("/{i}"), &config.fields, level, &mut findings);
            }
        } else {
            let doc = match subject.json() {
                Ok(d) => d,
                Err(e) => {
                    return Ok(Validation::NotApplicable(format!(
                        "subject is not JSON: {e}"
                    )));
                }
            };
            check_one(&doc, "", &config.fields, level, &mut findings);
        }
        Ok(Validation::Findings(findings))
    }
}

assay_plugin_sdk::export_prepared_validator!(RequiredFields);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::parse_config;

    const CFG: &str = r#"{"fields": [
        {"pointer": "/id", "type": "string"},
        {"pointer": "/age", "type": "integer", "minimum": 0, "maximum": 150},
        {"pointer": "/name", "type": "string", "min_length": 1}
    ]}"#;

    fn codes(doc: &str, level: Level, cfg: &str) -> Vec<(String, String)> {
        let s = Subject::new("d.json", "application/json", doc);
        let rules = RequiredFields::prepare(parse_config(cfg).unwrap()).unwrap();
        RequiredFields::validate(&rules, &s, level)
            .unwrap()
            .findings()
            .iter()
            .map(|f| (f.code.clone(), f.path.clone().unwrap()))
            .collect()
    }

    #[test]
    fn each_level_adds_its_rule() {
        let doc = r#"{"age": 200, "name": 5}"#;
        let missing = ("field.missing".to_string(), "/id".to_string());
        let typ = ("field.type".to_string(), "/name".to_string());
        let range = ("field.range".to_string(), "/age".to_string());
        assert_eq!(codes(doc, Level::Minimal, CFG), vec![missing.clone()]);
        assert_eq!(
            codes(doc, Level::Standard, CFG),
            vec![missing.clone(), typ.clone()]
        );
        assert_eq!(codes(doc, Level::Full, CFG), vec![missing, range, typ]);
    }

    #[test]
    fn a_bad_pointer_is_refused_when_prepared() {
        let cfg = parse_config(r#"{"fields": [{"pointer": "id"}]}"#).unwrap();
        let Err(e) = RequiredFields::prepare(cfg) else {
            panic!("accepted")
        };
        assert!(e.contains("must be empty or start with '/'"), "{e}");
    }

    #[test]
    fn records_mode_prefixes_paths_with_the_record_index() {
        let cfg = r#"{"records": true, "fields": [{"pointer": "/id"}]}"#;
        assert_eq!(
            codes(r#"[{"id": 1}, {}]"#, Level::Minimal, cfg),
            vec![("field.missing".into(), "/1/id".into())]
        );
    }
}
