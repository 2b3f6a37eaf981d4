//! Inhibition rules, built on the label matchers shared with router plugins
//! ([`assay_contract::Matcher`], Alertmanager's syntax).

use std::collections::BTreeMap;

pub use assay_contract::Matcher;

use crate::config::InhibitRuleSection;

/// Every matcher matches.
pub(crate) fn all_match(ms: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

/// A parsed `[[inhibit_rule]]`.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

impl InhibitRule {
    pub fn parse(r: &InhibitRuleSection) -> Result<InhibitRule, String> {
        if r.source_matchers.is_empty() || r.target_matchers.is_empty() {
            return Err("source_matchers and target_matchers must not be empty".into());
        }
        Ok(InhibitRule {
            source: Matcher::parse_all(&r.source_matchers)?,
            target: Matcher::parse_all(&r.target_matchers)?,
            equal: r.equal.clone(),
        })
    }

    /// Whether `source` (a firing alert's labels) mutes `target`.
    pub fn mutes(
        &self,
        source: &BTreeMap<String, String>,
        target: &BTreeMap<String, String>,
    ) -> bool {
        all_match(&self.target, target)
            && all_match(&self.source, source)
            && self.equal.iter().all(|k| source.get(k) == target.get(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn inhibition_needs_equal_labels() {
        let rule = InhibitRule::parse(&InhibitRuleSection {
            source_matchers: vec![r#"alertname="HostDown""#.into()],
            target_matchers: vec![r#"severity=~"warning|error""#.into()],
            equal: vec!["host".into()],
        })
        .unwrap();
        let src = labels(&[("alertname", "HostDown"), ("host", "a")]);
        assert!(rule.mutes(&src, &labels(&[("severity", "warning"), ("host", "a")])));
        assert!(!rule.mutes(&src, &labels(&[("severity", "warning"), ("host", "b")])));
        assert!(!rule.mutes(&src, &labels(&[("severity", "critical"), ("host", "a")])));
    }
}
