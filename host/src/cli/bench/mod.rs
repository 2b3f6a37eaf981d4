//! `assay plugin bench PLUGIN`: what a plugin costs the host, measured here.
//!
//! It reports the component's size, its compile time (once per version: the
//! host caches the result), the time of one call on a fresh instance, cold
//! (the plugin as shipped, doing its set-up in every call) and prepared
//! (from the snapshot taken after its `prepare`, when it asks for one),
//! reused (on a kept instance, when the plugin is stateless), the peak guest
//! memory, the host calls a call makes, and, for scale, the same
//! figures for the smallest validator there is (carried in this binary) on
//! the same machine in the same run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serde_json::json;

use super::{EXIT_OK, Format, GlobalArgs, write_line};
use crate::alerts::model::Alert;
use crate::config::ProbeSection;
use crate::registry::{Plugin, PluginKind, load_plugin};
use crate::runtime::bindings::Subject;
use crate::runtime::{Called, Runtime, Usage};
use crate::validate::Level;

/// The trivial validator (`tests/plugins/trivial`): accepts every subject.
const TRIVIAL: &[u8] = include_bytes!("trivial.wasm");

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The plugin file (`NAME.wasm`); a `NAME.toml` beside it gives its limits and config.
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// Validators: the subject to validate (default: a 1 KiB JSON document).
    #[arg(long, value_name = "FILE")]
    pub subject: Option<PathBuf>,

    /// Validators: the level.
    #[arg(long, default_value = "standard")]
    pub level: Level,

    /// Routers: the alert, as JSON (`{"name": "DiskFull", "severity":
    /// "critical", "labels": {...}}`; default: a warning).
    #[arg(long, value_name = "JSON")]
    pub alert: Option<String>,

    /// The plugin's config, as JSON (default: its sidecar's, else `{}`).
    /// Not `--config`: that names the host's config file, for every command.
    /// Probes run with no grants: what they try is refused, and counted.
    #[arg(long, value_name = "JSON")]
    pub plugin_config: Option<String>,

    /// Calls per measurement.
    #[arg(long, default_value_t = 200)]
    pub calls: u32,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The time of `n` calls, and what the last one used.
#[derive(Debug, Serialize)]
struct Timing {
    calls: u32,
    median_ms: f64,
    p99_ms: f64,
    usage: Usage,
}

fn timing(mut durations: Vec<Duration>, usage: Usage) -> Timing {
    durations.sort();
    let at = |q: f64| {
        let i = ((durations.len() as f64 - 1.0) * q).round() as usize;
        durations[i].as_secs_f64() * 1000.0
    };
    Timing {
        calls: durations.len() as u32,
        median_ms: at(0.5),
        p99_ms: at(0.99),
        usage,
    }
}

/// What one plugin's call needs.
struct Input {
    subject: Subject,
    level: Level,
    alert: Alert,
    config: String,
}

/// `n` calls of `plugin` (its snapshot, when one is ready for the config),
/// each on a fresh instance unless `reuse` (and the plugin is stateless).
async fn calls(
    runtime: &Arc<Runtime>,
    plugin: &Plugin,
    input: &Input,
    n: u32,
    reuse: bool,
) -> anyhow::Result<Timing> {
    let mut durations = Vec::with_capacity(n as usize);
    let mut usage = Usage::default();
    let probe_spec = if plugin.kind == PluginKind::Probe {
        Some(
            ProbeSection {
                memory_limit_mib: Some(plugin.settings.limits.memory as u64 >> 20),
                ..ProbeSection::ad_hoc(&plugin.name, input.config.clone())
            }
            .resolve(
                None,
                "the bench",
                (runtime.options().max_memory >> 20) as u64,
            )
            .map_err(anyhow::Error::msg)?,
        )
    } else {
        None
    };
    for _ in 0..n {
        let (duration, used, failed) = match plugin.kind {
            PluginKind::Validator => {
                let mut callee = plugin.validator_for(&input.config).expect("a validator");
                callee.warm = callee.warm.filter(|_| reuse);
                let c = runtime
                    .call_validate(callee, &input.subject, input.level.into(), &input.config)
                    .await;
                outcome(c)
            }
            PluginKind::Router => {
                let mut callee = plugin.router(&input.config).expect("a router");
                callee.warm = callee.warm.filter(|_| reuse);
                let c = runtime
                    .call_route(callee, &input.alert.to_wit(), &input.config, None)
                    .await;
                outcome(c)
            }
            PluginKind::Probe => {
                let spec = probe_spec.as_ref().expect("a probe spec");
                let callee = plugin.probe().expect("a probe");
                let c = runtime
                    .call_probe(callee, &spec.grants, &input.config)
                    .await;
                outcome(c)
            }
        };
        if let Some(e) = failed {
            anyhow::bail!(
                "{}: a call failed, so there is nothing to measure: {e}",
                plugin.name
            );
        }
        durations.push(duration);
        usage = used;
    }
    Ok(timing(durations, usage))
}

fn outcome<T>(c: Called<T>) -> (Duration, Usage, Option<String>) {
    (c.duration, c.usage, c.outcome.err().map(|e| e.to_string()))
}

#[derive(Debug, Serialize)]
struct Bench {
    plugin: String,
    kind: PluginKind,
    size_bytes: u64,
    compile_ms: f64,
    cold: Timing,
    /// `None` when the plugin takes no snapshot (no `prepare`, or no `assay:snapshot` section).
    prepared: Option<Timing>,
    /// Why there is no prepared figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    prepared_note: Option<String>,
    /// Calls on a kept instance; `None` when the plugin is not stateless.
    reused: Option<Timing>,
    baseline: Baseline,
}

#[derive(Debug, Serialize)]
struct Baseline {
    plugin: &'static str,
    size_bytes: u64,
    compile_ms: f64,
    cold: Timing,
}

pub(super) async fn run(global: &GlobalArgs, args: BenchArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    let mut config = super::host_config(global)?;
    // Compile afresh (the compile time is a figure), snapshots built on demand.
    config.runtime.cache_dir = Some(PathBuf::new());
    config.runtime.snapshots = Some(true);
    if !args.plugin.is_file() {
        anyhow::bail!("{}: no such file", args.plugin.display());
    }
    let runtime = super::runtime(&config)?;
    let plugin = load_plugin(&runtime, &args.plugin, &config).await?;
    let subject_data = match &args.subject {
        Some(f) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
        None => sample_document(),
    };
    let subject_name = args
        .subject
        .as_ref()
        .map_or("sample.json".to_owned(), |f| f.display().to_string());
    let alert = match &args.alert {
        Some(text) => alert_from_json(text)?,
        None => Alert::firing(
            "DiskFilling",
            assay_contract::Severity::Warning,
            "bench",
            Default::default(),
            "disk filling",
        ),
    };
    let input = Input {
        subject: Subject {
            content_type: crate::validate::content_type_for(&subject_name).to_owned(),
            name: subject_name,
            data: subject_data,
        },
        level: args.level,
        alert,
        config: args
            .plugin_config
            .clone()
            .unwrap_or_else(|| plugin.settings.config_json.clone()),
    };
    serde_json::from_str::<serde_json::Value>(&input.config)
        .context("--plugin-config is not JSON")?;
    // A first call outside the figures: the first touch of the code's pages.
    calls(&runtime, &plugin, &input, 1, false).await?;
    let cold = calls(&runtime, &plugin, &input, args.calls, false).await?;
    let (prepared, prepared_note) = match &plugin.snapshots {
        Some(snapshots) => {
            snapshots
                .ensure(&input.config, plugin.settings.limits)
                .await
                .map_err(|e| anyhow::anyhow!("preparing {}: {e}", plugin.name))?;
            calls(&runtime, &plugin, &input, 1, false).await?;
            (
                Some(calls(&runtime, &plugin, &input, args.calls, false).await?),
                None,
            )
        }
        None if plugin.prepares => (
            None,
            Some("it prepares, but asks for no snapshot (no assay:snapshot section): every call is as cold".to_owned()),
        ),
        None => (None, Some("it has no prepare: every call is as cold".to_owned())),
    };
    // What it would cost where the operator allows reuse (`reuse_instances`).
    let reused = if plugin.is_stateless() && plugin.kind != PluginKind::Probe {
        let reusing = plugin.with_settings(
            crate::config::PluginSettings {
                reuse_instances: true,
                ..plugin.settings.clone()
            },
            runtime.default_share(plugin.kind),
        );
        calls(&runtime, &reusing, &input, 1, true).await?;
        Some(calls(&runtime, &reusing, &input, args.calls, true).await?)
    } else {
        None
    };
    let baseline = baseline(&runtime, &config, &input, args.calls).await?;
    let bench = Bench {
        plugin: plugin.name.to_string(),
        kind: plugin.kind,
        size_bytes: plugin.size,
        compile_ms: plugin.compile_time.as_secs_f64() * 1000.0,
        cold,
        prepared,
        prepared_note,
        reused,
        baseline,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => write_line(&mut out, &json!(bench).to_string())?,
        Format::Text => write_line(&mut out, text(&bench, &args.plugin).trim_end())?,
    }
    Ok(EXIT_OK)
}

/// The trivial validator, compiled and called the same way.
async fn baseline(
    runtime: &Arc<Runtime>,
    config: &crate::config::HostConfig,
    input: &Input,
    n: u32,
) -> anyhow::Result<Baseline> {
    let dir = tempfile::tempdir().context("a directory for the baseline plugin")?;
    let file = dir.path().join("trivial.wasm");
    std::fs::write(&file, TRIVIAL).context("writing the baseline plugin")?;
    let trivial = load_plugin(runtime, &file, config).await?;
    let input = Input {
        subject: input.subject.clone(),
        level: input.level,
        alert: input.alert.clone(),
        config: "{}".into(),
    };
    calls(runtime, &trivial, &input, 1, false).await?;
    Ok(Baseline {
        plugin: "trivial",
        size_bytes: trivial.size,
        compile_ms: trivial.compile_time.as_secs_f64() * 1000.0,
        cold: calls(runtime, &trivial, &input, n, false).await?,
    })
}

/// A 1 KiB JSON document: a small ledger, the kind of subject validators see.
fn sample_document() -> Vec<u8> {
    let entries: Vec<serde_json::Value> = (0..12)
        .map(|i| json!({"id": i, "amount": i * 100, "memo": format!("entry {i}")}))
        .collect();
    serde_json::to_vec_pretty(&json!({"ledger": "bench", "entries": entries})).expect("JSON")
}

fn alert_from_json(text: &str) -> anyhow::Result<Alert> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct A {
        name: String,
        #[serde(default = "warning")]
        severity: assay_contract::Severity,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        annotations: std::collections::BTreeMap<String, String>,
    }
    fn warning() -> assay_contract::Severity {
        assay_contract::Severity::Warning
    }
    let a: A = serde_json::from_str(text).context("--alert")?;
    let mut alert = Alert::firing(&a.name, a.severity, "bench", a.labels, a.name.clone());
    alert.annotations = a.annotations;
    Ok(alert)
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// `140x`, `4.2x`, `0.5x`: one decimal below 10.
fn ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.0}x")
    }
}

fn text(b: &Bench, file: &std::path::Path) -> String {
    let line = |t: &Timing| {
        format!(
            "median {:.3} ms, p99 {:.3} ms ({} calls)",
            t.median_ms, t.p99_ms, t.calls
        )
    };
    let mut s = format!(
        "{} ({}), a {}, {:.1} MB\n",
        b.plugin,
        file.display(),
        b.kind,
        b.size_bytes as f64 / 1e6
    );
    s.push_str(&format!(
        "  compile:        {:.0} ms (once per version: the host caches it)\n",
        b.compile_ms
    ));
    s.push_str(&format!("  call, cold:     {}\n", line(&b.cold)));
    match (&b.prepared, &b.prepared_note) {
        (Some(p), _) => s.push_str(&format!("  call, prepared: {}\n", line(p))),
        (None, Some(note)) => s.push_str(&format!("  call, prepared: n/a ({note})\n")),
        (None, None) => {}
    }
    match &b.reused {
        Some(r) => s.push_str(&format!(
            "  call, reused:   {} (stateless: on a kept instance, where the operator sets reuse_instances = true)\n",
            line(r)
        )),
        None => s.push_str(
            "  call, reused:   n/a (its manifest does not say stateless: every call gets a fresh instance)\n",
        ),
    }
    let u = b.prepared.as_ref().map_or(b.cold.usage, |p| p.usage);
    s.push_str(&format!(
        "  guest memory:   {} at its peak\n",
        mib(u.memory_bytes)
    ));
    s.push_str(&format!(
        "  host calls:     {} per call (log, sha256, system), {} HTTP requests, WASI {}\n",
        u.host_calls,
        u.http_requests,
        if u.wasi { "used" } else { "not used" }
    ));
    let base = &b.baseline;
    let best = [&b.reused, &b.prepared]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or(&b.cold)
        .median_ms;
    s.push_str(&format!(
        "  for scale:      the trivial validator here: {:.1} KB, compile {:.0} ms, call median {:.3} ms, {} (this plugin's call: {})\n",
        base.size_bytes as f64 / 1e3,
        base.compile_ms,
        base.cold.median_ms,
        mib(base.cold.usage.memory_bytes),
        ratio(best / base.cold.median_ms.max(1e-9))
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_takes_the_median_and_p99() {
        let d: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let t = timing(d, Usage::default());
        assert_eq!(
            (t.calls, t.median_ms.round(), t.p99_ms.round()),
            (100, 51.0, 99.0)
        );
    }

    #[test]
    fn the_baseline_is_a_validator_of_this_contract() {
        let engine = wasmtime::Engine::default();
        let component = wasmtime::component::Component::new(&engine, TRIVIAL).unwrap();
        assert_eq!(
            crate::registry::kind::detect(&engine, &component),
            Ok(PluginKind::Validator),
            "rebuild host/src/cli/bench/trivial.wasm from tests/plugins/trivial"
        );
    }
}
