//! `assay probe run`: one probe, once, with the Nagios plugin exit codes.
//!
//! `assay probe run NAME` runs a configured instance (`[[probe]]` in the
//! config file or a probe plugin's sidecar); `assay probe run --plugin FILE`
//! runs a plugin file with its `--plugin-config` and grants given on the
//! command line. Exit codes: 0
//! pass, 1 warn, 2 fail, 3 unknown (the probe could not run, including bad
//! arguments), so Nagios, Icinga and Sensu can call it as a check.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde_json::json;

use super::{Format, GlobalArgs, write_line};
use crate::config::{HostConfig, ProbeSection, ProbeSpec};
use crate::probes::{ProbeResult, ResultStatus, run_once};
use crate::registry::{Plugin, discover, load_plugin, settings_for};

pub const EXIT_WARN: u8 = 1;
pub const EXIT_FAIL: u8 = 2;
pub const EXIT_UNKNOWN: u8 = 3;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A configured probe instance (`[[probe]] name`).
    #[arg(
        value_name = "NAME",
        required_unless_present = "plugin",
        conflicts_with = "plugin"
    )]
    pub name: Option<String>,

    /// Run this probe plugin file instead of a configured instance.
    #[arg(long, value_name = "FILE.wasm")]
    pub plugin: Option<PathBuf>,

    /// The plugin's config, as JSON (with --plugin). Not `--config`: that
    /// names the host's config file, for every command.
    #[arg(long, value_name = "JSON", default_value = "{}", requires = "plugin")]
    pub plugin_config: String,

    /// How long the probe may take (with --plugin).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        requires = "plugin"
    )]
    pub timeout: String,

    /// Grant HTTP requests to HOST:PORT (repeatable; `*.domain:443` and `host:*` work).
    #[arg(long = "allow-http", value_name = "HOST:PORT", requires = "plugin")]
    pub allow_http: Vec<String>,

    /// Grant TCP connections to HOST:PORT (repeatable; CIDR ranges work).
    #[arg(long = "allow-tcp", value_name = "HOST:PORT", requires = "plugin")]
    pub allow_tcp: Vec<String>,

    /// Grant name lookups.
    #[arg(long = "allow-dns", requires = "plugin")]
    pub allow_dns: bool,

    /// Grant read-only access to DIR (absolute; repeatable).
    #[arg(long = "allow-read", value_name = "DIR", requires = "plugin")]
    pub allow_read: Vec<PathBuf>,

    /// Grant the system statistics (disk, memory, load, uptime).
    #[arg(long = "allow-system", requires = "plugin")]
    pub allow_system: bool,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub(super) async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<u8> {
    match prepare(global, &args).await {
        Ok((runtime, plugin, spec)) => {
            let result = run_once(&runtime, plugin.as_ref(), &spec, "manual").await;
            print(&args, &spec, &result)?;
            Ok(match result.status {
                ResultStatus::Pass => 0,
                ResultStatus::Warn => EXIT_WARN,
                ResultStatus::Fail => EXIT_FAIL,
                ResultStatus::Unknown => EXIT_UNKNOWN,
            })
        }
        Err(e) => {
            // Could not even run: UNKNOWN, in the output format asked for.
            let message = format!("{e:#}");
            let line = match args.format {
                Format::Text => format!("UNKNOWN - {message}"),
                Format::Json => json!({"status": "unknown", "message": message}).to_string(),
            };
            write_line(&mut std::io::stdout().lock(), &line)?;
            Ok(EXIT_UNKNOWN)
        }
    }
}

type Prepared = (Arc<crate::runtime::Runtime>, Option<Arc<Plugin>>, ProbeSpec);

async fn prepare(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<Prepared> {
    let config = super::host_config(global)?;
    let runtime = super::runtime(&config)?;
    if let Some(file) = &args.plugin {
        if !file.is_file() {
            anyhow::bail!("{}: no such file", file.display());
        }
        let plugin = Arc::new(load_plugin(&runtime, file, &config).await?);
        let spec = spec_from_args(args, &plugin.name, &config)?;
        return Ok((runtime, Some(plugin), spec));
    }
    let name = args.name.as_deref().unwrap_or_default();
    let spec = configured(&config, name)?;
    // Only the instance's plugin is compiled, not the whole directory.
    let file = config.plugins.dir.join(format!("{}.wasm", spec.plugin));
    let plugin = if file.is_file() {
        Some(Arc::new(load_plugin(&runtime, &file, &config).await?))
    } else {
        None
    };
    Ok((runtime, plugin, spec))
}

/// A configured instance by name: the config's `[[probe]]` entries, then
/// those of the sidecars in the plugin directory (read, not compiled).
fn configured(config: &HostConfig, name: &str) -> anyhow::Result<ProbeSpec> {
    if let Some(spec) = config
        .probe_specs()
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .find(|s| s.name == name)
    {
        return Ok(spec);
    }
    let max_memory_mib = config.max_memory_mib();
    for file in discover(&config.plugins.dir)? {
        let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        match settings_for(stem, &file, config, max_memory_mib) {
            Ok(settings) => {
                if let Some(spec) = settings.probes.into_iter().find(|s| s.name == name) {
                    return Ok(spec);
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
    anyhow::bail!(
        "no probe instance named {name:?} in {} or the sidecars of {}",
        config
            .file
            .as_ref()
            .map_or("the built-in config".into(), |f| f.display().to_string()),
        config.plugins.dir.display()
    )
}

/// The instance the command line describes, checked like a `[[probe]]` entry.
fn spec_from_args(args: &RunArgs, plugin: &str, config: &HostConfig) -> anyhow::Result<ProbeSpec> {
    let section = ProbeSection {
        timeout: Some(args.timeout.clone()),
        allow_http: args.allow_http.clone(),
        allow_tcp: args.allow_tcp.clone(),
        allow_dns: args.allow_dns,
        allow_read: args.allow_read.clone(),
        allow_system: args.allow_system,
        ..ProbeSection::ad_hoc(plugin, args.plugin_config.clone())
    };
    section
        .resolve(None, "the command line", config.max_memory_mib())
        .map_err(anyhow::Error::msg)
}

fn print(args: &RunArgs, spec: &ProbeSpec, r: &ProbeResult) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(r)?;
            v["probe"] = json!(spec.name);
            v["plugin"] = json!(spec.plugin);
            write_line(&mut out, &v.to_string())
        }
        Format::Text => {
            // Nagios: `STATUS - message | perfdata`.
            let status = match r.status {
                ResultStatus::Pass => "OK",
                ResultStatus::Warn => "WARNING",
                ResultStatus::Fail => "CRITICAL",
                ResultStatus::Unknown => "UNKNOWN",
            };
            let mut perf: Vec<String> = r
                .observations
                .iter()
                .map(|o| format!("{}={}", o.name, o.value))
                .collect();
            perf.push(format!("duration_seconds={:.6}", r.duration_ms / 1000.0));
            write_line(
                &mut out,
                &format!(
                    "{status} - {}: {} | {}",
                    spec.name,
                    r.message,
                    perf.join(" ")
                ),
            )?;
            for d in &r.denied {
                write_line(&mut out, &format!("denied: {d}"))?;
            }
            Ok(())
        }
    }
}
