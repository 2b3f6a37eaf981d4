//! Validation: levels, the pipeline that runs validators over a subject,
//! reports, the result cache, the handle that records reports, and monitors.

mod cache;
mod calls;
mod level;
mod metrics;
pub(crate) mod monitor;
mod pipeline;
mod repo;
mod report;
mod validation;

pub(crate) use cache::{CacheStats, ResultCache};
pub(crate) use calls::{LastError, PluginStats};
pub(crate) use level::Level;
pub(crate) use monitor::{MonitorStatuses, MonitorVerdict};
pub(crate) use pipeline::{Pipeline, SubjectInput, content_type_for};
pub(crate) use repo::{ReportQuery, ReportRepo};
pub(crate) use report::{Outcome, Report, Verdict};
pub(crate) use validation::{Request, Source, ValidateError, Validation};
