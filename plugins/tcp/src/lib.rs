//! `tcp`: connects to a TCP service, optionally sends a line and expects a banner.
//!
//! Config:
//! ```json
//! {"address": "127.0.0.1:6379", "send": "PING\r\n", "expect": "+PONG",
//!  "warn_latency_ms": 200, "timeout_ms": 5000}
//! ```
//! `address` is `host:port`; a name is resolved first (which needs the
//! probe's `allow_dns`) and every address it resolves to is checked against
//! `allow_tcp` by the host. The probe fails when no address accepts the
//! connection or the expected text does not arrive; it warns when the
//! connection took longer than `warn_latency_ms`. Observations:
//! `connect_seconds`, `latency_seconds` (connect plus exchange).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use assay_plugin_sdk::{PluginInfo, Probe, ProbeOutcome, ProbeStatus};
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub address: String,
    pub send: Option<String>,
    pub expect: Option<String>,
    pub warn_latency_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
}

pub struct TcpProbe;

/// Longest banner read while waiting for `expect`.
const MAX_READ: usize = 64 << 10;

impl Probe for TcpProbe {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(config: Config) -> Result<ProbeOutcome, String> {
        if !config.address.contains(':') {
            return Err(format!("address {:?}: expected host:port", config.address));
        }
        let timeout = Duration::from_millis(config.timeout_ms.unwrap_or(5000).max(1));
        let started = Instant::now();
        let fail = |m: String| {
            ProbeOutcome::new(ProbeStatus::Fail, m).observe(
                "latency_seconds",
                started.elapsed().as_secs_f64(),
                Some("seconds"),
            )
        };
        let addrs: Vec<SocketAddr> = match config.address.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                return Ok(fail(format!(
                    "cannot resolve {}: {e} (a name needs allow_dns)",
                    config.address
                )));
            }
        };
        let mut errors = Vec::new();
        let mut stream = None;
        for addr in &addrs {
            // Not `connect_timeout`: on wasm32-wasip2 (Rust 1.95) it reports
            // a refused connection as connected. The host's deadline bounds
            // a connect that hangs.
            match TcpStream::connect(addr) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        let Some(mut stream) = stream else {
            let denied = errors.iter().any(|e| e.contains("ermission denied"));
            return Ok(fail(format!(
                "cannot connect to {} ({}){}",
                config.address,
                errors.join("; "),
                if denied {
                    "; the host refuses addresses outside allow_tcp"
                } else {
                    ""
                }
            )));
        };
        let connect = started.elapsed();
        if let Some(data) = &config.send
            && let Err(e) = stream.write_all(data.as_bytes())
        {
            return Ok(fail(format!("sending to {}: {e}", config.address)));
        }
        if let Some(expect) = &config.expect {
            let _ = stream.set_read_timeout(Some(timeout));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains(expect.as_str()) {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        return Ok(fail(format!(
                            "{} closed the connection without sending {expect:?} (got {:?})",
                            config.address,
                            String::from_utf8_lossy(&got)
                        )));
                    }
                    Ok(n) if got.len() + n <= MAX_READ => got.extend_from_slice(&buf[..n]),
                    Ok(_) => {
                        return Ok(fail(format!("no {expect:?} in the first {MAX_READ} bytes")));
                    }
                    Err(e) => return Ok(fail(format!("reading from {}: {e}", config.address))),
                }
            }
        }
        let total = started.elapsed();
        let summary = format!(
            "connected to {} in {:.1} ms",
            config.address,
            connect.as_secs_f64() * 1000.0
        );
        let outcome = match config.warn_latency_ms {
            Some(w) if connect > Duration::from_millis(w) => {
                ProbeOutcome::new(ProbeStatus::Warn, format!("{summary}, slower than {w} ms"))
            }
            _ => ProbeOutcome::new(ProbeStatus::Pass, summary),
        };
        Ok(outcome
            .observe("connect_seconds", connect.as_secs_f64(), Some("seconds"))
            .observe("latency_seconds", total.as_secs_f64(), Some("seconds")))
    }
}

assay_plugin_sdk::export_probe!(TcpProbe);

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::parse_config;
    use std::net::TcpListener;

    #[test]
    fn banner_exchange_against_a_local_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 5];
            s.read_exact(&mut b).unwrap();
            s.write_all(b"+PONG\r\n").unwrap();
        });
        let c: Config = parse_config(&format!(
            r#"{{"address": "{addr}", "send": "PING\n", "expect": "PONG"}}"#
        ))
        .unwrap();
        let out = TcpProbe::probe(c).unwrap();
        assert_eq!(out.status, ProbeStatus::Pass, "{}", out.message);
        server.join().unwrap();
    }

    #[test]
    fn closed_port_fails_and_bad_address_is_an_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c: Config = parse_config(&format!(r#"{{"address": "127.0.0.1:{port}"}}"#)).unwrap();
        assert_eq!(TcpProbe::probe(c).unwrap().status, ProbeStatus::Fail);
        let c: Config = parse_config(r#"{"address": "nohost"}"#).unwrap();
        assert!(TcpProbe::probe(c).is_err());
    }
}
