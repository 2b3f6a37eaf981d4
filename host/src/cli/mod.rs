//! The `assay` command line: argument model, shared set-up and exit codes.
//!
//! Exit codes: 0 success (every verdict within `--fail-on`), 1 a verdict
//! beyond `--fail-on`, 2 usage, I/O, configuration or plugin-load errors.

mod inspect;
mod text;
mod validate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::HostConfig;
use crate::registry::Registry;
use crate::runtime::Runtime;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// Runs pluggable checks as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "assay", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory of plugins: every `NAME.wasm` in it is a plugin, with optional settings in `NAME.toml`.
    /// Default: `plugins_dir` from the config file, else `./plugins.d`.
    #[arg(long, global = true, env = "ASSAY_PLUGINS_DIR", value_name = "DIR")]
    pub plugins_dir: Option<PathBuf>,

    /// Host configuration file (TOML). Without it, built-in defaults apply.
    #[arg(long, global = true, env = "ASSAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where compiled plugins are cached between runs (default `~/.cache/assay/compiled`).
    #[arg(long, global = true, env = "ASSAY_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile plugins afresh and keep nothing on disk.
    #[arg(long, global = true)]
    pub no_cache: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate files with every enabled validator plugin.
    Validate(validate::ValidateArgs),
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's kind, info(), imports, exports, size and digest.
    Inspect(inspect::InspectArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON object per line (JSON Lines).
    Json,
}

/// Runs a parsed command line; the returned code is the process's exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Validate(args) => validate::run(&cli.global, args).await,
        Command::Plugin(PluginCommand::Inspect(args)) => inspect::run(&cli.global, args).await,
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("assay: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// A closed stdout (`assay … | head`) is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The host configuration: the `--config` file if given, defaults otherwise,
/// with the command-line overrides applied.
fn host_config(global: &GlobalArgs) -> anyhow::Result<HostConfig> {
    let mut config = match &global.config {
        Some(path) => HostConfig::load(path)?,
        None => HostConfig::default(),
    };
    if let Some(dir) = &global.plugins_dir {
        config.plugins_dir = Some(dir.clone());
    }
    if let Some(dir) = &global.cache_dir {
        config.runtime.cache_dir = Some(dir.clone());
    }
    if global.no_cache {
        config.runtime.cache_dir = Some(PathBuf::new());
    }
    Ok(config)
}

fn runtime(config: &HostConfig) -> anyhow::Result<Arc<Runtime>> {
    Ok(Arc::new(Runtime::new(config.runtime_options())?))
}

/// Loads the plugin directory; any plugin that fails to load is an error
/// (each is printed, naming its file), since a one-shot run that silently
/// skipped a check would report a pass it did not earn.
async fn load_registry(runtime: &Runtime, config: &HostConfig) -> anyhow::Result<Arc<Registry>> {
    let dir = config
        .plugins_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("./plugins.d"));
    let (registry, errors) = Registry::load(runtime, &dir, &config.plugin_defaults).await?;
    // Every failure on its own line; the last one is the command's error.
    let Some((last, others)) = errors.split_last() else {
        return Ok(Arc::new(registry));
    };
    for e in others {
        eprintln!("assay: error: cannot load plugin {e}");
    }
    anyhow::bail!("cannot load plugin {last}")
}

fn write_line(out: &mut impl Write, line: &str) -> anyhow::Result<()> {
    writeln!(out, "{line}").context("writing to stdout")?;
    Ok(())
}
