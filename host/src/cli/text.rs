//! Text rendering of reports and plugin details for a terminal.

use std::io::Write;

use anyhow::Context;

use crate::validate::{Outcome, Report, Verdict};

fn ms(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

/// `ledger.json: FAIL (level full, 4 plugins, 3.1 ms)` then one line per finding
/// and one per plugin that did not simply run.
pub(super) fn write_report(out: &mut impl Write, r: &Report) -> anyhow::Result<()> {
    let verdict = match r.verdict {
        Verdict::Pass => "pass",
        Verdict::Warn => "WARN",
        Verdict::Error => "ERROR",
        Verdict::Fail => "FAIL",
    };
    let cached = if r.cached { ", cached" } else { "" };
    let n = r.plugins.len();
    let mut s = format!(
        "{}: {verdict} (level {}, {n} plugin{}, {} finding{}, {}{cached})\n",
        r.subject,
        r.level,
        if n == 1 { "" } else { "s" },
        r.findings.len(),
        if r.findings.len() == 1 { "" } else { "s" },
        ms(r.duration_us),
    );
    for f in &r.findings {
        let path = match f.path.as_deref() {
            Some("") => "(document)".to_string(),
            Some(p) => p.to_string(),
            None => "-".to_string(),
        };
        s.push_str(&format!(
            "  {:<8} {:<28} {path}  {}  [{}]\n",
            f.severity.as_str(),
            f.code,
            f.message,
            f.plugin
        ));
    }
    for p in &r.plugins {
        let why = p.error.as_deref().unwrap_or("");
        match p.outcome {
            Outcome::Ok => {}
            Outcome::NotApplicable => {
                s.push_str(&format!("  plugin {}: not applicable: {why}\n", p.name))
            }
            _ => s.push_str(&format!(
                "  plugin {}: {}: {why} ({})\n",
                p.name,
                p.outcome.as_str(),
                ms(p.duration_us)
            )),
        }
    }
    out.write_all(s.as_bytes()).context("writing to stdout")
}

/// `3 subjects: 2 pass, 1 fail`.
pub(super) fn write_summary(out: &mut impl Write, verdicts: &[Verdict]) -> anyhow::Result<()> {
    let count = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
    let parts: Vec<String> = [Verdict::Pass, Verdict::Warn, Verdict::Error, Verdict::Fail]
        .into_iter()
        .filter(|v| count(*v) > 0)
        .map(|v| format!("{} {}", count(v), v.as_str()))
        .collect();
    writeln!(out, "{} subjects: {}", verdicts.len(), parts.join(", ")).context("writing to stdout")
}
