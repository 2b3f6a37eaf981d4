//! Hostile and probing: a prepared validator whose `prepare` misbehaves as
//! its config says (`loop`, `trap`, `bomb`, `print`), and whose calls count on the
//! prepared state (`count`), to show that what a call changes in it never
//! reaches the next call. Each finding also says how long before the call
//! the state was prepared: about 0 ms when the call prepared for itself, and
//! the snapshot's age when the host started the call from a snapshot (the
//! clock read in prepare is frozen into it).

use std::sync::atomic::{AtomicU64, Ordering};

use assay_plugin_sdk::{Finding, Level, PluginInfo, PreparedValidator, Subject, Validation};

pub struct PrepareHostile;

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `loop`, `trap`, `bomb`, `print` (in prepare) or `count` (the default).
    pub mode: String,
}

/// The prepared state: a counter every call bumps, and when it was made.
pub struct Counter {
    calls: AtomicU64,
    prepared_at: std::time::SystemTime,
}

impl PreparedValidator for PrepareHostile {
    type Config = Config;
    type Prepared = Counter;

    fn info() -> PluginInfo {
        assay_plugin_sdk::plugin_info!()
    }

    fn prepare(config: Config) -> Result<Counter, String> {
        match config.mode.as_str() {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "trap" => panic!("prepare-hostile cannot prepare"),
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            // Against the rules: a handle on stdout that no snapshot can keep.
            "print" => {
                println!("prepare-hostile prepares, loudly");
                Self::prepare(Config::default())
            }
            "count" | "" => Ok(Counter {
                calls: AtomicU64::new(0),
                prepared_at: std::time::SystemTime::now(),
            }),
            other => Err(format!("unknown mode {other:?}")),
        }
    }

    fn validate(counter: &Counter, _: &Subject, _: Level) -> Result<Validation, String> {
        let n = counter.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let age = counter
            .prepared_at
            .elapsed()
            .unwrap_or_default()
            .as_millis();
        Ok(Validation::Findings(vec![Finding::warning(
            "prepared.count",
            format!("call number {n} on this prepared state, prepared {age} ms before"),
        )]))
    }
}

assay_plugin_sdk::export_prepared_validator!(PrepareHostile);
