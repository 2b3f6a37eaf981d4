//! Secrets in the config: a literal, a `${ENV_VAR}` reference resolved when the file is read, or (through a `*_file` key) a file's contents.
//!
//! Every secret value of the configuration is held in a [`Secret`], whose
//! `Debug`, `Display` and `Serialize` all print `<redacted>`: formatting one
//! into a log line, an error or an API answer shows nothing, and the value
//! is reachable only through [`Secret::expose`], which is greppable.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret string: an API token, a channel URL, a header value, a password, an HMAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret kept in a file (a mounted Kubernetes or Docker secret): its
    /// contents, without the trailing line break editors and `echo` add.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value = text.strip_suffix('\n').unwrap_or(&text);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.is_empty() {
            return Err(format!("{} is empty", path.display()));
        }
        Ok(Secret(value.to_owned()))
    }

    /// Resolves each `${NAME}` in `text` through `lookup` (`"${TOKEN}"`,
    /// `"Bearer ${TOKEN}"`); `$${` is a literal `${`; other text is taken
    /// literally. Errors name the variable, never the text around it.
    pub fn resolve(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Secret, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            if rest[..at].ends_with('$') {
                // `$${`: the escape for a literal `${`.
                out.push_str(&rest[..at - 1]);
                out.push_str("${");
                rest = &rest[at + 2..];
                continue;
            }
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                return Err("an unclosed ${ in a secret value (write $${ for a literal ${)".into());
            };
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(
                    "a ${...} in a secret value is not a valid ${ENV_VAR} reference (letters, digits and _ only; write $${ for a literal ${)"
                        .into(),
                );
            }
            match lookup(name) {
                Some(v) if !v.is_empty() => out.push_str(&v),
                Some(_) => return Err(format!("environment variable {name} is empty")),
                None => return Err(format!("environment variable {name} is not set")),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Secret(out))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(super::redact::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(super::redact::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::redact::REDACTED)
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
            Secret::resolve("Bearer ${TOKEN}", env).unwrap().expose(),
            "Bearer s3cret"
        );
        assert_eq!(
            Secret::resolve("p$${x}${TOKEN}", env).unwrap().expose(),
            "p${x}s3cret"
        );
        assert!(
            Secret::resolve("a${TOKEN", env)
                .unwrap_err()
                .contains("unclosed")
        );
        let s = Secret::resolve("x", env).unwrap();
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
    }

    #[test]
    fn a_file_gives_its_contents_without_the_final_newline() {
        let dir = std::env::temp_dir().join(format!("assay-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "s3cret-value\n").unwrap();
        assert_eq!(Secret::from_file(&f).unwrap().expose(), "s3cret-value");
        std::fs::write(&f, "\n").unwrap();
        assert!(Secret::from_file(&f).unwrap_err().contains("is empty"));
        let e = Secret::from_file(&dir.join("missing")).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
