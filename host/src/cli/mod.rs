//! The `assay` command line: argument model, shared set-up and exit codes.
//!
//! Exit codes: 0 success (every verdict within `--fail-on`), 1 a verdict
//! beyond `--fail-on`, 2 usage, I/O, configuration or plugin-load errors.
//! `assay probe run` follows the Nagios plugin convention instead: 0 pass,
//! 1 warn, 2 fail, 3 unknown (see [`probe`]).

mod alert;
mod backup;
mod bench;
mod config_check;
mod inspect;
pub(crate) mod plugin_test;
pub mod probe;
mod scaffold;
mod serve;
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
use crate::runtime::{Runtime, RuntimeOptions};
use crate::telemetry::LogFormat;

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
    /// Default: `[plugins] dir` from the config file, else `./plugins.d`.
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

    /// Log lines as `pretty` text or `json` objects (on stderr; filter with ASSAY_LOG or RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: HTTP API, metrics, monitors (see the README).
    Serve(serve::ServeArgs),
    /// Validate files with every enabled validator plugin.
    Validate(validate::ValidateArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run health probes.
    #[command(subcommand)]
    Probe(ProbeCommand),
    /// Work with alert channels.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Write a consistent copy of the SQLite store, safe while the service runs.
    Backup(backup::BackupArgs),
    /// Restore a backup into a stopped data directory, after checking it.
    Restore(backup::RestoreArgs),
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a test notification to one channel; exit 0 delivered, 1 failed, 2 bad config.
    Test(alert::TestArgs),
    /// Run routing test cases through the routers, silences and inhibition;
    /// exit 0 all pass, 1 some fail, 2 bad input.
    RouteTest(alert::RouteTestArgs),
}

#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Run one probe once and print its result; exit 0 pass, 1 warn, 2 fail, 3 unknown (Nagios).
    Run(probe::RunArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file: exit 0 if it is valid, 1 with the reasons if not.
    Check(config_check::CheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's kind, info(), manifest, imports, exports, size and digest.
    Inspect(inspect::InspectArgs),
    /// Make a new plugin project (Rust, Python or JavaScript) that builds
    /// outside this repository.
    New(scaffold::NewArgs),
    /// Write the plugin contract (`plugin.wit`) this assay serves.
    Wit(scaffold::WitArgs),
    /// Run a plugin's test cases against the built component; exit 0 all
    /// pass, 1 some fail, 2 bad input.
    Test(plugin_test::TestArgs),
    /// Measure what a plugin's calls cost: compile time, per-call time cold
    /// and prepared, guest memory, host calls, next to the trivial validator.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON object per line (JSON Lines).
    Json,
}

impl Cli {
    /// The log level when ASSAY_LOG/RUST_LOG say nothing: a server says what it does, a one-shot command only what went wrong.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

impl Cli {
    /// Starts exporting traces for `assay serve` when `[telemetry]` or the
    /// `OTEL_…` variables name an OTLP endpoint (inside a tokio runtime).
    /// Other commands export none; a config file that does not load is
    /// left for the command to report.
    #[allow(clippy::type_complexity)]
    pub fn traces(
        &self,
    ) -> anyhow::Result<
        Option<(
            crate::telemetry::traces::Traces,
            opentelemetry_sdk::trace::Tracer,
        )>,
    > {
        use crate::telemetry::traces;
        if !matches!(self.command, Command::Serve(_)) {
            return Ok(None);
        }
        let Ok((config, _)) = HostConfig::load(self.global.config.as_deref()) else {
            return Ok(None);
        };
        if let Err(e) = config.telemetry.check() {
            anyhow::bail!("{e}");
        }
        let Some(to) = traces::resolve(&config.telemetry, |k| std::env::var(k).ok())
            .map_err(anyhow::Error::msg)?
        else {
            return Ok(None);
        };
        let started = traces::Traces::start(&config.telemetry, &to).map_err(anyhow::Error::msg)?;
        Ok(Some(started))
    }
}

/// Runs a parsed command line; the returned code is the process's exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Validate(args) => validate::run(&cli.global, args).await,
        Command::Config(ConfigCommand::Check(args)) => config_check::run(args),
        Command::Plugin(PluginCommand::Inspect(args)) => inspect::run(&cli.global, args).await,
        Command::Plugin(PluginCommand::New(args)) => scaffold::new(args),
        Command::Plugin(PluginCommand::Wit(args)) => scaffold::wit(args),
        Command::Plugin(PluginCommand::Test(args)) => plugin_test::run(&cli.global, args).await,
        Command::Plugin(PluginCommand::Bench(args)) => bench::run(&cli.global, args).await,
        Command::Probe(ProbeCommand::Run(args)) => probe::run(&cli.global, args).await,
        Command::Alert(AlertCommand::Test(args)) => alert::test(&cli.global, args).await,
        Command::Alert(AlertCommand::RouteTest(args)) => alert::route_test(&cli.global, args).await,
        Command::Backup(args) => backup::backup(&cli.global, args).await,
        Command::Restore(args) => backup::restore(&cli.global, args).await,
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("assay: error: {}", crate::redact::scrub(&format!("{e:#}")));
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
/// then the `ASSAY_…__…` environment overrides, then the command line's.
fn host_config(global: &GlobalArgs) -> anyhow::Result<HostConfig> {
    let (mut config, overrides) = HostConfig::load(global.config.as_deref())?;
    // From here on, no log line or error shows a configured secret.
    crate::redact::install(crate::redact::Redactor::new(config.secret_values()));
    for o in overrides {
        tracing::info!("config: {} set from {}", o.key, o.var);
    }
    if let Some(dir) = &global.plugins_dir {
        config.plugins.dir = dir.clone();
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
    Ok(Arc::new(Runtime::new(RuntimeOptions::from_config(config))?))
}

/// Loads the plugin directory; any plugin that fails to load is an error
/// (each is printed, naming its file), since a one-shot run that silently
/// skipped a check would report a pass it did not earn.
async fn load_registry(
    runtime: &Arc<Runtime>,
    config: &HostConfig,
) -> anyhow::Result<Arc<Registry>> {
    let (registry, errors) = Registry::load(runtime, config).await?;
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
