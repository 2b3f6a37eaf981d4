//! Hostile and probing: a prepared validator whose `prepare` misbehaves as
//! its config says (`loop`, `trap`, `bomb`), and whose calls count on the
//! prepared state (`count`), to show that what a call changes in it never
//! reaches the next call.

use std::sync::atomic::{AtomicU64, Ordering};

use assay_plugin_sdk::{Finding, Level, PluginInfo, PreparedValidator, Subject, Validation};

pub struct PrepareHostile;

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `loop`, `trap`, `bomb` (in prepare) or `count` (the default).
    pub mode: String,
}

/// The prepared state: a counter every call bumps.
pub struct Counter(AtomicU64);

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
            "count" | "" => Ok(Counter(AtomicU64::new(0))),
            other => Err(format!("unknown mode {other:?}")),
        }
    }

    fn validate(counter: &Counter, _: &Subject, _: Level) -> Result<Validation, String> {
        let n = counter.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Validation::Findings(vec![Finding::warning(
            "prepared.count",
            format!("call number {n} on this prepared state"),
        )]))
    }
}

assay_plugin_sdk::export_prepared_validator!(PrepareHostile);
