//! Validation: levels, the pipeline that runs validators over a subject,
//! reports, the result cache, the handle that records reports, and monitors.

mod cache;
mod calls;
mod level;
mod metrics;
pub mod monitor;
mod pipeline;
mod repo;
mod report;
mod validation;

pub use cache::{CacheStats, ResultCache};
pub use calls::{CallCounts, Calls, LastError, PluginStats};
pub use level::Level;
pub use monitor::{MonitorStatus, MonitorStatuses, MonitorVerdict};
pub use pipeline::{Pipeline, SubjectInput, UnknownPlugin};
pub use repo::{ReportMeta, ReportQuery, ReportRepo, ReportRow, ReportSummary};
pub use report::{Outcome, PluginRun, REPORT_TRUNCATED, Report, ReportFinding, Severity, Verdict};
pub use validation::{Recorded, Request, Source, ValidateError, Validation};
