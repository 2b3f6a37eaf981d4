//! A probe that misbehaves on request, to test the host's sandbox and scheduler.
//!
//! Config `{"mode": M}`: `pass`, `warn`, `fail`, `error` (returns Err),
//! `trap` (panics), `loop` (spins forever), `sleep` (blocks in a WASI sleep
//! forever), `env` (fails if it can see any environment variable), `file`
//! with `"path"` (passes if it can read the file), `sockets` with `"target"`
//! and `"n"` (opens up to `n` TCP connections to the target and holds them
//! for `hold_ms`, then reports how many it got).

use assay_plugin_sdk::{PluginInfo, Probe, ProbeOutcome, ProbeStatus};

#[derive(serde::Deserialize)]
pub struct Config {
    pub mode: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub n: u32,
    #[serde(default)]
    pub hold_ms: u64,
}

pub struct Misbehave;

impl Probe for Misbehave {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn probe(c: Config) -> Result<ProbeOutcome, String> {
        match c.mode.as_str() {
            "pass" => Ok(ProbeOutcome::new(ProbeStatus::Pass, "fine")),
            "warn" => Ok(ProbeOutcome::new(ProbeStatus::Warn, "meh")),
            "fail" => Ok(ProbeOutcome::new(ProbeStatus::Fail, "broken")),
            "error" => Err("cannot do this".into()),
            "trap" => panic!("probe trapped on purpose"),
            #[allow(clippy::empty_loop)]
            "loop" => loop {},
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(ProbeOutcome::new(ProbeStatus::Pass, "woke up"))
            }
            "env" => {
                let n = std::env::vars().count();
                let status = if n == 0 {
                    ProbeStatus::Pass
                } else {
                    ProbeStatus::Fail
                };
                Ok(ProbeOutcome::new(
                    status,
                    format!("{n} environment variables visible"),
                ))
            }
            "file" => match std::fs::read(&c.path) {
                Ok(b) => Ok(ProbeOutcome::new(
                    ProbeStatus::Pass,
                    format!("read {} bytes", b.len()),
                )),
                Err(e) => Ok(ProbeOutcome::new(
                    ProbeStatus::Fail,
                    format!("cannot read {}: {e}", c.path),
                )),
            },
            "sockets" => {
                let mut held = Vec::new();
                let mut last_error = String::new();
                for _ in 0..c.n {
                    match std::net::TcpStream::connect(&c.target) {
                        Ok(s) => held.push(s),
                        Err(e) => last_error = e.to_string(),
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(c.hold_ms));
                Ok(ProbeOutcome::new(
                    ProbeStatus::Pass,
                    format!(
                        "held {} of {} sockets; last error: {last_error}",
                        held.len(),
                        c.n
                    ),
                ))
            }
            m => Err(format!("unknown mode {m:?}")),
        }
    }
}

assay_plugin_sdk::export_probe!(Misbehave);
