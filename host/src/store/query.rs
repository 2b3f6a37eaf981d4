//! Reading the history: report lists with filters, one report, the audit log.

use crate::clock::rfc3339;
use rusqlite::{OptionalExtension, Row, params_from_iter, types::Value as SqlValue};
use serde::Serialize;

use super::{Store, StoreError};

/// Filters of `GET /v1/reports`; newest first.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub subject: Option<String>,
    pub verdict: Option<String>,
    pub source: Option<String>,
    pub since_ms: Option<i64>,
    /// Only reports with a smaller id: the next page after the last id seen.
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// A report as listed (the findings themselves are in [`Store::report`]).
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub id: i64,
    pub created_at: String,
    pub source: String,
    pub actor: Option<String>,
    pub subject: String,
    pub digest: String,
    pub level: String,
    pub verdict: String,
    pub findings: i64,
    pub cached: bool,
    pub duration_us: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub result: String,
    pub detail: String,
}

fn summary(r: &Row<'_>) -> rusqlite::Result<ReportSummary> {
    Ok(ReportSummary {
        id: r.get(0)?,
        created_at: rfc3339(r.get(1)?),
        source: r.get(2)?,
        actor: r.get(3)?,
        subject: r.get(4)?,
        digest: r.get(5)?,
        level: r.get(6)?,
        verdict: r.get(7)?,
        findings: r.get(8)?,
        cached: r.get(9)?,
        duration_us: r.get(10)?,
    })
}

const COLUMNS: &str =
    "id, created_ms, source, actor, subject, digest, level, verdict, findings, cached, duration_us";

impl Store {
    pub async fn reports(&self, q: ReportQuery) -> Result<Vec<ReportSummary>, StoreError> {
        self.read(move |c| {
            let mut sql = format!("SELECT {COLUMNS} FROM reports WHERE 1=1");
            let mut args: Vec<SqlValue> = Vec::new();
            let mut filter = |clause: &str, v: SqlValue| {
                args.push(v);
                sql.push_str(&format!(" AND {clause} ?{}", args.len()));
            };
            if let Some(s) = q.subject {
                filter("subject =", s.into());
            }
            if let Some(v) = q.verdict {
                filter("verdict =", v.into());
            }
            if let Some(s) = q.source {
                filter("source =", s.into());
            }
            if let Some(t) = q.since_ms {
                filter("created_ms >=", t.into());
            }
            if let Some(id) = q.before_id {
                filter("id <", id.into());
            }
            sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", q.limit));
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(args), summary)?;
            rows.collect()
        })
        .await
    }

    /// The whole report with its id, time, source and actor; `None` if there is no such id.
    pub async fn report(&self, id: i64) -> Result<Option<serde_json::Value>, StoreError> {
        let row = self
            .read(move |c| {
                c.query_row(
                    &format!("SELECT {COLUMNS}, body FROM reports WHERE id = ?1"),
                    [id],
                    |r| Ok((summary(r)?, r.get::<_, String>(11)?)),
                )
                .optional()
            })
            .await?;
        let Some((meta, body)) = row else {
            return Ok(None);
        };
        let mut value: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| StoreError::Write(format!("report {id} is not valid JSON: {e}")))?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("id".into(), meta.id.into());
            obj.insert("created_at".into(), meta.created_at.into());
            obj.insert("source".into(), meta.source.into());
            obj.insert("actor".into(), meta.actor.into());
        }
        Ok(Some(value))
    }

    /// The newest `limit` audit entries.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT id, at_ms, actor, action, target, result, detail FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit], |r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: rfc3339(r.get(1)?),
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    result: r.get(5)?,
                    detail: r.get(6)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AuditEntry, ReportRow, Retention};
    use super::*;
    use crate::clock::now_ms;
    use std::time::Duration;

    fn row(subject: &str, verdict: &str, created_ms: i64) -> ReportRow {
        ReportRow {
            created_ms,
            source: "api".into(),
            actor: None,
            subject: subject.into(),
            digest: "sha256:00".into(),
            level: "minimal".into(),
            verdict: verdict.into(),
            findings: 0,
            cached: false,
            duration_us: 5,
            body: r#"{"subject":"x","findings":[]}"#.into(),
        }
    }

    fn store(dir: &std::path::Path, max_reports: u64) -> Store {
        let retention = Retention {
            max_age: Duration::from_secs(3600),
            max_reports,
            probe_max_age: Duration::from_secs(3600),
        };
        Store::open(&dir.join("sub/assay.db"), retention, false).unwrap()
    }

    #[tokio::test]
    async fn reports_round_trip_filter_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), 100);
        let now = now_ms();
        let a = s.insert_report(row("a.json", "pass", now)).await.unwrap();
        let b = s.insert_report(row("b.json", "fail", now)).await.unwrap();
        assert!(b > a);
        let only_b = ReportQuery {
            verdict: Some("fail".into()),
            limit: 10,
            ..Default::default()
        };
        let found = s.reports(only_b).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].subject, "b.json");
        s.audit(AuditEntry {
            at_ms: now,
            actor: "ops".into(),
            action: "cache.clear".into(),
            target: "cache".into(),
            result: "ok".into(),
            detail: String::new(),
        })
        .await
        .unwrap();
        s.close();
        assert!(matches!(
            s.insert_report(row("c", "pass", now)).await,
            Err(StoreError::Closed)
        ));

        let s = store(dir.path(), 100);
        let full = s.report(a).await.unwrap().unwrap();
        assert_eq!(full["id"], a);
        assert_eq!(full["source"], "api");
        assert!(s.report(999).await.unwrap().is_none());
        assert_eq!(s.audit_log(10).await.unwrap()[0].actor, "ops");
    }

    #[tokio::test]
    async fn pruning_keeps_the_newest_and_drops_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), 3);
        let now = now_ms();
        s.insert_report(row("old", "pass", now - 7_200_000))
            .await
            .unwrap();
        for i in 0..5 {
            s.insert_report(row(&format!("n{i}"), "pass", now))
                .await
                .unwrap();
        }
        assert_eq!(s.prune().await.unwrap(), 3);
        let left = s
            .reports(ReportQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let names: Vec<_> = left.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(names, ["n4", "n3", "n2"]);
    }
}
