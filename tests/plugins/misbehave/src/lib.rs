//! A validator that misbehaves in the way its config asks, so the host's sandbox can be tested.
//!
//! Config: `{"mode": "trap" | "loop" | "sleep" | "hog" | "fail" | "chatter" | "count" | "ok"
//! | "bomb" | "spam" | "recurse", "sleep_ms": 60000, "n": 250000}`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

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
    /// Count calls in a static and report the count: 1 on every call, unless
    /// an instance (and so its memory) were reused. The subject `"trap"`,
    /// `"fail"`, `"hog"` or `"loop"` misbehaves that way instead, so that one
    /// plugin can show what each does to a kept instance.
    Count,
    /// Return `n` findings (a findings bomb), the last one an error.
    Bomb,
    /// Print `n` one-character lines to stdout.
    Spam,
    /// Recurse with 8 KiB stack frames until the stack runs out.
    Recurse,
}

/// Lives in the instance's linear memory, so it survives exactly as long as the instance.
static CALLS: AtomicU32 = AtomicU32::new(0);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    mode: Mode,
    #[serde(default = "default_sleep_ms")]
    sleep_ms: u64,
    #[serde(default = "default_n")]
    n: u64,
}

fn default_n() -> u64 {
    250_000
}

/// Each frame holds 8 KiB on the shadow stack, so a 64 KiB stack overflows in a few calls.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 8192]);
    if depth == u64::MAX {
        return 0;
    }
    u64::from(frame[(depth % 8192) as usize]) + recurse(black_box(depth + 1))
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

    fn validate(subject: &Subject, _: Level, config: Config) -> Result<Validation, String> {
        let mode = match (&config.mode, subject.data.as_slice()) {
            (Mode::Count, b"\"trap\"") => Mode::Trap,
            (Mode::Count, b"\"fail\"") => Mode::Fail,
            (Mode::Count, b"\"hog\"") => Mode::Hog,
            (Mode::Count, b"\"loop\"") => Mode::Loop,
            _ => config.mode,
        };
        match mode {
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
            Mode::Bomb => {
                let mut found: Vec<Finding> = (0..config.n)
                    .map(|i| {
                        Finding::new(
                            assay_plugin_sdk::Severity::Info,
                            "misbehave.bomb",
                            format!("finding {i}"),
                        )
                        .at(format!("/{i}"))
                    })
                    .collect();
                if let Some(last) = found.last_mut() {
                    last.severity = assay_plugin_sdk::Severity::Error;
                }
                return Ok(Validation::Findings(found));
            }
            Mode::Spam => {
                for _ in 0..config.n {
                    println!("x");
                }
            }
            Mode::Recurse => {
                black_box(recurse(0));
            }
            Mode::Count => {
                let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
                return Ok(Validation::Findings(vec![
                    Finding::new(
                        assay_plugin_sdk::Severity::Info,
                        "misbehave.count",
                        format!("call {n} of this instance"),
                    )
                    .at(""),
                ]));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use assay_plugin_sdk::{Subject, parse_config};

    /// The control for the host's fresh-instance test: where state is shared
    /// (here, one native process), the count does grow.
    #[test]
    fn count_grows_when_the_instance_is_shared() {
        let s = Subject::new("s", "application/json", "{}");
        let call = || {
            Misbehave::validate(
                &s,
                Level::Full,
                parse_config(r#"{"mode": "count"}"#).unwrap(),
            )
            .unwrap()
        };
        let first = call().findings()[0].message.clone();
        let second = call().findings()[0].message.clone();
        assert_ne!(first, second);
        assert!(second.starts_with("call ") && second != "call 1 of this instance");
    }
}
