//! Label matchers in Alertmanager's syntax (`name="v"`, `name!="v"`,
//! `name=~"re"`, `name!~"re"`; quotes optional), shared by the host (silences,
//! inhibition) and router plugins, so both read a matcher the same way.
//!
//! Regular expressions are anchored at both ends, as in Alertmanager: `=~"api"`
//! matches `api`, not `api-2`. A label that is absent matches as the empty string.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Debug, Clone)]
/// One label matcher.
pub struct Matcher {
    pub name: String,
    op: Op,
    value: String,
    re: Option<regex_lite::Regex>,
}

impl Matcher {
    /// Parses one matcher; the error names what is wrong with it.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let t = text.trim();
        let pos = t.find(['=', '!']).ok_or_else(|| {
            format!("{text:?} is not a matcher (expected name=\"value\", !=, =~ or !~)")
        })?;
        let name = t[..pos].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{text:?}: the label name must be letters, digits and _"
            ));
        }
        let rest = &t[pos..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Eq, v)
        } else {
            return Err(format!("{text:?}: expected =, !=, =~ or !~ after {name:?}"));
        };
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(v) => v
                .strip_suffix('"')
                .ok_or_else(|| format!("{text:?}: the value's closing quote is missing"))?
                .replace("\\\"", "\""),
            None => value.to_owned(),
        };
        let re = match op {
            Op::Re | Op::NotRe => Some(
                regex_lite::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{text:?}: bad regular expression: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value,
            re,
        })
    }

    /// A matcher from its parts (Alertmanager API v2's `name`, `value`,
    /// `isRegex`, `isEqual`); the value is taken as it is, unquoted.
    pub fn from_parts(
        name: &str,
        value: &str,
        is_regex: bool,
        is_equal: bool,
    ) -> Result<Matcher, String> {
        let op = match (is_regex, is_equal) {
            (false, true) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (true, false) => "!~",
        };
        let mut m = Matcher::parse(&format!("{name}{op}\"\""))?;
        if is_regex {
            m.re = Some(
                regex_lite::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{name}{op}{value:?}: bad regular expression: {e}"))?,
            );
        }
        m.value = value.to_owned();
        Ok(m)
    }

    /// The value compared with (a regex's source, unanchored).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// `=~` or `!~`.
    pub fn is_regex(&self) -> bool {
        matches!(self.op, Op::Re | Op::NotRe)
    }

    /// `=` or `=~` (not negated).
    pub fn is_equal(&self) -> bool {
        matches!(self.op, Op::Eq | Op::Re)
    }

    pub fn parse_all(texts: &[String]) -> Result<Vec<Matcher>, String> {
        texts.iter().map(|t| Matcher::parse(t)).collect()
    }

    /// Whether the labels match; an absent label matches as the empty string.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|name| labels.get(name).map(String::as_str))
    }

    /// [`Matcher::matches`] over any label lookup (e.g. a list of pairs).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let v = get(&self.name).unwrap_or("");
        match (self.op, &self.re) {
            (Op::Eq, _) => v == self.value,
            (Op::Ne, _) => v != self.value,
            (Op::Re, Some(re)) => re.is_match(v),
            (Op::NotRe, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        };
        // Quoted as `parse` reads it back: only `"` is escaped (`{:?}` would
        // double every backslash of a regex such as `\d+`).
        write!(
            f,
            "{}{op}\"{}\"",
            self.name,
            self.value.replace('"', "\\\"")
        )
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_back_as_the_same_matcher() {
        for text in [
            r#"job=~"api\d+""#,
            r#"msg="say \"hi\"""#,
            r#"a!~"x|y""#,
            r#"b!="""#,
        ] {
            let m = Matcher::parse(text).unwrap();
            let again = Matcher::parse(&m.to_string()).unwrap();
            assert_eq!(again.to_string(), m.to_string(), "{text}");
            assert_eq!(again.value(), m.value(), "{text}");
        }
        let stored = Matcher::parse(r#"job=~"api\d+""#).unwrap().to_string();
        assert_eq!(stored, r#"job=~"api\d+""#);
        assert!(
            Matcher::parse(&stored)
                .unwrap()
                .matches(&labels(&[("job", "api12")]))
        );
        let parts = Matcher::from_parts("job", r"api\d+", true, false).unwrap();
        assert_eq!(parts.to_string(), r#"job!~"api\d+""#);
        assert!(!parts.matches(&labels(&[("job", "api7")])));
        assert!(parts.is_regex() && !parts.is_equal());
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_four_operators_anchored_and_absent_labels() {
        let l = labels(&[("probe", "api-2"), ("severity", "critical")]);
        assert!(
            Matcher::parse(r#"severity="critical""#)
                .unwrap()
                .matches(&l)
        );
        assert!(Matcher::parse("severity = critical").unwrap().matches(&l));
        assert!(Matcher::parse(r#"probe!="api""#).unwrap().matches(&l));
        assert!(!Matcher::parse(r#"probe=~"api""#).unwrap().matches(&l));
        assert!(Matcher::parse(r#"probe=~"api.*""#).unwrap().matches(&l));
        assert!(Matcher::parse(r#"probe!~"db.*""#).unwrap().matches(&l));
        assert!(Matcher::parse(r#"team="""#).unwrap().matches(&l));
        assert!(!Matcher::parse(r#"team!="""#).unwrap().matches(&l));
        assert_eq!(
            Matcher::parse(r#"a=~"x|y""#).unwrap().to_string(),
            r#"a=~"x|y""#
        );
    }

    #[test]
    fn bad_matchers_are_named() {
        for (text, says) in [
            ("severity", "not a matcher"),
            ("=x", "label name"),
            (r#"a="x"#, "closing quote"),
            (r#"a=~"(""#, "bad regular expression"),
        ] {
            let e = Matcher::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
