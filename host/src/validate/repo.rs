//! The reports table's one owner: recording reports, listing and reading
//! them back, and their retention.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock::rfc3339;
use crate::store::{Row, Stmt, Store, StoreError, Value, args};

/// What is stored of a report beside its id, time and body.
#[derive(Debug, Clone, Serialize)]
pub struct ReportMeta {
    /// `api` or `monitor:NAME`.
    pub source: String,
    /// The token name that asked for it, when auth is on.
    pub actor: Option<String>,
    pub subject: String,
    pub digest: String,
    pub level: String,
    pub verdict: String,
    pub findings: i64,
    pub cached: bool,
    pub duration_us: i64,
}

/// A report to record.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub created_ms: i64,
    pub meta: ReportMeta,
    /// The whole report, as JSON.
    pub body: String,
}

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

/// A report as listed (the findings themselves are in [`ReportRepo::get`]).
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub id: i64,
    pub created_at: String,
    #[serde(flatten)]
    pub meta: ReportMeta,
}

fn summary(r: &mut Row) -> Result<ReportSummary, StoreError> {
    Ok(ReportSummary {
        id: r.get(0)?,
        created_at: rfc3339(r.get(1)?),
        meta: ReportMeta {
            source: r.take_text(2)?,
            actor: r.get(3)?,
            subject: r.take_text(4)?,
            digest: r.take_text(5)?,
            level: r.take_text(6)?,
            verdict: r.take_text(7)?,
            findings: r.get(8)?,
            cached: r.get(9)?,
            duration_us: r.get(10)?,
        },
    })
}

/// The columns of a [`ReportSummary`], in [`summary`]'s order.
macro_rules! columns {
    () => {
        "id, created_ms, source, actor, subject, digest, level, verdict, findings, cached, duration_us"
    };
}
const COLUMNS: &str = columns!();

/// The validation history.
#[derive(Clone)]
pub struct ReportRepo {
    store: Arc<Store>,
}

impl ReportRepo {
    pub fn new(store: Arc<Store>) -> ReportRepo {
        ReportRepo { store }
    }

    /// Records a report; answers its id once it is committed.
    pub async fn insert(&self, r: ReportRow) -> Result<i64, StoreError> {
        let m = r.meta;
        (self.store)
            .insert(
                "INSERT INTO reports (created_ms, source, actor, subject, digest, level, verdict,
                                      findings, cached, duration_us, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
                args![
                    r.created_ms,
                    m.source,
                    m.actor,
                    m.subject,
                    m.digest,
                    m.level,
                    m.verdict,
                    m.findings,
                    m.cached,
                    m.duration_us,
                    r.body
                ],
            )
            .await
    }

    pub async fn list(&self, q: ReportQuery) -> Result<Vec<ReportSummary>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM reports WHERE 1=1");
        let mut args: Vec<Value> = Vec::new();
        let mut filter = |clause: &str, v: Value| {
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
        let rows = self.store.query(sql, args).await?;
        rows.into_iter().map(|mut r| summary(&mut r)).collect()
    }

    /// The whole report with its id, time, source and actor; `None` if there is no such id.
    pub async fn get(&self, id: i64) -> Result<Option<serde_json::Value>, StoreError> {
        let sql = concat!("SELECT ", columns!(), ", body FROM reports WHERE id = ?1");
        let Some(mut row) = self.store.query_opt(sql, args![id]).await? else {
            return Ok(None);
        };
        let meta = summary(&mut row)?;
        let body = row.take_text(11)?;
        let mut value: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| StoreError::Decode(format!("report {id} is not valid JSON: {e}")))?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("id".into(), meta.id.into());
            obj.insert("created_at".into(), meta.created_at.into());
            obj.insert("source".into(), meta.meta.source.into());
            obj.insert("actor".into(), meta.meta.actor.into());
        }
        Ok(Some(value))
    }

    /// Deletes reports older than `max_age`, then all but the newest
    /// `max_reports`; answers how many went.
    pub async fn prune(&self, max_age: Duration, max_reports: u64) -> Result<i64, StoreError> {
        const OLD: &[&str] = &["DELETE FROM reports WHERE created_ms < ?1"];
        let old = self.store.delete_older(OLD, max_age).await?;
        let over = Stmt::exec(
            "DELETE FROM reports WHERE id <= (SELECT id FROM reports ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            args![max_reports as i64],
        );
        let over = self.store.write(vec![over]).wait().await?;
        Ok(old + over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now_ms;

    fn row(subject: &str, verdict: &str, created_ms: i64) -> ReportRow {
        ReportRow {
            created_ms,
            meta: ReportMeta {
                source: "api".into(),
                actor: None,
                subject: subject.into(),
                digest: "sha256:00".into(),
                level: "minimal".into(),
                verdict: verdict.into(),
                findings: 0,
                cached: false,
                duration_us: 5,
            },
            body: r#"{"subject":"x","findings":[]}"#.into(),
        }
    }

    #[tokio::test]
    async fn reports_round_trip_filter_and_survive_reopening() {
        for t in crate::store::testing::stores().await {
            let s = ReportRepo::new(t.store.clone());
            let now = now_ms();
            let a = s.insert(row("a.json", "pass", now)).await.unwrap();
            let b = s.insert(row("b.json", "fail", now)).await.unwrap();
            assert!(b > a, "{}", t.backend);
            let only_b = ReportQuery {
                verdict: Some("fail".into()),
                limit: 10,
                ..Default::default()
            };
            let found = s.list(only_b).await.unwrap();
            assert_eq!(found.len(), 1, "{}", t.backend);
            assert_eq!(found[0].meta.subject, "b.json");
            t.store.close().await;
            assert!(matches!(
                s.insert(row("c", "pass", now)).await,
                Err(StoreError::Closed)
            ));

            let s = ReportRepo::new(t.reopen().await);
            let full = s.get(a).await.unwrap().unwrap();
            assert_eq!(full["id"], a, "{}", t.backend);
            assert_eq!(full["source"], "api");
            assert!(s.get(999).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn pruning_keeps_the_newest_and_drops_the_old() {
        for t in crate::store::testing::stores().await {
            let s = ReportRepo::new(t.store.clone());
            let now = now_ms();
            s.insert(row("old", "pass", now - 7_200_000)).await.unwrap();
            for i in 0..5 {
                s.insert(row(&format!("n{i}"), "pass", now)).await.unwrap();
            }
            assert_eq!(
                s.prune(Duration::from_secs(3600), 3).await.unwrap(),
                3,
                "{}",
                t.backend
            );
            let left = s
                .list(ReportQuery {
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap();
            let names: Vec<_> = left.iter().map(|r| r.meta.subject.as_str()).collect();
            assert_eq!(names, ["n4", "n3", "n2"], "{}", t.backend);
        }
    }
}
