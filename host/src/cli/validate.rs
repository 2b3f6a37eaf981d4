//! `assay validate`: validate files (or stdin) and print reports.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, ValueEnum};

use super::{EXIT_ERROR, EXIT_FAILED, EXIT_OK, Format, GlobalArgs, text, write_line};
use crate::validate::{Level, Pipeline, ResultCache, SubjectInput, Verdict};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to validate; `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// How deep to check: minimal, standard, comprehensive or full. Each level runs the
    /// validators whose `min_level` is at or below it, and asks them for that level's checks.
    #[arg(long, short, default_value_t = Level::Standard, value_parser = level_parser())]
    pub level: Level,

    /// Run only this validator (repeatable). Default: every enabled validator.
    #[arg(long = "plugin", short = 'p', value_name = "NAME")]
    pub plugins: Vec<String>,

    /// Output format: `text` for people, `json` for one report per line (JSON Lines).
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit with 1 when a verdict reaches this: `warning` (warn, error or fail)
    /// or `error` (error or fail; a plugin that errored counts).
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warning,
    Error,
}

impl FailOn {
    fn fails(self, verdict: Verdict) -> bool {
        match self {
            FailOn::Warning => verdict.rank() >= Verdict::Warn.rank(),
            FailOn::Error => verdict.rank() >= Verdict::Error.rank(),
        }
    }
}

/// Parses a level by name, listing the names in `--help` and in errors.
fn level_parser() -> impl TypedValueParser<Value = Level> {
    clap::builder::PossibleValuesParser::new(Level::ALL.iter().map(|l| l.as_str())).map(|s| {
        s.parse::<Level>()
            .expect("PossibleValuesParser only passes known names")
    })
}

fn read_subject(path: &PathBuf) -> std::io::Result<SubjectInput> {
    if path.as_os_str() == "-" {
        let mut data = Vec::new();
        std::io::stdin().lock().read_to_end(&mut data)?;
        return Ok(SubjectInput::new("-", data));
    }
    Ok(SubjectInput::new(
        path.display().to_string(),
        std::fs::read(path)?,
    ))
}

/// Subjects from which a run waits for its plugins' snapshots to be built
/// (seconds, once per plugin and config, then cached on disk): from here on
/// the build pays for itself, and a smaller run takes the plain path.
const SNAPSHOT_BATCH: usize = 200;

/// Readies the prepared snapshots of the selected plugins: from the on-disk
/// cache, or for a large batch, by building them now. A plugin whose
/// snapshot cannot be made runs unprepared (said once on stderr at `info`).
async fn prepare_snapshots(plugins: &[std::sync::Arc<crate::registry::Plugin>], subjects: usize) {
    for p in plugins {
        let Some(snapshots) = &p.snapshots else {
            continue;
        };
        let config = &p.settings.config_json;
        if !snapshots.load_cached(config) && subjects >= SNAPSHOT_BATCH {
            let _ = snapshots.ensure(config, p.settings.limits).await;
        }
    }
}

pub(super) async fn run(global: &GlobalArgs, args: ValidateArgs) -> anyhow::Result<u8> {
    let config = super::host_config(global)?;
    let runtime = super::runtime(&config)?;
    let registry = super::load_registry(&runtime, &config).await?;
    if registry.validators().next().is_none() {
        anyhow::bail!(
            "no validator plugins in {} (drop NAME.wasm files there, or set --plugins-dir)",
            registry.dir.display()
        );
    }
    let cache = &config.validation.cache;
    let ttl = Duration::from_secs(cache.ttl_secs);
    let cache = ResultCache::new(cache.enabled, ttl, cache.max_entries);
    let plugins = crate::registry::PluginHost::new(runtime, registry, true);
    let pipeline = Pipeline::new(Arc::new(plugins), cache);
    let budget = config
        .validation
        .budget_ms
        .get(args.level)
        .map(Duration::from_millis);
    let plugins = pipeline.select(args.level, &args.plugins)?;
    prepare_snapshots(&plugins, args.paths.len()).await;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut code = EXIT_OK;
    let mut verdicts = Vec::new();
    for path in &args.paths {
        let subject = match read_subject(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("assay: error: cannot read {}: {e}", path.display());
                code = EXIT_ERROR;
                continue;
            }
        };
        let report = pipeline
            .validate(&subject, args.level, &plugins, budget)
            .await;
        match args.format {
            Format::Json => write_line(&mut out, &serde_json::to_string(&report)?)?,
            Format::Text => text::write_report(&mut out, &report)?,
        }
        out.flush()?;
        if args.fail_on.fails(report.verdict) && code == EXIT_OK {
            code = EXIT_FAILED;
        }
        verdicts.push(report.verdict);
    }
    let stats = pipeline.cache().stats();
    tracing::debug!(
        hits = stats.hits,
        misses = stats.misses,
        entries = stats.entries,
        "result cache"
    );
    if args.format == Format::Text && args.paths.len() > 1 {
        text::write_summary(&mut out, &verdicts)?;
    }
    Ok(code)
}
