//! The validation pipeline: pick the validators for a level, run them concurrently, build the report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::report::{PluginRun, Report, ReportFinding, verdict};
use super::{Level, Outcome, ResultCache};
use crate::registry::{self, Plugin, PluginHost};
use crate::runtime::bindings::{Subject, Validation};
use crate::runtime::{CallFailure, Runtime};

/// A subject as handed to the pipeline.
#[derive(Debug, Clone)]
pub struct SubjectInput {
    pub name: String,
    pub content_type: String,
    pub data: Arc<[u8]>,
}

impl SubjectInput {
    /// Guesses the media type from the name's extension.
    pub fn new(name: impl Into<String>, data: impl Into<Arc<[u8]>>) -> Self {
        let name = name.into();
        let content_type = content_type_for(&name).to_owned();
        SubjectInput {
            name,
            content_type,
            data: data.into(),
        }
    }
}

pub(crate) fn content_type_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => "application/json",
        Some("jsonl" | "ndjson") => "application/x-ndjson",
        Some("csv") => "text/csv",
        Some("txt") => "text/plain",
        Some("toml") => "application/toml",
        Some("yaml" | "yml") => "application/yaml",
        _ => "application/octet-stream",
    }
}

/// Runs validators from a registry over subjects.
///
/// The registry is a snapshot that can be replaced while validations run:
/// each validation works on the snapshot it started with.
pub struct Pipeline {
    plugins: Arc<PluginHost>,
    cache: ResultCache,
}

/// `--plugin` named a plugin that is not a loaded validator.
#[derive(Debug, thiserror::Error)]
#[error("no validator named {name:?} in {dir} (loaded: {loaded})")]
pub struct UnknownPlugin {
    pub name: String,
    pub dir: String,
    pub loaded: String,
}

impl Pipeline {
    pub fn new(plugins: Arc<PluginHost>, cache: ResultCache) -> Self {
        Pipeline { plugins, cache }
    }

    /// The plugins it runs.
    pub fn plugins(&self) -> &Arc<PluginHost> {
        &self.plugins
    }

    pub fn cache(&self) -> &ResultCache {
        &self.cache
    }

    /// The validators that run at `level`: enabled, `min_level` ≤ `level`,
    /// and in `only` when it is not empty.
    pub fn select(&self, level: Level, only: &[String]) -> Result<Vec<Arc<Plugin>>, UnknownPlugin> {
        let registry = self.plugins.registry();
        for name in only {
            if !registry.validators().any(|p| &*p.name == name) {
                return Err(UnknownPlugin {
                    name: name.clone(),
                    dir: registry.dir.display().to_string(),
                    loaded: registry
                        .validators()
                        .map(|p| p.name.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(registry
            .validators()
            .filter(|p| p.settings.enabled && p.settings.min_level <= level)
            .filter(|p| only.is_empty() || only.iter().any(|n| *n == *p.name))
            .cloned()
            .collect())
    }

    /// Validates `subject` at `level` with those of `plugins` (from
    /// [`Pipeline::select`]) whose `subjects` patterns match its name.
    /// `budget`, when given, caps every plugin call's timeout.
    pub async fn validate(
        &self,
        subject: &SubjectInput,
        level: Level,
        plugins: &[Arc<Plugin>],
        budget: Option<Duration>,
    ) -> Report {
        let started = Instant::now();
        let plugins: Vec<Arc<Plugin>> = plugins
            .iter()
            .filter(|p| {
                p.settings
                    .subjects
                    .as_ref()
                    .is_none_or(|f| f.matches(&subject.name))
            })
            .cloned()
            .collect();
        let plugins = plugins.as_slice();
        let digest = registry::digest(&subject.data);
        let key = self
            .cache
            .is_enabled()
            .then(|| cache_key(&digest, level, plugins, budget));
        if let Some(mut report) = key.as_deref().and_then(|k| self.cache.get(k)) {
            report.subject = subject.name.clone();
            report.cached = true;
            report.duration_us = micros(started);
            return report;
        }

        let mut findings = Vec::new();
        let mut runs = Vec::new();
        if let [plugin] = plugins {
            // One plugin: call it here, sparing a task hand-off between threads.
            let (run, mut found) =
                run_one(self.plugins.runtime(), plugin, subject, level, budget).await;
            runs.push(run);
            findings.append(&mut found);
        } else {
            let tasks: Vec<_> = plugins
                .iter()
                .map(|plugin| {
                    let runtime = self.plugins.runtime().clone();
                    let plugin = plugin.clone();
                    let subject = subject.clone();
                    tokio::spawn(async move {
                        run_one(&runtime, &plugin, &subject, level, budget).await
                    })
                })
                .collect();
            for (task, plugin) in tasks.into_iter().zip(plugins) {
                let (run, mut found) = task.await.unwrap_or_else(|e| {
                    // Only a bug in the host itself could panic a task: report it for that plugin.
                    (
                        run(
                            plugin,
                            Outcome::Error,
                            Some(format!("host error: {e}")),
                            0,
                            0,
                        ),
                        Vec::new(),
                    )
                });
                runs.push(run);
                findings.append(&mut found);
            }
        }
        let report = Report {
            subject: subject.name.clone(),
            digest,
            level,
            verdict: verdict(&findings, &runs),
            findings,
            plugins: runs,
            cached: false,
            duration_us: micros(started),
        };
        // Failures may be transient (a timeout under load): only cache clean runs.
        if let Some(key) = key
            && report.plugins.iter().all(|r| !r.outcome.is_failure())
        {
            self.cache.put(key, report.clone());
        }
        report
    }
}

async fn run_one(
    runtime: &Runtime,
    plugin: &Plugin,
    subject: &SubjectInput,
    level: Level,
    budget: Option<Duration>,
) -> (PluginRun, Vec<ReportFinding>) {
    let Some(mut callee) = plugin.validator() else {
        return (
            run(plugin, Outcome::Error, Some("not a validator".into()), 0, 0),
            Vec::new(),
        );
    };
    // One copy of the bytes per plugin call: the generated bindings own their
    // parameters. bindgen's `ownership: Borrowing` would lend them instead, but
    // in wasmtime 48 it emits code that does not compile for this world (tried
    // both `duplicate_if_necessary` settings). The copy is ~1 ms for a 7 MB
    // subject, next to ~100 ms of parsing it inside the plugin.
    let wit_subject = Subject {
        name: subject.name.clone(),
        content_type: subject.content_type.clone(),
        data: subject.data.to_vec(),
    };
    if let Some(budget) = budget {
        callee.limits.timeout = callee.limits.timeout.min(budget);
    }
    let called = runtime
        .call_validate(
            callee,
            &wit_subject,
            level.into(),
            &plugin.settings.config_json,
        )
        .await;
    let duration_us = called.duration.as_micros().try_into().unwrap_or(u64::MAX);
    let queue_us = called.queued.as_micros().try_into().unwrap_or(u64::MAX);
    let run = |outcome, error| run(plugin, outcome, error, duration_us, queue_us);
    match called.outcome {
        Ok(Validation::Findings(found)) => {
            let findings = found
                .into_iter()
                .map(|f| ReportFinding {
                    plugin: plugin.name.to_string(),
                    severity: f.severity.into(),
                    code: f.code,
                    message: f.message,
                    path: f.path,
                })
                .collect();
            (run(Outcome::Ok, None), findings)
        }
        Ok(Validation::NotApplicable(why)) => (run(Outcome::NotApplicable, Some(why)), Vec::new()),
        Err(failure) => {
            let outcome = match &failure {
                CallFailure::Timeout(_) => Outcome::Timeout,
                CallFailure::OutputLimit(_) => Outcome::OutputLimit,
                CallFailure::Refused(r) if r.is_quarantined() => Outcome::Quarantined,
                CallFailure::Refused(_) => Outcome::Busy,
                _ => Outcome::Error,
            };
            // Refusals are counted in metrics; a log line each would let a
            // flood of requests to a busy plugin flood the log too.
            if !matches!(failure, CallFailure::Refused(_)) {
                tracing::warn!(plugin = %plugin.name, subject = %subject.name, "validator {}: {failure}", outcome.as_str());
            }
            (run(outcome, Some(failure.to_string())), Vec::new())
        }
    }
}

fn run(
    plugin: &Plugin,
    outcome: Outcome,
    error: Option<String>,
    duration_us: u64,
    queue_us: u64,
) -> PluginRun {
    PluginRun {
        name: plugin.name.to_string(),
        version: plugin.version().to_owned(),
        outcome,
        duration_us,
        queue_us,
        error,
    }
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros().try_into().unwrap_or(u64::MAX)
}

/// Subject digest, level, budget, and each plugin's name, code digest, config digest and limits.
fn cache_key(
    subject_digest: &str,
    level: Level,
    plugins: &[Arc<Plugin>],
    budget: Option<Duration>,
) -> String {
    let mut h = Sha256::new();
    h.update(subject_digest);
    h.update(level.as_str());
    h.update(budget.map_or(u128::MAX, |b| b.as_nanos()).to_le_bytes());
    for p in plugins {
        h.update([0]);
        h.update(&*p.name);
        h.update(&p.digest);
        h.update(&p.config_digest);
        let limits = p.settings.limits;
        h.update(limits.timeout.as_nanos().to_le_bytes());
        h.update(limits.memory.to_le_bytes());
        h.update(format!("{:?}", limits.quotas));
    }
    hex::encode(h.finalize())
}
