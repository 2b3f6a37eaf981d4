//! The validation handle the service gives the API and the monitors: select
//! the validators, run them, and record the report (history, metrics, call
//! counts), written once for both.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::calls::CallCounts;
use super::repo::{ReportMeta, ReportRepo, ReportRow};
use super::{Level, Outcome, Pipeline, Report, SubjectInput};
use crate::clock::now_ms;
use crate::store::StoreError;
use crate::telemetry::Metrics;

/// Where a validation came from: the history's `source` column and the metrics' `source` label.
#[derive(Debug, Clone)]
pub enum Source {
    Api,
    Monitor(String),
}

impl Source {
    /// The metric label: bounded, so monitor names stay out of it.
    pub fn label(&self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Monitor(_) => "monitor",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Api => f.write_str("api"),
            Source::Monitor(name) => write!(f, "monitor:{name}"),
        }
    }
}

/// A report as it was written to the history.
pub struct Recorded {
    pub id: i64,
    pub created_ms: i64,
    /// The report as JSON (an object).
    pub body: String,
}

impl Recorded {
    /// The report's JSON with its `id`, `created_at`, `source` and `actor`
    /// first: what `POST /v1/validate` answers, without serialising the
    /// report a second time.
    pub fn to_json(&self, source: &Source, actor: Option<&str>) -> String {
        let meta = serde_json::json!({
            "id": self.id,
            "created_at": crate::clock::rfc3339(self.created_ms),
            "source": source.to_string(),
            "actor": actor,
        })
        .to_string();
        let report = self.body.strip_prefix('{').unwrap_or(&self.body);
        let sep = if report.starts_with('}') { "" } else { "," };
        format!("{}{sep}{report}", &meta[..meta.len() - 1])
    }
}

/// Why a validation gave no recorded report.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    UnknownPlugin(#[from] super::pipeline::UnknownPlugin),
    #[error("no validator plugins are loaded from {0}")]
    NoValidators(String),
    /// A plugin got no call slot, so it did not check the subject.
    #[error("{plugins} busy: {why}")]
    Busy { plugins: String, why: String },
    #[error("storing the report: {0}")]
    Store(#[from] StoreError),
}

/// What one validation asks for.
pub struct Request<'a> {
    pub subject: &'a SubjectInput,
    pub level: Level,
    /// Only these plugins (all that run at `level` when empty).
    pub only: &'a [String],
    pub budget: Option<Duration>,
    pub source: Source,
    pub actor: Option<&'a str>,
}

pub struct Validation {
    pipeline: Arc<Pipeline>,
    reports: ReportRepo,
    metrics: Metrics,
    calls: Mutex<CallCounts>,
    max_report_bytes: usize,
}

impl Validation {
    pub fn new(
        pipeline: Arc<Pipeline>,
        reports: ReportRepo,
        metrics: Metrics,
        max_report_bytes: usize,
    ) -> Validation {
        Validation {
            pipeline,
            reports,
            metrics,
            calls: Mutex::default(),
            max_report_bytes,
        }
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// The validation history.
    pub fn reports(&self) -> &ReportRepo {
        &self.reports
    }

    /// Each validator's calls by outcome.
    pub fn calls(&self) -> MutexGuard<'_, CallCounts> {
        self.calls.lock().expect("call counts lock")
    }

    /// Selects the validators, runs them and records the report. A plugin
    /// refused a slot did not check the subject: no report is recorded.
    pub async fn validate_and_record(
        &self,
        req: Request<'_>,
    ) -> Result<(Report, Recorded), ValidateError> {
        let plugins = self.pipeline.select(req.level, req.only)?;
        // (Only when none were selected: a request does not load the registry twice.)
        if plugins.is_empty() {
            let registry = self.pipeline.plugins().registry();
            if registry.validators().next().is_none() {
                let dir = registry.dir.display().to_string();
                return Err(ValidateError::NoValidators(dir));
            }
        }
        let report = (self.pipeline)
            .validate(req.subject, req.level, &plugins, req.budget)
            .await;
        if let Some(busy) = report.busy_plugins() {
            let why = (report.plugins.iter())
                .filter(|p| p.outcome == Outcome::Busy)
                .find_map(|p| p.error.clone())
                .unwrap_or_default();
            return Err(ValidateError::Busy { plugins: busy, why });
        }
        let recorded = self.record(&report, &req.source, req.actor).await?;
        Ok((report, recorded))
    }

    /// Records a finished validation: history (committed before this
    /// returns), metrics and per-plugin counts. Answers the stored report.
    pub async fn record(
        &self,
        report: &Report,
        source: &Source,
        actor: Option<&str>,
    ) -> Result<Recorded, StoreError> {
        let created_ms = now_ms();
        let row = ReportRow {
            created_ms,
            meta: ReportMeta {
                source: source.to_string(),
                actor: actor.map(str::to_owned),
                subject: report.subject.clone(),
                digest: report.digest.clone(),
                level: report.level.as_str().to_owned(),
                verdict: report.verdict.as_str().to_owned(),
                findings: report.findings.len() as i64,
                cached: report.cached,
                duration_us: report.duration_us as i64,
            },
            body: report.to_bounded_json(self.max_report_bytes),
        };
        self.metrics.record_validation(report, source.label());
        self.calls().count(report);
        // The row's body is moved to the writer; the answer needs it too.
        let body = row.body.clone();
        match self.reports.insert(row).await {
            Ok(id) => {
                self.metrics.reports_stored.inc();
                Ok(Recorded {
                    id,
                    created_ms,
                    body,
                })
            }
            Err(e) => {
                self.metrics.store_write_errors.inc();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Recorded, Source};

    #[test]
    fn the_answer_is_the_stored_body_with_its_place_first() {
        let r = Recorded {
            id: 7,
            created_ms: 0,
            body: r#"{"subject":"a","findings":[]}"#.into(),
        };
        let v: serde_json::Value =
            serde_json::from_str(&r.to_json(&Source::Api, Some("ci"))).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["actor"], "ci");
        assert_eq!(v["subject"], "a");
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
        let empty = Recorded {
            body: "{}".into(),
            ..r
        };
        let v: serde_json::Value =
            serde_json::from_str(&empty.to_json(&Source::Monitor("m".into()), None)).unwrap();
        assert_eq!(v["source"], "monitor:m");
    }
}
