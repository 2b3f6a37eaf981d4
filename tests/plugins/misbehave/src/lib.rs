//! A validator that misbehaves in the way its config asks, so the host's sandbox can be tested.
//!
//! Config: `{"mode": "trap" | "loop" | "sleep" | "hog" | "fail" | "chatter" | "ok", "sleep_ms": 60000}`.

use std::hint::black_box;

use assay_plugin_sdk::{Finding, Level, PluginInfo, Subject, Validation, Validator, log};

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Return one info finding.
    Ok,
    /// Panic, which is a trap (`unreachable`) in the component.
    Trap,
    /// Spin forever in pure compute.
    Loop,
    /// Block in a WASI monotonic-clock wait.
    Sleep,
    /// Allocate and touch memory until something stops it.
    Hog,
    /// Return a guest error (`Err`).
    Fail,
    /// Write to stdout, stderr and the host log, then succeed.
    Chatter,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    mode: Mode,
    #[serde(default = "default_sleep_ms")]
    sleep_ms: u64,
}

fn default_sleep_ms() -> u64 {
    60_000
}

pub struct Misbehave;

impl Validator for Misbehave {
    type Config = Config;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn validate(_: &Subject, _: Level, config: Config) -> Result<Validation, String> {
        match config.mode {
            Mode::Ok => {}
            Mode::Trap => panic!("misbehave: trapping on purpose"),
            Mode::Loop => {
                let mut x: u64 = 0;
                loop {
                    x = black_box(x.wrapping_add(1));
                }
            }
            Mode::Sleep => std::thread::sleep(std::time::Duration::from_millis(config.sleep_ms)),
            Mode::Hog => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![0xA5; 1 << 20]));
                }
            }
            Mode::Fail => return Err("misbehave: failing on purpose".into()),
            Mode::Chatter => {
                println!("misbehave says hello on stdout");
                eprintln!("misbehave says hello on stderr");
                log::warn("misbehave says hello through the host log");
            }
        }
        Ok(Validation::Findings(vec![
            Finding::new(
                assay_plugin_sdk::Severity::Info,
                "misbehave.done",
                "finished normally",
            )
            .at(""),
        ]))
    }
}

assay_plugin_sdk::export_validator!(Misbehave);
