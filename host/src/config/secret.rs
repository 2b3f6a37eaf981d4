//! Secrets in the config: a literal, or a `${ENV_VAR}` reference resolved when the file is read.
//!
//! The value never appears in `Debug` output, logs or `GET /v1/config`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret string (an API token, later an SMTP password).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Resolves `${NAME}` through `lookup`; any other text is taken literally.
    pub fn resolve(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Secret, String> {
        let Some(name) = text
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
        else {
            return Ok(Secret(text.to_owned()));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{text:?} is not a valid ${{ENV_VAR}} reference (letters, digits and _ only)"
            ));
        }
        match lookup(name) {
            Some(v) if !v.is_empty() => Ok(Secret(v)),
            Some(_) => Err(format!("environment variable {name} is empty")),
            None => Err(format!("environment variable {name} is not set")),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Secret::resolve(&text, |n| std::env::var(n).ok()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_resolve_and_literals_stay() {
        assert_eq!(Secret::resolve("${TOKEN}", env).unwrap().expose(), "s3cret");
        assert_eq!(Secret::resolve("plain", env).unwrap().expose(), "plain");
        assert!(
            Secret::resolve("${NOPE}", env)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(
            Secret::resolve("${EMPTY}", env)
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            Secret::resolve("${A-B}", env)
                .unwrap_err()
                .contains("not a valid")
        );
        assert_eq!(
            format!("{:?}", Secret::resolve("x", env).unwrap()),
            "Secret(***)"
        );
    }
}
