//! `assay plugin test PLUGIN --cases CASES.toml`: a plugin's cases, run
//! against the built component under the host's limits, with no server.
//!
//! Validators get a subject, a level and a config; routers an alert, a time
//! and a config; probes a config and a fixture the runner serves (an HTTP
//! answer, a TCP banner, a file) with the grant to reach it. Exit codes: 0
//! every case passed, 1 some failed, 2 bad input (the plugin does not load,
//! the cases file is wrong).

mod cases;
mod fixtures;
mod report;
pub(crate) mod run;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::{EXIT_FAILED, EXIT_OK, GlobalArgs, write_line};
use crate::registry::load_plugin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// For people: a line per case, a diff for each that failed.
    Text,
    /// One JSON object with every case's answer.
    Json,
    /// JUnit XML, for CI systems.
    Junit,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The plugin file (`NAME.wasm`); a `NAME.toml` beside it gives its limits.
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// The cases (TOML; `assay plugin new` writes an example).
    #[arg(long, value_name = "CASES.toml", default_value = "cases.toml")]
    pub cases: PathBuf,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,

    /// Also show what each passing case answered.
    #[arg(long, short)]
    pub verbose: bool,
}

pub(super) async fn run(global: &GlobalArgs, args: TestArgs) -> anyhow::Result<u8> {
    let mut config = super::host_config(global)?;
    // Cases bring their own configs: no snapshot prepared for another.
    config.runtime.snapshots = Some(false);
    if !args.plugin.is_file() {
        anyhow::bail!("{}: no such file", args.plugin.display());
    }
    // The plugin loads as the host would load it: with its sidecar, if
    // one is beside it (its limits, and the config its `prepare` checks).
    let file = std::fs::canonicalize(&args.plugin)
        .with_context(|| format!("reading {}", args.plugin.display()))?;
    let runtime = super::runtime(&config)?;
    let plugin = Arc::new(load_plugin(&runtime, &file, &config).await?);
    let cases = cases::Cases::load(&args.cases, plugin.kind)?;
    let mut results = Vec::with_capacity(cases.cases.len());
    for case in &cases.cases {
        results.push(run::run(&runtime, &plugin, case).await?);
    }
    let shown = args.cases.display().to_string();
    let out = match args.format {
        TestFormat::Text => report::text(&shown, &results, args.verbose),
        TestFormat::Json => report::json(&plugin.name, &shown, &results),
        TestFormat::Junit => report::junit(&plugin.name, &results),
    };
    write_line(&mut std::io::stdout().lock(), out.trim_end_matches('\n'))?;
    Ok(if results.iter().all(|r| r.passed) {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
