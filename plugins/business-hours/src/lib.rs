//! `business-hours`: during business hours alerts go to the daytime
//! channels, outside them to the on-call channels; critical alerts go to
//! both, whatever the time.
//!
//! ```toml
//! [[router]]
//! plugin = "business-hours"
//! [router.config]
//! timezone = "Europe/Berlin"          # IANA name; the database is compiled in
//! days = ["mon", "tue", "wed", "thu", "fri"]
//! start = "09:00"                     # business hours: start <= local time < end
//! end = "17:30"
//! holidays = ["2026-12-24", "2026-12-25"]
//! daytime = ["team-chat"]
//! on_call = ["pager"]
//! critical_to_both = true             # the default
//! ```
//!
//! The time is the host's wall clock at routing time. Resolutions go to the
//! channels that were told of the firing (the host sees to that), so an
//! alert that fired at 16:59 resolves to the daytime channel even at 18:00.

use assay_plugin_sdk::{Alert, PluginInfo, PreparedRouter, RoutingDecision, Severity};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(deserialize_with = "timezone")]
    pub timezone: TimeZone,
    #[serde(default = "weekdays", deserialize_with = "days")]
    pub days: Vec<Weekday>,
    #[serde(deserialize_with = "time")]
    pub start: Time,
    #[serde(deserialize_with = "time")]
    pub end: Time,
    #[serde(default, deserialize_with = "dates")]
    pub holidays: Vec<Date>,
    pub daytime: Vec<String>,
    pub on_call: Vec<String>,
    #[serde(default = "yes")]
    pub critical_to_both: bool,
    /// Let the next router in the chain decide as well.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
}

fn yes() -> bool {
    true
}

fn weekdays() -> Vec<Weekday> {
    use Weekday::*;
    vec![Monday, Tuesday, Wednesday, Thursday, Friday]
}

fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<TimeZone, D::Error> {
    let name = String::deserialize(d)?;
    TimeZone::get(&name).map_err(|e| serde::de::Error::custom(format!("timezone {name:?}: {e}")))
}

fn days<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
    use Weekday::*;
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            Ok(match s.to_ascii_lowercase().get(..3) {
                Some("mon") => Monday,
                Some("tue") => Tuesday,
                Some("wed") => Wednesday,
                Some("thu") => Thursday,
                Some("fri") => Friday,
                Some("sat") => Saturday,
                Some("sun") => Sunday,
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "day {s:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
                    )));
                }
            })
        })
        .collect()
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Time>()
        .map_err(|e| serde::de::Error::custom(format!("time {s:?} (expected HH:MM): {e}")))
}

fn dates<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Date>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            s.parse::<Date>().map_err(|e| {
                serde::de::Error::custom(format!("holiday {s:?} (expected YYYY-MM-DD): {e}"))
            })
        })
        .collect()
}

impl Config {
    /// Whether `now` falls in business hours.
    pub fn in_business_hours(&self, now: &Zoned) -> bool {
        let t = now.time();
        self.days.contains(&now.weekday())
            && !self.holidays.contains(&now.date())
            && self.start <= t
            && t < self.end
    }

    /// The decision for `alert` at `now`.
    pub fn decide(&self, alert: &Alert, now: Timestamp) -> RoutingDecision {
        let local = now.to_zoned(self.timezone.clone());
        let business = self.in_business_hours(&local);
        let mut channels: Vec<String> = Vec::new();
        let both = self.critical_to_both && alert.severity >= Severity::Critical;
        if business || both {
            channels.extend(self.daytime.iter().cloned());
        }
        if !business || both {
            for c in &self.on_call {
                if !channels.contains(c) {
                    channels.push(c.clone());
                }
            }
        }
        match RoutingDecision::to(channels) {
            RoutingDecision::Deliver { deliveries, .. } => RoutingDecision::Deliver {
                deliveries,
                continue_chain: self.continue_,
            },
            other => other,
        }
    }
}

pub struct BusinessHours;

/// Prepared: the time zone and hours, checked once; the clock is read in
/// each call (never in `prepare`, whose reading a snapshot would freeze).
impl PreparedRouter for BusinessHours {
    type Config = Config;
    type Prepared = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn prepare(config: Config) -> Result<Config, String> {
        if config.start >= config.end {
            return Err(format!(
                "start ({}) must be before end ({})",
                config.start, config.end
            ));
        }
        Ok(config)
    }

    fn route(config: &Config, alert: &Alert) -> Result<RoutingDecision, String> {
        Ok(config.decide(alert, Timestamp::now()))
    }
}

assay_plugin_sdk::export_prepared_router!(BusinessHours);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::{AlertStatus, parse_config};

    fn alert(severity: Severity) -> Alert {
        Alert {
            name: "ProbeFailing".into(),
            status: AlertStatus::Firing,
            severity,
            summary: String::new(),
            description: String::new(),
            labels: vec![],
            annotations: vec![],
            source: "probe:api".into(),
            fingerprint: "f".into(),
            starts_at_ms: 0,
            ends_at_ms: None,
        }
    }

    fn config() -> Config {
        parse_config(
            r#"{"timezone": "America/New_York", "start": "09:00", "end": "17:30",
                "holidays": ["2026-12-25"], "daytime": ["chat"], "on_call": ["pager"]}"#,
        )
        .unwrap()
    }

    fn at(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn time_of_day_and_weekday_in_the_zone() {
        let c = config();
        let warn = alert(Severity::Warning);
        // Monday 2026-11-23 10:00 in New York is 15:00 UTC.
        assert_eq!(
            c.decide(&warn, at("2026-11-23T15:00:00Z")).channels(),
            ["chat"]
        );
        // 17:30 local is closed (end is exclusive); 08:59 local is before opening.
        assert_eq!(
            c.decide(&warn, at("2026-11-23T22:30:00Z")).channels(),
            ["pager"]
        );
        assert_eq!(
            c.decide(&warn, at("2026-11-23T13:59:00Z")).channels(),
            ["pager"]
        );
        // 10:00 UTC Monday is 05:00 in New York: on call.
        assert_eq!(
            c.decide(&warn, at("2026-11-23T10:00:00Z")).channels(),
            ["pager"]
        );
        // Saturday, and a holiday (a Friday), at noon local.
        assert_eq!(
            c.decide(&warn, at("2026-11-28T17:00:00Z")).channels(),
            ["pager"]
        );
        assert_eq!(
            c.decide(&warn, at("2026-12-25T17:00:00Z")).channels(),
            ["pager"]
        );
    }

    #[test]
    fn critical_goes_to_both() {
        let c = config();
        let crit = alert(Severity::Critical);
        assert_eq!(
            c.decide(&crit, at("2026-11-23T15:00:00Z")).channels(),
            ["chat", "pager"]
        );
        assert_eq!(
            c.decide(&crit, at("2026-11-28T03:00:00Z")).channels(),
            ["chat", "pager"]
        );
        let mut only_pager = config();
        only_pager.critical_to_both = false;
        assert_eq!(
            only_pager
                .decide(&crit, at("2026-11-28T03:00:00Z"))
                .channels(),
            ["pager"]
        );
    }

    #[test]
    fn daylight_saving_moves_the_utc_window() {
        let c = config();
        let warn = alert(Severity::Warning);
        // 13:30 UTC is 09:30 in New York in July (EDT) but 08:30 in January (EST).
        assert_eq!(
            c.decide(&warn, at("2026-07-06T13:30:00Z")).channels(),
            ["chat"]
        );
        assert_eq!(
            c.decide(&warn, at("2026-01-05T13:30:00Z")).channels(),
            ["pager"]
        );
    }

    #[test]
    fn bad_config_is_named() {
        for (config, says) in [
            (
                r#"{"timezone": "Mars/Olympus", "start": "09:00", "end": "17:00", "daytime": [], "on_call": []}"#,
                "Mars/Olympus",
            ),
            (
                r#"{"timezone": "UTC", "start": "9am", "end": "17:00", "daytime": [], "on_call": []}"#,
                "HH:MM",
            ),
            (
                r#"{"timezone": "UTC", "days": ["funday"], "start": "09:00", "end": "17:00", "daytime": [], "on_call": []}"#,
                "not a weekday",
            ),
            (
                r#"{"timezone": "UTC", "start": "09:00", "end": "17:00", "daytime": []}"#,
                "on_call",
            ),
        ] {
            let e = parse_config::<Config>(config).unwrap_err();
            assert!(e.contains(says), "{config}: {e}");
        }
        let backwards: Config = parse_config(
            r#"{"timezone": "UTC", "start": "18:00", "end": "09:00", "daytime": [], "on_call": []}"#,
        )
        .unwrap();
        assert!(BusinessHours::prepare(backwards).is_err());
    }
}
