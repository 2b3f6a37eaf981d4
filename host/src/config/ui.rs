//! `[ui]`: the web console, the public status page and its badges.

use serde::Deserialize;

/// Paths the console may not take: the API's and the public pages'.
const TAKEN: &[&str] = &[
    "/v1", "/api", "/status", "/badge", "/metrics", "/health", "/ready",
];

/// `[ui]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSection {
    /// Serve the console: server-rendered pages for a token's holder.
    pub console: bool,
    /// Where it is served: `/` or a path such as `/console`.
    pub path: String,
    /// How often an open page refreshes its live parts, in seconds; 0: never.
    pub refresh_secs: u64,
    /// Serve `/status` and the badges of its probes to anyone, without a token.
    pub public_status: bool,
    /// The status page's heading.
    pub status_title: String,
    /// The probes the status page shows, in this order; empty: every probe.
    pub status_probes: Vec<String>,
}

impl Default for UiSection {
    fn default() -> Self {
        UiSection {
            console: true,
            path: "/".into(),
            refresh_secs: 5,
            public_status: false,
            status_title: "Service status".into(),
            status_probes: Vec::new(),
        }
    }
}

impl UiSection {
    pub fn check(&self) -> Result<(), String> {
        let p = &self.path;
        let well_formed = p.starts_with('/')
            && (p == "/" || !p.ends_with('/'))
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
            && !p.contains("//");
        if !well_formed {
            return Err(format!(
                "ui.path {p:?} must be \"/\" or a path such as \"/console\" (letters, digits, - _ . /; no trailing slash)"
            ));
        }
        if let Some(t) = TAKEN
            .iter()
            .find(|t| p == *t || p.starts_with(&format!("{t}/")))
        {
            return Err(format!("ui.path {p:?} is taken by {t}"));
        }
        if self.refresh_secs > 3600 {
            return Err("ui.refresh_secs must be at most 3600 (0 turns live updates off)".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = self.status_probes.iter().find(|n| !seen.insert(*n)) {
            return Err(format!("ui.status_probes names {dup:?} twice"));
        }
        Ok(())
    }

    /// The console's path with a trailing slash: where its pages' links start.
    pub fn base(&self) -> String {
        if self.path == "/" {
            "/".into()
        } else {
            format!("{}/", self.path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Result<(), String> {
        UiSection {
            path: path.into(),
            ..UiSection::default()
        }
        .check()
    }

    #[test]
    fn the_console_path_is_checked() {
        assert!(at("/").is_ok() && at("/console").is_ok() && at("/ops/ui").is_ok());
        for bad in ["", "console", "/console/", "/a b", "//x"] {
            assert!(at(bad).unwrap_err().contains("must be"), "{bad:?}");
        }
        assert!(at("/v1").unwrap_err().contains("taken by /v1"));
        assert!(at("/status/x").unwrap_err().contains("taken"));
        assert!(at("/statusx").is_ok());
        let dup = UiSection {
            status_probes: vec!["a".into(), "a".into()],
            ..UiSection::default()
        };
        assert!(dup.check().unwrap_err().contains("twice"));
    }
}
