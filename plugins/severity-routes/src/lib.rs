//! `severity-routes`: ordered rules, each matching an alert's severity and
//! labels, decide the channels — Alertmanager's routing tree, flattened.
//!
//! ```toml
//! [[router]]
//! plugin = "severity-routes"
//! [router.config]
//! default = ["chat"]                      # when no rule matches (omit: let the next router decide)
//! [[router.config.rules]]
//! min_severity = "critical"               # or `severity = ["error", "critical"]`
//! matchers = ['team="db"', 'env!~"dev|test"']
//! channels = ["pager"]
//! repeat_interval = "30m"                 # re-send this often while firing
//! continue = true                         # keep matching the rules below
//! [[router.config.rules]]
//! matchers = ['alertname="ProbeFlapping"']
//! suppress = "flapping is on the dashboard, not the pager"
//! ```
//!
//! Rules are tried in order. The first that matches decides; with
//! `continue = true` the rules after it are tried as well and their channels
//! added. A rule with `suppress` drops the alert (unless an earlier rule with
//! `continue` already matched). When no rule matches, `default` applies; with
//! no `default`, the router delivers nothing and lets the next router in the
//! chain decide. When the last rule that matched has `continue = true`, the
//! next router decides as well (Alertmanager's `continue` carried across the chain).

use std::time::Duration;

use assay_plugin_sdk::{
    Alert, Delivery, Matcher, PluginInfo, PreparedRouter, RoutingDecision, Severity,
};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Channels for alerts no rule matches.
    #[serde(default)]
    pub default: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Matches only these severities.
    #[serde(default)]
    pub severity: Vec<Severity>,
    /// Matches this severity and worse.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Alertmanager-style label matchers; all must match.
    #[serde(default, deserialize_with = "matchers")]
    pub matchers: Vec<Matcher>,
    #[serde(default)]
    pub channels: Vec<String>,
    /// e.g. `"30m"`.
    #[serde(default, deserialize_with = "duration")]
    pub repeat_interval: Option<Duration>,
    /// A title for these notifications: `{alertname}`, `{severity}`,
    /// `{status}`, `{summary}` and `{labels.NAME}` are filled in.
    #[serde(default)]
    pub title: Option<String>,
    /// Labels added to these notifications.
    #[serde(default)]
    pub labels: Vec<(String, String)>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Drop matching alerts, for this reason.
    #[serde(default)]
    pub suppress: Option<String>,
}

fn matchers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Matcher>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| Matcher::parse(t).map_err(serde::de::Error::custom))
        .collect()
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("repeat_interval {text:?}: {e}")))
}

impl Rule {
    fn matches(&self, alert: &Alert) -> bool {
        (self.severity.is_empty() || self.severity.contains(&alert.severity))
            && self.min_severity.is_none_or(|m| alert.severity >= m)
            && alert.matches(&self.matchers)
    }

    fn deliveries(&self, alert: &Alert) -> Vec<Delivery> {
        self.channels
            .iter()
            .map(|c| Delivery {
                channel: c.clone(),
                title: self.title.as_deref().map(|t| render(t, alert)),
                body: None,
                labels: self.labels.clone(),
                repeat_interval_ms: self.repeat_interval.map(|d| d.as_millis() as u64),
            })
            .collect()
    }
}

/// Fills `{alertname}`, `{severity}`, `{status}`, `{summary}` and `{labels.NAME}`.
fn render(template: &str, alert: &Alert) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = &after[..close];
        match key {
            "alertname" => out.push_str(&alert.name),
            "severity" => out.push_str(alert.severity.as_str()),
            "status" => out.push_str(match alert.status {
                assay_plugin_sdk::AlertStatus::Firing => "firing",
                assay_plugin_sdk::AlertStatus::Resolved => "resolved",
            }),
            "summary" => out.push_str(&alert.summary),
            _ => match key.strip_prefix("labels.") {
                Some(name) => out.push_str(alert.label(name).unwrap_or("")),
                None => out.push_str(&rest[open..open + close + 2]),
            },
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

pub struct SeverityRoutes;

/// Prepared: the rules with their matchers parsed, once per configuration.
impl PreparedRouter for SeverityRoutes {
    type Config = Config;
    type Prepared = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn prepare(config: Config) -> Result<Config, String> {
        Ok(config)
    }

    fn route(config: &Config, alert: &Alert) -> Result<RoutingDecision, String> {
        let mut deliveries: Vec<Delivery> = Vec::new();
        let mut matched = false;
        let mut last_continue = false;
        for rule in &config.rules {
            if !rule.matches(alert) {
                continue;
            }
            if let Some(why) = &rule.suppress {
                if !matched {
                    return Ok(RoutingDecision::Suppress(why.clone()));
                }
                // An earlier `continue` rule matched: keep what it chose.
                last_continue = false;
                break;
            }
            matched = true;
            for d in rule.deliveries(alert) {
                if !deliveries.iter().any(|e| e.channel == d.channel) {
                    deliveries.push(d);
                }
            }
            last_continue = rule.continue_;
            if !rule.continue_ {
                break;
            }
        }
        if !matched {
            return Ok(match &config.default {
                Some(channels) => RoutingDecision::to(channels.iter().cloned()),
                None => RoutingDecision::Deliver {
                    deliveries: Vec::new(),
                    continue_chain: true,
                },
            });
        }
        Ok(RoutingDecision::Deliver {
            deliveries,
            continue_chain: last_continue,
        })
    }
}

assay_plugin_sdk::export_prepared_router!(SeverityRoutes);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::{AlertStatus, parse_config};

    fn alert(severity: Severity, labels: &[(&str, &str)]) -> Alert {
        Alert {
            name: "ProbeFailing".into(),
            status: AlertStatus::Firing,
            severity,
            summary: "api is down".into(),
            description: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: vec![],
            source: "probe:api".into(),
            fingerprint: "f".into(),
            starts_at_ms: 0,
            ends_at_ms: None,
        }
    }

    fn route(a: &Alert, config: &str) -> RoutingDecision {
        SeverityRoutes::route(&parse_config(config).unwrap(), a).unwrap()
    }

    const CONFIG: &str = r#"{
        "default": ["chat"],
        "rules": [
            {"matchers": ["alertname=\"ProbeFlapping\""], "suppress": "flapping"},
            {"min_severity": "critical", "channels": ["pager"], "repeat_interval": "30m",
             "continue": true, "title": "[{severity}] {alertname} on {labels.probe}"},
            {"matchers": ["team=\"db\"", "env!~\"dev|test\""], "channels": ["db-chat"]},
            {"severity": ["warning"], "channels": ["chat"]}
        ]
    }"#;

    #[test]
    fn first_match_decides_and_continue_adds() {
        let crit_db = alert(Severity::Critical, &[("team", "db"), ("probe", "api")]);
        let d = route(&crit_db, CONFIG);
        assert_eq!(d.channels(), ["pager", "db-chat"]);
        let RoutingDecision::Deliver {
            deliveries,
            continue_chain,
        } = d
        else {
            panic!()
        };
        assert!(!continue_chain);
        assert_eq!(deliveries[0].repeat_interval_ms, Some(30 * 60 * 1000));
        assert_eq!(
            deliveries[0].title.as_deref(),
            Some("[critical] ProbeFailing on api")
        );
        assert_eq!(deliveries[1].repeat_interval_ms, None);
        // Critical, not db: the continue rule matched last, so the chain goes on.
        let d = route(&alert(Severity::Critical, &[]), CONFIG);
        assert_eq!(d.channels(), ["pager"]);
        assert!(matches!(
            d,
            RoutingDecision::Deliver {
                continue_chain: true,
                ..
            }
        ));
    }

    #[test]
    fn negative_regex_and_default() {
        let dev = alert(Severity::Error, &[("team", "db"), ("env", "dev")]);
        assert_eq!(route(&dev, CONFIG).channels(), ["chat"]); // the default
        let prod = alert(Severity::Error, &[("team", "db"), ("env", "prod")]);
        assert_eq!(route(&prod, CONFIG).channels(), ["db-chat"]);
        let info = alert(Severity::Info, &[]);
        let no_default = r#"{"rules": [{"severity": ["warning"], "channels": ["chat"]}]}"#;
        assert!(matches!(
            route(&info, no_default),
            RoutingDecision::Deliver { ref deliveries, continue_chain: true } if deliveries.is_empty()
        ));
    }

    #[test]
    fn suppress_rules() {
        let mut flap = alert(Severity::Warning, &[]);
        flap.labels
            .push(("alertname".into(), "ProbeFlapping".into()));
        assert_eq!(
            route(&flap, CONFIG),
            RoutingDecision::Suppress("flapping".into())
        );
    }

    #[test]
    fn bad_config_is_named() {
        for (config, says) in [
            (r#"{"rules": [{"matchers": ["team"]}]}"#, "not a matcher"),
            (
                r#"{"rules": [{"min_severity": "loud"}]}"#,
                "unknown variant",
            ),
            (
                r#"{"rules": [{"repeat_interval": "soon"}]}"#,
                "repeat_interval",
            ),
            (r#"{"rulez": []}"#, "unknown field"),
        ] {
            let e = parse_config::<Config>(config).unwrap_err();
            assert!(e.contains(says), "{config}: {e}");
        }
    }
}
