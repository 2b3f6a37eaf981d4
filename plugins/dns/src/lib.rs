//! `dns`: resolves a name and checks what it resolves to.
//!
//! Config:
//! ```json
//! {"name": "db.internal", "expect": ["10.0.0.5"], "min_addresses": 1, "warn_latency_ms": 200}
//! ```
//! Needs `allow_dns = true` on the probe. Fails when the lookup fails, fewer
//! than `min_addresses` (default 1) come back, or an address in `expect` is
//! missing; warns when the lookup took longer than `warn_latency_ms`.
//! Observations: `lookup_seconds`, `addresses`.

use std::collections::BTreeSet;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use assay_plugin_sdk::{PluginInfo, Probe, ProbeOutcome, ProbeStatus};
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: String,
    #[serde(default)]
    pub expect: Vec<IpAddr>,
    #[serde(default = "one")]
    pub min_addresses: usize,
    pub warn_latency_ms: Option<u64>,
}

fn one() -> usize {
    1
}

pub struct DnsProbe;

impl Probe for DnsProbe {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(config: Config) -> Result<ProbeOutcome, String> {
        if config.name.is_empty() || config.name.contains([':', '/', ' ']) {
            return Err(format!("name {:?}: expected a host name", config.name));
        }
        let started = Instant::now();
        let result = (config.name.as_str(), 0).to_socket_addrs();
        let took = started.elapsed();
        let found: Result<BTreeSet<IpAddr>, String> = result
            .map(|a| a.map(|s| s.ip()).collect())
            .map_err(|e| e.to_string());
        Ok(judge(&config, found, took))
    }
}

/// The verdict on one lookup.
pub fn judge(
    config: &Config,
    found: Result<BTreeSet<IpAddr>, String>,
    took: Duration,
) -> ProbeOutcome {
    let ms = took.as_secs_f64() * 1000.0;
    let timed = |o: ProbeOutcome| o.observe("lookup_seconds", took.as_secs_f64(), Some("seconds"));
    let found = match found {
        Ok(f) => f,
        Err(e) => {
            return timed(ProbeOutcome::new(
                ProbeStatus::Fail,
                format!(
                    "lookup of {} failed: {e} (is allow_dns granted?)",
                    config.name
                ),
            ));
        }
    };
    let list = found
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let counted = |o: ProbeOutcome| timed(o).observe("addresses", found.len() as f64, None);
    if found.len() < config.min_addresses {
        return counted(ProbeOutcome::new(
            ProbeStatus::Fail,
            format!(
                "{} resolved to {} addresses ({list}), expected at least {}",
                config.name,
                found.len(),
                config.min_addresses
            ),
        ));
    }
    let missing: Vec<String> = config
        .expect
        .iter()
        .filter(|a| !found.contains(a))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        return counted(ProbeOutcome::new(
            ProbeStatus::Fail,
            format!(
                "{} resolved to [{list}], missing {}",
                config.name,
                missing.join(", ")
            ),
        ));
    }
    let summary = format!("{} resolved to [{list}] in {ms:.1} ms", config.name);
    counted(match config.warn_latency_ms {
        Some(w) if ms > w as f64 => {
            ProbeOutcome::new(ProbeStatus::Warn, format!("{summary}, slower than {w} ms"))
        }
        _ => ProbeOutcome::new(ProbeStatus::Pass, summary),
    })
}

assay_plugin_sdk::export_probe!(DnsProbe);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::parse_config;

    #[test]
    fn expected_addresses_and_counts() {
        let c: Config =
            parse_config(r#"{"name": "h", "expect": ["127.0.0.1"], "warn_latency_ms": 50}"#)
                .unwrap();
        let one: BTreeSet<IpAddr> = ["127.0.0.1".parse().unwrap()].into();
        let other: BTreeSet<IpAddr> = ["10.0.0.1".parse().unwrap()].into();
        assert_eq!(
            judge(&c, Ok(one.clone()), Duration::from_millis(1)).status,
            ProbeStatus::Pass
        );
        assert_eq!(
            judge(&c, Ok(one), Duration::from_millis(80)).status,
            ProbeStatus::Warn
        );
        assert_eq!(
            judge(&c, Ok(other), Duration::from_millis(1)).status,
            ProbeStatus::Fail
        );
        assert_eq!(
            judge(&c, Ok(BTreeSet::new()), Duration::from_millis(1)).status,
            ProbeStatus::Fail
        );
        assert_eq!(
            judge(&c, Err("no".into()), Duration::from_millis(1)).status,
            ProbeStatus::Fail
        );
    }

    #[test]
    fn localhost_resolves_natively() {
        let c: Config = parse_config(r#"{"name": "localhost"}"#).unwrap();
        assert_eq!(DnsProbe::probe(c).unwrap().status, ProbeStatus::Pass);
    }
}
