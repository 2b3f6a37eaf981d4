//! {{name}}: an assay validator, in Rust.
//!
//! It checks that a text subject is not empty and, from the `standard` level
//! on, that no line is longer than `max_line` characters (config, default
//! 120). Replace the checks with yours; keep the codes stable.

use assay_plugin_sdk::{Finding, Level, PluginInfo, Subject, Validation, Validator};

assay_plugin_sdk::manifest!("../plugin.toml");

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    max_line: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_line: 120 }
    }
}

pub struct Plugin;

impl Validator for Plugin {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn validate(subject: &Subject, level: Level, config: Config) -> Result<Validation, String> {
        if config.max_line == 0 {
            return Err("max_line: expected a positive integer".into());
        }
        let text = String::from_utf8_lossy(&subject.data);
        if text.trim().is_empty() {
            return Ok(Validation::Findings(vec![Finding::error("text.empty", "the subject is empty")]));
        }
        let mut findings = Vec::new();
        if level >= Level::Standard {
            for (i, line) in text.split('\n').enumerate() {
                let chars = line.chars().count();
                if chars > config.max_line {
                    findings.push(
                        Finding::warning(
                            "text.line_too_long",
                            format!("line {} has {chars} characters (max_line {})", i + 1, config.max_line),
                        )
                        .at(format!("/lines/{}", i + 1)),
                    );
                }
            }
        }
        Ok(Validation::Findings(findings))
    }
}

assay_plugin_sdk::export_validator!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, level: Level, max_line: usize) -> Vec<String> {
        let subject = Subject::new("t.txt", "text/plain", text.as_bytes());
        let v = Plugin::validate(&subject, level, Config { max_line }).unwrap();
        v.findings().iter().map(|f| f.code.clone()).collect()
    }

    #[test]
    fn flags_empty_subjects_and_long_lines_from_standard_on() {
        assert!(check("short\nlines\n", Level::Full, 120).is_empty());
        assert_eq!(check(" ", Level::Minimal, 120), ["text.empty"]);
        assert!(check("0123456789", Level::Minimal, 5).is_empty());
        assert_eq!(check("0123456789", Level::Standard, 5), ["text.line_too_long"]);
    }
}
