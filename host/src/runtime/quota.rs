//! Per-call quotas on what a plugin hands back: findings, field sizes, result bytes, output lines, sockets, deliveries.
//!
//! The host enforces these after a call returns and before anything is
//! stored or logged, so a plugin's output costs at most what its quotas
//! allow, however much it tries to return. Each quota has a default here and
//! a setting in `[plugin_defaults]` (and, for most, the plugin's sidecar).

use super::Quotas;
use super::bindings::{Finding, PluginInfo, Severity};

/// The code of the finding that stands for the findings over `max_findings`.
pub const TRUNCATED_CODE: &str = "assay.findings_truncated";
/// What a cut field ends with.
pub const CUT_MARKER: &str = "…[truncated]";

/// Limits on `info()`, checked when a plugin loads: the contract's, not settings.
pub const MAX_INFO_NAME: usize = 128;
pub const MAX_INFO_VERSION: usize = 64;
pub const MAX_INFO_DESCRIPTION: usize = 1024;

/// A call's answer was larger than `max_result_bytes` even after the cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    pub bytes: usize,
    pub limit: u32,
}

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the plugin's answer is {} bytes, over max_result_bytes = {}",
            self.bytes, self.limit
        )
    }
}

/// Cuts `s` to at most `max` bytes (at a char boundary), marking the cut.
pub fn cut(s: &mut String, max: u32) -> bool {
    let max = max as usize;
    if s.len() <= max {
        return false;
    }
    // The marker only where it fits: the result is never over `max`.
    let marker = if max > CUT_MARKER.len() {
        CUT_MARKER
    } else {
        ""
    };
    let mut at = max - marker.len();
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    s.push_str(marker);
    true
}

impl Quotas {
    /// Bounds a validator's findings: at most `max_findings` (plus one
    /// marker finding, as severe as the worst one dropped, so the verdict
    /// stays true), each field cut to its limit, and the whole within
    /// `max_result_bytes`.
    pub fn bound_findings(&self, mut found: Vec<Finding>) -> Result<Vec<Finding>, OverLimit> {
        let keep = self.max_findings as usize;
        if found.len() > keep {
            let dropped = found.split_off(keep);
            let worst = dropped.iter().map(|f| rank(f.severity)).max().unwrap_or(0);
            found.push(Finding {
                severity: SEVERITIES[worst],
                code: TRUNCATED_CODE.into(),
                message: format!(
                    "{} more finding(s) were dropped: this plugin may report at most {keep} per call (max_findings)",
                    dropped.len()
                ),
                path: None,
            });
        }
        let mut bytes = 0;
        for f in &mut found {
            cut(&mut f.code, self.max_code_bytes);
            cut(&mut f.message, self.max_message_bytes);
            if let Some(p) = &mut f.path {
                cut(p, self.max_path_bytes);
            }
            bytes += f.code.len() + f.message.len() + f.path.as_ref().map_or(0, String::len) + 8;
        }
        self.within(bytes)?;
        Ok(found)
    }

    /// Checks a total against `max_result_bytes`.
    pub fn within(&self, bytes: usize) -> Result<(), OverLimit> {
        if bytes > self.max_result_bytes as usize {
            Err(OverLimit {
                bytes,
                limit: self.max_result_bytes,
            })
        } else {
            Ok(())
        }
    }
}

const SEVERITIES: [Severity; 4] = [
    Severity::Info,
    Severity::Warning,
    Severity::Error,
    Severity::Critical,
];

fn rank(s: Severity) -> usize {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
        Severity::Critical => 3,
    }
}

/// Checks `info()` against the contract's limits; the message names the field.
pub fn check_info(info: &PluginInfo) -> Result<(), String> {
    for (field, value, max) in [
        ("name", &info.name, MAX_INFO_NAME),
        ("version", &info.version, MAX_INFO_VERSION),
        ("description", &info.description, MAX_INFO_DESCRIPTION),
    ] {
        if value.len() > max {
            return Err(format!(
                "info().{field} is {} bytes; the limit is {max}",
                value.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity, message: &str) -> Finding {
        Finding {
            severity,
            code: "c".into(),
            message: message.into(),
            path: Some("/a".into()),
        }
    }

    #[test]
    fn findings_past_the_cap_become_one_marker_as_severe_as_the_worst_dropped() {
        let q = Quotas {
            max_findings: 2,
            ..Quotas::default()
        };
        let mut found = vec![finding(Severity::Info, "a"); 2];
        found.push(finding(Severity::Error, "b"));
        found.push(finding(Severity::Warning, "c"));
        let out = q.bound_findings(found).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].code, TRUNCATED_CODE);
        assert_eq!(out[2].severity, Severity::Error);
        assert!(
            out[2].message.starts_with("2 more finding(s)"),
            "{}",
            out[2].message
        );
    }

    #[test]
    fn long_fields_are_cut_with_a_marker_and_the_total_is_bounded() {
        let q = Quotas {
            max_message_bytes: 20,
            max_result_bytes: 100,
            ..Quotas::default()
        };
        let out = q
            .bound_findings(vec![finding(Severity::Info, &"é".repeat(50))])
            .unwrap();
        assert!(out[0].message.len() <= 20 && out[0].message.ends_with(CUT_MARKER));
        let mut tiny = "abcdef".to_owned();
        assert!(cut(&mut tiny, 3));
        assert_eq!(tiny, "abc");
        let err = q
            .bound_findings(vec![finding(Severity::Info, "x"); 10])
            .unwrap_err();
        assert_eq!(err.limit, 100);
    }

    #[test]
    fn info_fields_are_checked_by_name() {
        let mut info = PluginInfo {
            name: "n".into(),
            version: "1".into(),
            description: String::new(),
        };
        assert!(check_info(&info).is_ok());
        info.version = "v".repeat(65);
        assert!(check_info(&info).unwrap_err().contains("info().version"));
    }
}
