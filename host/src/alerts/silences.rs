//! Silences: matchers that mute alerts from a start to an end (stored by [`super::repo`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::matchers::{Matcher, all_match};
use crate::clock::{now_ms, rfc3339};

#[derive(Debug, Clone)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub created_by: String,
    pub comment: String,
    pub created_ms: i64,
    pub starts_ms: i64,
    pub ends_ms: i64,
}

/// `POST /v1/silences`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// e.g. `["alertname=\"ProbeFailing\"", "probe=~\"api.*\""]`; all must match.
    pub matchers: Vec<String>,
    pub comment: String,
    /// Defaults to the caller's token name.
    pub created_by: Option<String>,
    /// RFC 3339; defaults to now.
    pub starts_at: Option<String>,
    /// RFC 3339; or give `duration` instead.
    pub ends_at: Option<String>,
    /// e.g. `2h`, from `starts_at`.
    pub duration: Option<String>,
}

/// What the API shows.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    pub id: String,
    pub matchers: Vec<String>,
    pub created_by: String,
    pub comment: String,
    pub created_at: String,
    pub starts_at: String,
    pub ends_at: String,
    /// `pending`, `active` or `expired`.
    pub state: &'static str,
}

impl Silence {
    pub fn is_active(&self, now: i64) -> bool {
        self.starts_ms <= now && now < self.ends_ms
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        all_match(&self.matchers, labels)
    }

    pub fn view(&self, now: i64) -> SilenceView {
        SilenceView {
            id: self.id.clone(),
            matchers: self.matchers.iter().map(ToString::to_string).collect(),
            created_by: self.created_by.clone(),
            comment: self.comment.clone(),
            created_at: rfc3339(self.created_ms),
            starts_at: rfc3339(self.starts_ms),
            ends_at: rfc3339(self.ends_ms),
            state: if now < self.starts_ms {
                "pending"
            } else if now < self.ends_ms {
                "active"
            } else {
                "expired"
            },
        }
    }
}

fn parse_time(key: &str, text: &str) -> Result<i64, String> {
    humantime::parse_rfc3339_weak(text.trim())
        .map_err(|e| format!("{key}: {text:?} is not an RFC 3339 time ({e})"))
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
}

impl NewSilence {
    /// Checks the request; the error names the field.
    pub fn into_silence(self, actor: &str) -> Result<Silence, String> {
        if self.matchers.is_empty() {
            return Err(
                "matchers: give at least one (a silence of everything is not allowed)".into(),
            );
        }
        let matchers = Matcher::parse_all(&self.matchers).map_err(|e| format!("matchers: {e}"))?;
        if self.comment.trim().is_empty() {
            return Err("comment: say why the alerts are silenced".into());
        }
        let now = now_ms();
        let starts = match &self.starts_at {
            Some(t) => parse_time("starts_at", t)?,
            None => now,
        };
        let ends = match (&self.ends_at, &self.duration) {
            (Some(t), None) => parse_time("ends_at", t)?,
            (None, Some(d)) => {
                let d = humantime::parse_duration(d.trim())
                    .map_err(|e| format!("duration: {d:?} is not a duration ({e})"))?;
                starts + d.as_millis() as i64
            }
            _ => return Err("give exactly one of ends_at and duration".into()),
        };
        if ends <= starts.max(now) {
            return Err("the silence must end in the future, after it starts".into());
        }
        Ok(Silence {
            id: super::notification::new_key(),
            matchers,
            created_by: self.created_by.unwrap_or_else(|| actor.to_owned()),
            comment: self.comment,
            created_ms: now,
            starts_ms: starts,
            ends_ms: ends,
        })
    }
}
