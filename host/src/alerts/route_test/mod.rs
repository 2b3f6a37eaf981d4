//! Routing tests: a file of cases (alerts at a time of day, with silences)
//! and what each alert should come to, run through the real router chain,
//! silences, inhibition and grouping: `assay alert route-test`, and the gate
//! that `[alerting] route_tests` puts before every routing change.
//!
//! ```toml
//! at = "2026-11-23T15:00:00Z"        # the time of cases that give none (else: now)
//!
//! [[case]]
//! name = "a disk filling at night wakes the on-call"
//! at = "2026-11-28T03:00:00+01:00"   # routers read this as their wall clock
//! [[case.alert]]
//! name = "DiskFull"
//! severity = "critical"
//! labels = { service = "db" }
//! expect = ["pager", "team-chat"]    # exactly these channels are notified
//!
//! [[case]]
//! name = "a node down mutes its disk alerts"
//! [[case.alert]]
//! name = "NodeDown"
//! severity = "critical"
//! labels = { node = "a" }
//! expect = ["pager"]
//! [[case.alert]]
//! name = "DiskFull"
//! labels = { node = "a" }
//! expect = "inhibited"               # or "silenced", "suppressed" (a router), [] (nowhere)
//! [[case.silence]]                   # silences in force during the case
//! matchers = ['service="db"']
//! ```

mod cases;
mod report;
mod run;

pub use cases::{Case, Cases, CasesError, Expect};
pub use report::{AlertResult, CaseResult, Got, Report};
pub(crate) use run::run;
