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

impl From<&InhibitRuleSection> for InhibitRule {
    /// The config parsed and checked the matchers already.
    fn from(r: &InhibitRuleSection) -> InhibitRule {
        InhibitRule {
            source: r.source_matchers.clone(),
            target: r.target_matchers.clone(),
            equal: r.equal.clone(),
        }
    }
}

impl InhibitRule {
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
        let rule = InhibitRule::from(&InhibitRuleSection {
            source_matchers: vec![Matcher::parse(r#"alertname="HostDown""#).unwrap()],
            target_matchers: vec![Matcher::parse(r#"severity=~"warning|error""#).unwrap()],
            equal: vec!["host".into()],
        });
        let src = labels(&[("alertname", "HostDown"), ("host", "a")]);
        assert!(rule.mutes(&src, &labels(&[("severity", "warning"), ("host", "a")])));
        assert!(!rule.mutes(&src, &labels(&[("severity", "warning"), ("host", "b")])));
        assert!(!rule.mutes(&src, &labels(&[("severity", "critical"), ("host", "a")])));
    }
}
