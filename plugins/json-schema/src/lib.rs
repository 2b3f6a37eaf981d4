//! `json-schema`: validates a JSON subject against the JSON Schema in the plugin's config.
//!
//! Config (`json-schema.toml`, `[config]` table, or JSON):
//! `{"schema": {…}, "draft": "2020-12" | "7"}`. Without `draft` the schema's
//! `$schema` decides, and draft 2020-12 is the default.
//!
//! | level | behaviour |
//! |---|---|
//! | minimal | the first violation only (fastest) |
//! | standard | every violation |
//! | comprehensive, full | every violation, and `format` is asserted (email, date-time, …), not just annotated |
//!
//! One `schema.violation` (error) per violation, `path` = the instance location.
//! `not_applicable` when no schema is configured or the subject is not JSON.
//! Remote `$ref`s are not fetched: the plugin has no network.

use assay_plugin_sdk::{Finding, Level, PluginInfo, PreparedValidator, Subject, Validation};
use jsonschema::{Draft, Validator};
use serde_json::Value;

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The schema, inline.
    pub schema: Option<Value>,
    /// `"2020-12"` or `"7"`; overrides `$schema`.
    pub draft: Option<String>,
}

pub struct JsonSchema;

/// The schema compiled twice, once per format mode, so that no level
/// compiles anything in a call; `None` when no schema is configured.
pub struct Compiled(Option<(Validator, Validator)>);

fn draft(name: &str) -> Result<Draft, String> {
    match name {
        "2020-12" => Ok(Draft::Draft202012),
        "7" | "07" => Ok(Draft::Draft7),
        other => Err(format!(
            "invalid plugin config: unsupported draft {other:?} (expected \"2020-12\" or \"7\")"
        )),
    }
}

fn compile(schema: &Value, draft: Option<Draft>, formats: bool) -> Result<Validator, String> {
    let mut options = jsonschema::options().should_validate_formats(formats);
    if let Some(d) = draft {
        options = options.with_draft(d);
    }
    options
        .build(schema)
        .map_err(|e| format!("invalid schema in plugin config: {e}"))
}

impl PreparedValidator for JsonSchema {
    type Config = Config;
    type Prepared = Compiled;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn prepare(config: Config) -> Result<Compiled, String> {
        let Some(schema) = config.schema else {
            return Ok(Compiled(None));
        };
        let d = config.draft.as_deref().map(draft).transpose()?;
        Ok(Compiled(Some((
            compile(&schema, d, false)?,
            compile(&schema, d, true)?,
        ))))
    }

    fn validate(
        compiled: &Compiled,
        subject: &Subject,
        level: Level,
    ) -> Result<Validation, String> {
        let Some((annotating, asserting)) = &compiled.0 else {
            return Ok(Validation::NotApplicable("no schema configured".into()));
        };
        let validator = if level >= Level::Comprehensive {
            asserting
        } else {
            annotating
        };
        let instance = match subject.json() {
            Ok(v) => v,
            Err(e) => {
                return Ok(Validation::NotApplicable(format!(
                    "subject is not JSON: {e}"
                )));
            }
        };
        let to_finding = |e: jsonschema::ValidationError<'_>| {
            Finding::error(
                "schema.violation",
                format!("{e} (schema {})", e.schema_path()),
            )
            .at(e.instance_path().to_string())
        };
        let findings = if level == Level::Minimal {
            validator
                .validate(&instance)
                .err()
                .map(to_finding)
                .into_iter()
                .collect()
        } else {
            validator.iter_errors(&instance).map(to_finding).collect()
        };
        Ok(Validation::Findings(findings))
    }
}

assay_plugin_sdk::export_prepared_validator!(JsonSchema);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::parse_config;

    fn run(doc: &str, level: Level, config: &str) -> Validation {
        let s = Subject::new("t.json", "application/json", doc);
        let compiled = JsonSchema::prepare(parse_config(config).unwrap()).unwrap();
        JsonSchema::validate(&compiled, &s, level).unwrap()
    }

    #[test]
    fn reports_each_violation_at_its_instance_location() {
        let cfg = r#"{"schema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"maxLength": 2}}}}"#;
        let out = run(r#"{"a": "x", "b": "long"}"#, Level::Standard, cfg);
        let mut paths: Vec<_> = out
            .findings()
            .iter()
            .map(|f| f.path.clone().unwrap())
            .collect();
        paths.sort();
        assert_eq!(paths, ["/a", "/b"]);
        assert_eq!(
            run(r#"{"a": "x", "b": "long"}"#, Level::Minimal, cfg)
                .findings()
                .len(),
            1
        );
    }

    #[test]
    fn formats_are_asserted_from_comprehensive() {
        let cfg = r#"{"schema": {"format": "email"}}"#;
        assert!(run(r#""nope""#, Level::Standard, cfg).findings().is_empty());
        assert_eq!(
            run(r#""nope""#, Level::Comprehensive, cfg).findings().len(),
            1
        );
    }

    #[test]
    fn is_not_applicable_without_schema_or_json() {
        assert!(matches!(
            run("{}", Level::Full, "{}"),
            Validation::NotApplicable(_)
        ));
        assert!(matches!(
            run("<xml/>", Level::Full, r#"{"schema": true}"#),
            Validation::NotApplicable(_)
        ));
    }

    #[test]
    fn a_broken_schema_is_refused_by_prepare_naming_it() {
        let err = JsonSchema::prepare(parse_config(r#"{"schema": {"type": 12}}"#).unwrap())
            .err()
            .expect("refused");
        assert!(err.contains("invalid schema"), "{err}");
        let err = JsonSchema::prepare(parse_config(r#"{"schema": {}, "draft": "3"}"#).unwrap())
            .err()
            .expect("refused");
        assert!(err.contains("unsupported draft"), "{err}");
    }
}
