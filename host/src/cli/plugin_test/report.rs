//! The results of `assay plugin test` as text (a diff per failed case),
//! JSON, or JUnit XML for CI systems.

use std::fmt::Write as _;

use serde_json::json;

use super::run::CaseResult;

pub(crate) fn text(cases_file: &str, results: &[CaseResult], verbose: bool) -> String {
    let mut s = String::new();
    for r in results {
        let _ = writeln!(s, "{}  {}", if r.passed { "ok  " } else { "FAIL" }, r.name);
        for line in &r.diff {
            let _ = writeln!(s, "      {line}");
        }
        if verbose && r.passed {
            let _ = writeln!(
                s,
                "      {}",
                serde_json::to_string(&r.answer).unwrap_or_default()
            );
        }
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    let _ = writeln!(
        s,
        "{cases_file}: {} passed, {failed} failed",
        results.len() - failed
    );
    s
}

pub(crate) fn json(plugin: &str, cases_file: &str, results: &[CaseResult]) -> String {
    let failed = results.iter().filter(|r| !r.passed).count();
    json!({
        "plugin": plugin,
        "cases": cases_file,
        "passed": results.len() - failed,
        "failed": failed,
        "results": results,
    })
    .to_string()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows tab, newline and carriage return below 0x20, nothing else.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `testsuite` (the plugin), one `testcase` per case, a
/// `failure` with the diff for each that failed.
pub(crate) fn junit(plugin: &str, results: &[CaseResult]) -> String {
    let failed = results.iter().filter(|r| !r.passed).count();
    let total: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"assay plugin test\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{total:.3}\">",
        results.len()
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{total:.3}\">",
        escape(plugin),
        results.len()
    );
    for r in results {
        let head = format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(plugin),
            escape(&r.name),
            r.duration.as_secs_f64()
        );
        if r.passed {
            let _ = writeln!(s, "{head}/>");
        } else {
            let first = r.diff.first().cloned().unwrap_or_default();
            let _ = writeln!(
                s,
                "{head}>\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                escape(&first),
                escape(&r.diff.join("\n"))
            );
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::plugin_test::run::Answer;

    #[test]
    fn junit_escapes_and_counts() {
        let results = vec![
            CaseResult {
                name: "a <b> & \"c\"".into(),
                passed: true,
                diff: vec![],
                answer: Answer::Deliver(vec![]),
                duration: std::time::Duration::from_millis(2),
            },
            CaseResult {
                name: "bad".into(),
                passed: false,
                diff: vec!["- x".into(), "+ y\u{1}".into()],
                answer: Answer::Error("e".into()),
                duration: std::time::Duration::from_millis(1),
            },
        ];
        let xml = junit("p", &results);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"a &lt;b&gt; &amp; &quot;c&quot;\""),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"- x\" type=\"mismatch\">- x\n+ y\\u{1}</failure>"),
            "{xml}"
        );
        assert!(text("c.toml", &results, false).ends_with("c.toml: 1 passed, 1 failed\n"));
    }
}
