//! Validation: levels, the pipeline that runs validators over a subject, reports and the result cache.

mod cache;
mod level;
mod pipeline;
mod report;

pub use cache::{CacheStats, ResultCache};
pub use level::Level;
pub use pipeline::{Pipeline, SubjectInput};
pub use report::{Outcome, PluginRun, REPORT_TRUNCATED, Report, ReportFinding, Severity, Verdict};
