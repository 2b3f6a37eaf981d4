//! The probe results table's one owner: results appended without waiting
//! for the commit (each also counted in its hour and day of `probe_uptime`),
//! read back as a probe's history, its uptime and its state changes, pruned
//! in chunks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::clock::{now_ms, rfc3339};
use crate::cluster::Fence;
use crate::store::{Row, Stmt, Store, StoreError, args};

/// A probe result to append.
#[derive(Debug, Clone)]
pub struct ProbeRow {
    pub probe: String,
    pub at_ms: i64,
    pub duration_us: i64,
    /// `pass`, `warn`, `fail` or `unknown`.
    pub status: String,
    /// The instance's state after this result.
    pub state: String,
    /// Since when it has been in that state.
    pub since_ms: i64,
    /// The result as the API shows it (JSON), for the replicas that do not run the probe.
    pub shown: String,
    pub message: String,
    /// JSON array of `{name, value, unit}`.
    pub observations: String,
    /// JSON array of refused attempts.
    pub denied: String,
    /// `schedule` or `manual`.
    pub trigger: String,
}

#[cfg(test)]
impl ProbeRow {
    /// A passing result of `probe` now, saying `message`.
    pub fn example(probe: &str, message: &str) -> ProbeRow {
        ProbeRow {
            probe: probe.into(),
            at_ms: now_ms(),
            duration_us: 1,
            status: "pass".into(),
            state: "passing".into(),
            since_ms: now_ms(),
            shown: "{}".into(),
            message: message.into(),
            observations: "[]".into(),
            denied: "[]".into(),
            trigger: "schedule".into(),
        }
    }
}

/// A stored probe result, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRecord {
    pub id: i64,
    pub at: String,
    pub duration_ms: f64,
    pub status: String,
    pub state: String,
    pub message: String,
    pub observations: serde_json::Value,
    pub denied: serde_json::Value,
    pub trigger: String,
}

/// A probe's latest state as the replica running it stored it.
#[derive(Debug, Clone)]
pub struct SharedState {
    pub state: String,
    pub since_ms: i64,
    /// The last result, as the API shows it.
    pub result: serde_json::Value,
}

/// The probe results.
#[derive(Clone)]
pub struct ProbeRepo {
    store: Arc<Store>,
    /// Among replicas: each result also updates `probe_state`, which the others read.
    shared: bool,
}

impl ProbeRepo {
    /// Most rows one [`ProbeRepo::prune`] deletes; when it deleted this
    /// many, call it again. (Thousands of probes write millions of rows a
    /// day, and one big DELETE would hold up every commit behind it.)
    pub const PRUNE_CHUNK: i64 = 20_000;

    pub fn new(store: Arc<Store>, shared: bool) -> ProbeRepo {
        ProbeRepo { store, shared }
    }

    /// Queues a probe result for the writer. The scheduler does not wait for
    /// the commit (the latest state lives in memory). With a `fence` the row
    /// lands only if that lease is still held with that token.
    pub fn record(&self, p: ProbeRow, fence: Option<Fence>) {
        self.store.write_detached(self.statements(p, fence));
    }

    fn statements(&self, p: ProbeRow, fence: Option<Fence>) -> Vec<Stmt> {
        let mut stmts = Vec::with_capacity(4);
        if self.shared {
            stmts.push(share(&p, fence.as_ref()));
        }
        for span in [HOUR_MS, DAY_MS] {
            stmts.push(count(&p, span, fence.as_ref()));
        }
        stmts.push(insert(p, fence));
        stmts
    }

    /// Every probe's latest state as stored by the replica running it.
    pub async fn shared_states(&self) -> Result<HashMap<String, SharedState>, StoreError> {
        let rows = self.store.query(
            "SELECT probe, state, since_ms, result FROM probe_state",
            args![],
        );
        rows.await?
            .into_iter()
            .map(|mut r| {
                let probe = r.take_text(0)?;
                let state = SharedState {
                    state: r.take_text(1)?,
                    since_ms: r.get(2)?,
                    result: r.json(3)?,
                };
                Ok((probe, state))
            })
            .collect()
    }

    /// [`ProbeRepo::record`], waiting for the commit; answers the rows written (0: fenced off).
    #[cfg(test)]
    pub async fn record_fenced(
        &self,
        p: ProbeRow,
        fence: Option<Fence>,
    ) -> Result<i64, StoreError> {
        self.store.write(self.statements(p, fence)).wait().await
    }

    /// Deletes results older than `max_age`, at most [`ProbeRepo::PRUNE_CHUNK`]
    /// of them; answers how many went.
    pub async fn prune(&self, max_age: Duration) -> Result<i64, StoreError> {
        let cutoff = now_ms() - max_age.as_millis() as i64;
        let delete = Stmt::exec(
            "DELETE FROM probe_results WHERE id IN
               (SELECT id FROM probe_results WHERE at_ms < ?1 ORDER BY id LIMIT ?2)",
            args![cutoff, ProbeRepo::PRUNE_CHUNK],
        );
        self.store.write(vec![delete]).wait().await
    }

    /// Deletes the hourly and daily counts older than [`UPTIME_KEPT_MS`].
    pub async fn prune_uptime(&self) -> Result<i64, StoreError> {
        let delete = Stmt::exec(
            "DELETE FROM probe_uptime WHERE bucket_ms < ?1",
            args![now_ms() - UPTIME_KEPT_MS],
        );
        self.store.write(vec![delete]).wait().await
    }

    /// Uptime over 24 h, 7 d and 30 d at `now_ms` (see [`Windows`]) of the
    /// `probes` given (all when `None`) that have results in them: one row
    /// per probe, summed by the store.
    pub async fn uptime(
        &self,
        now_ms: i64,
        probes: Option<&[String]>,
    ) -> Result<HashMap<String, Uptime>, StoreError> {
        let w = Windows::at(now_ms);
        let mut values = args![HOUR_MS, w.day_from, DAY_MS, w.month_from, w.week_from];
        let filter = probe_filter(probes, &mut values);
        let sum = |cond: &str, col: &str| {
            format!("CAST(SUM(CASE WHEN {cond} THEN {col} ELSE 0 END) AS BIGINT)")
        };
        let cols: Vec<String> = [
            "span_ms = ?1",
            "span_ms = ?3 AND bucket_ms >= ?5",
            "span_ms = ?3",
        ]
        .iter()
        .flat_map(|cond| ["up", "total", "duration_us"].map(|col| sum(cond, col)))
        .collect();
        let sql = format!(
            "SELECT probe, {} FROM probe_uptime
             WHERE ((span_ms = ?1 AND bucket_ms >= ?2) OR (span_ms = ?3 AND bucket_ms >= ?4)){filter}
             GROUP BY probe",
            cols.join(", ")
        );
        let mut out = HashMap::new();
        for mut r in self.store.query(sql, values).await? {
            let counts = |i: usize| -> Result<Counts, StoreError> {
                Ok(Counts {
                    up: r.get(i)?,
                    total: r.get(i + 1)?,
                    duration_us: r.get(i + 2)?,
                })
            };
            let u = Uptime {
                day: counts(1)?,
                week: counts(4)?,
                month: counts(7)?,
            };
            out.insert(r.take_text(0)?, u);
        }
        Ok(out)
    }

    /// Each UTC day's counts over the 30-day window, oldest first (days
    /// without results are absent), of the `probes` given (all when `None`).
    pub async fn daily(
        &self,
        now_ms: i64,
        probes: Option<&[String]>,
    ) -> Result<HashMap<String, Vec<(i64, Counts)>>, StoreError> {
        let w = Windows::at(now_ms);
        let mut values = args![DAY_MS, w.month_from];
        let filter = probe_filter(probes, &mut values);
        let rows = self.store.query(
            format!(
                "SELECT probe, bucket_ms, up, total, duration_us FROM probe_uptime
                 WHERE span_ms = ?1 AND bucket_ms >= ?2{filter} ORDER BY bucket_ms"
            ),
            values,
        );
        let mut out: HashMap<String, Vec<(i64, Counts)>> = HashMap::new();
        for mut r in rows.await? {
            let probe = r.take_text(0)?;
            let day = r.get(1)?;
            let c = Counts {
                up: r.get(2)?,
                total: r.get(3)?,
                duration_us: r.get(4)?,
            };
            out.entry(probe).or_default().push((day, c));
        }
        Ok(out)
    }

    /// The stored results of `probe` where its state changed (the first
    /// stored result counts as one), newest first.
    pub async fn state_changes(
        &self,
        probe: &str,
        limit: u32,
    ) -> Result<Vec<StateChange>, StoreError> {
        let rows = self.store.query(
            "SELECT at_ms, state, message FROM (
                 SELECT id, at_ms, state, message, LAG(state) OVER (ORDER BY id) AS prev
                 FROM probe_results WHERE probe = ?1
             ) AS r WHERE prev IS NULL OR prev <> state ORDER BY id DESC LIMIT ?2",
            args![probe, limit],
        );
        rows.await?
            .into_iter()
            .map(|mut r| {
                Ok(StateChange {
                    at: rfc3339(r.get(0)?),
                    state: r.take_text(1)?,
                    message: r.take_text(2)?,
                })
            })
            .collect()
    }

    /// A probe's stored results, newest first.
    pub async fn history(&self, probe: &str, limit: u32) -> Result<Vec<ProbeRecord>, StoreError> {
        let rows = self.store.query(
            "SELECT id, at_ms, duration_us, status, state, message, observations, denied, trigger
             FROM probe_results WHERE probe = ?1 ORDER BY id DESC LIMIT ?2",
            args![probe, limit],
        );
        rows.await?.into_iter().map(record).collect()
    }
}

/// An hour and a UTC day, in ms: the two spans `probe_uptime` counts in.
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
/// How long the hourly and daily counts are kept: the 30-day window and a margin.
pub(super) const UPTIME_KEPT_MS: i64 = 35 * DAY_MS;

/// Results counted together: `up` are those that passed or warned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub up: i64,
    pub total: i64,
    pub duration_us: i64,
}

impl Counts {
    /// Percent up, `None` without results.
    pub fn percent(&self) -> Option<f64> {
        (self.total > 0).then(|| self.up as f64 * 100.0 / self.total as f64)
    }

    /// Mean response time in ms, `None` without results.
    pub fn mean_ms(&self) -> Option<f64> {
        (self.total > 0).then(|| self.duration_us as f64 / self.total as f64 / 1000.0)
    }
}

/// Where the uptime windows start at a moment: 24 h is the current hour
/// and the 23 before it; 7 d and 30 d are the current UTC day and the 6 (29)
/// before it. Whole buckets, like Gatus and Uptime Kuma count: the figure
/// moves once an hour (a day), not with every result leaving the window.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub day_from: i64,
    pub week_from: i64,
    pub month_from: i64,
}

impl Windows {
    pub fn at(now_ms: i64) -> Windows {
        let hour = now_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let day = now_ms.div_euclid(DAY_MS) * DAY_MS;
        Windows {
            day_from: hour - 23 * HOUR_MS,
            week_from: day - 6 * DAY_MS,
            month_from: day - 29 * DAY_MS,
        }
    }
}

/// A probe's results over the three windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Uptime {
    #[serde(rename = "24h")]
    pub day: Counts,
    #[serde(rename = "7d")]
    pub week: Counts,
    #[serde(rename = "30d")]
    pub month: Counts,
}

impl Uptime {
    /// The counts of a window by its name: `24h`, `7d` or `30d`.
    pub fn window(&self, name: &str) -> Option<Counts> {
        match name {
            "24h" => Some(self.day),
            "7d" => Some(self.week),
            "30d" => Some(self.month),
            _ => None,
        }
    }
}

/// ` AND probe IN (?n, …)` for `probes`, their values appended; nothing for `None`.
fn probe_filter(probes: Option<&[String]>, values: &mut Vec<crate::store::Value>) -> String {
    let Some(probes) = probes else {
        return String::new();
    };
    if probes.is_empty() {
        return " AND 1 = 0".into();
    }
    let first = values.len() + 1;
    let marks: Vec<String> = (first..first + probes.len())
        .map(|i| format!("?{i}"))
        .collect();
    values.extend(probes.iter().map(|p| crate::store::Value::from(p.as_str())));
    format!(" AND probe IN ({})", marks.join(", "))
}

/// A stored result where the probe's state changed.
#[derive(Debug, Clone, Serialize)]
pub struct StateChange {
    pub at: String,
    pub state: String,
    pub message: String,
}

/// The upsert counting a result in its bucket of `span` (behind `fence` if given).
fn count(p: &ProbeRow, span: i64, fence: Option<&Fence>) -> Stmt {
    let up = i64::from(p.status == "pass" || p.status == "warn");
    let bucket = p.at_ms.div_euclid(span) * span;
    let mut values = args![p.probe.as_str(), span, bucket, up, p.duration_us];
    let update = "ON CONFLICT (probe, span_ms, bucket_ms) DO UPDATE SET
             up = probe_uptime.up + excluded.up, total = probe_uptime.total + 1,
             duration_us = probe_uptime.duration_us + excluded.duration_us";
    let Some(f) = fence else {
        return Stmt::exec(
            format!(
                "INSERT INTO probe_uptime (probe, span_ms, bucket_ms, up, total, duration_us)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5) {update}"
            ),
            values,
        );
    };
    values.extend(args![f.lease.as_str(), f.holder.as_str(), f.token]);
    Stmt::exec(
        format!(
            "INSERT INTO probe_uptime (probe, span_ms, bucket_ms, up, total, duration_us)
             SELECT CAST(?1 AS TEXT), CAST(?2 AS BIGINT), CAST(?3 AS BIGINT), CAST(?4 AS BIGINT),
                    1, CAST(?5 AS BIGINT)
             WHERE EXISTS (SELECT 1 FROM leases WHERE name = ?6 AND holder = ?7 AND token = ?8)
             {update}"
        ),
        values,
    )
}

/// The upsert of `probe_state` (behind `fence` if given).
fn share(p: &ProbeRow, fence: Option<&Fence>) -> Stmt {
    let mut values = args![
        p.probe.as_str(),
        p.state.as_str(),
        p.since_ms,
        p.shown.as_str()
    ];
    let Some(f) = fence else {
        return Stmt::exec(
            "INSERT INTO probe_state (probe, state, since_ms, result) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (probe) DO UPDATE SET state = ?2, since_ms = ?3, result = ?4",
            values,
        );
    };
    values.extend(args![f.lease.as_str(), f.holder.as_str(), f.token]);
    Stmt::exec(
        "INSERT INTO probe_state (probe, state, since_ms, result)
         SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS BIGINT), CAST(?4 AS TEXT)
         WHERE EXISTS (SELECT 1 FROM leases WHERE name = ?5 AND holder = ?6 AND token = ?7)
         ON CONFLICT (probe) DO UPDATE SET state = ?2, since_ms = ?3, result = ?4",
        values,
    )
}

fn insert(p: ProbeRow, fence: Option<Fence>) -> Stmt {
    let mut values = args![
        p.probe,
        p.at_ms,
        p.duration_us,
        p.status,
        p.state,
        p.message,
        p.observations,
        p.denied,
        p.trigger
    ];
    let Some(f) = fence else {
        return Stmt::exec(
            "INSERT INTO probe_results (probe, at_ms, duration_us, status, state, message,
                                        observations, denied, trigger)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            values,
        );
    };
    values.extend(args![f.lease, f.holder, f.token]);
    Stmt::exec(
        "INSERT INTO probe_results (probe, at_ms, duration_us, status, state, message,
                                    observations, denied, trigger)
         SELECT CAST(?1 AS TEXT), CAST(?2 AS BIGINT), CAST(?3 AS BIGINT), CAST(?4 AS TEXT),
                CAST(?5 AS TEXT), CAST(?6 AS TEXT), CAST(?7 AS TEXT), CAST(?8 AS TEXT),
                CAST(?9 AS TEXT)
         WHERE EXISTS (SELECT 1 FROM leases WHERE name = ?10 AND holder = ?11 AND token = ?12)",
        values,
    )
}

fn record(mut r: Row) -> Result<ProbeRecord, StoreError> {
    Ok(ProbeRecord {
        id: r.get(0)?,
        at: rfc3339(r.get(1)?),
        duration_ms: r.get::<i64>(2)? as f64 / 1000.0,
        status: r.take_text(3)?,
        state: r.take_text(4)?,
        message: r.take_text(5)?,
        observations: r.json(6)?,
        denied: r.json(7)?,
        trigger: r.take_text(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(probe: &str, at_ms: i64) -> ProbeRow {
        ProbeRow {
            at_ms,
            ..ProbeRow::example(probe, "ok")
        }
    }

    #[tokio::test]
    async fn old_results_go_in_chunks_and_new_ones_stay() {
        for t in crate::store::testing::stores().await {
            let repo = ProbeRepo::new(t.store.clone(), false);
            prune_in_chunks(&repo, t.backend).await;
        }
    }

    #[tokio::test]
    async fn uptime_counts_results_at_known_times_in_whole_hours_and_days() {
        for t in crate::store::testing::stores().await {
            let repo = ProbeRepo::new(t.store.clone(), false);
            uptime_at_known_times(&repo, t.backend).await;
        }
    }

    async fn uptime_at_known_times(repo: &ProbeRepo, backend: &str) {
        // 2026-12-03 14:30 UTC.
        let now = 1_796_308_200_000;
        assert_eq!(now % DAY_MS, 14 * HOUR_MS + 30 * 60_000);
        let at = |ago_ms: i64, status: &str, ms: i64| ProbeRow {
            at_ms: now - ago_ms,
            status: status.into(),
            duration_us: ms * 1000,
            ..ProbeRow::example("api", "")
        };
        let rows = [
            // This hour: 3 up (a warning is up), 1 down.
            at(60_000, "pass", 10),
            at(120_000, "warn", 20),
            at(180_000, "fail", 30),
            at(240_000, "pass", 40),
            // 24 h ago (14:30 yesterday) is before the current hour and the
            // 23 before it (from 15:00 yesterday): not in 24 h.
            at(24 * HOUR_MS, "fail", 5),
            // 5 h ago: in 24 h.
            at(5 * HOUR_MS, "unknown", 5),
            // 3 days ago: in 7 d and 30 d.
            at(3 * DAY_MS, "fail", 5),
            at(3 * DAY_MS + 1, "pass", 5),
            // 20 days ago: in 30 d only.
            at(20 * DAY_MS, "pass", 5),
            // 40 days ago: in nothing.
            at(40 * DAY_MS, "pass", 5),
        ];
        for r in rows {
            repo.record_fenced(r, None).await.unwrap();
        }
        repo.record_fenced(ProbeRow::example("other", ""), None)
            .await
            .unwrap();
        let all = repo.uptime(now, None).await.unwrap();
        assert_eq!(all.len(), 2);
        let api = ["api".to_owned()];
        assert_eq!(repo.uptime(now, Some(&api)).await.unwrap().len(), 1);
        assert!(repo.uptime(now, Some(&[])).await.unwrap().is_empty());
        let u = all["api"];
        let c = |up, total, duration_ms: i64| Counts {
            up,
            total,
            duration_us: duration_ms * 1000,
        };
        assert_eq!(u.day, c(3, 5, 105), "{backend}");
        // 7 d: today's 5, yesterday's 1 and the 2 of 3 days ago.
        assert_eq!(u.week, c(4, 8, 120), "{backend}");
        assert_eq!(u.month, c(5, 9, 125), "{backend}");
        assert_eq!(u.day.percent(), Some(60.0));
        assert_eq!(u.window("7d").unwrap().percent(), Some(50.0));
        // Days: 20 days ago, 3 days ago, yesterday, today.
        let days = &repo.daily(now, Some(&api)).await.unwrap()["api"];
        let totals: Vec<i64> = days.iter().map(|d| d.1.total).collect();
        assert_eq!(totals, [1, 2, 1, 5], "{backend}");
        assert!(days.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[tokio::test]
    async fn state_changes_are_the_results_where_the_state_moved() {
        for t in crate::store::testing::stores().await {
            let repo = ProbeRepo::new(t.store.clone(), false);
            for (i, state) in ["passing", "passing", "failing", "failing", "passing"]
                .iter()
                .enumerate()
            {
                let r = ProbeRow {
                    state: (*state).into(),
                    at_ms: 1_000 * (i as i64 + 1),
                    ..ProbeRow::example("p", &format!("r{i}"))
                };
                repo.record_fenced(r, None).await.unwrap();
            }
            let changes = repo.state_changes("p", 10).await.unwrap();
            let seen: Vec<(&str, &str)> = changes
                .iter()
                .map(|c| (c.state.as_str(), c.message.as_str()))
                .collect();
            assert_eq!(
                seen,
                [("passing", "r4"), ("failing", "r2"), ("passing", "r0")],
                "{}",
                t.backend
            );
        }
    }

    async fn prune_in_chunks(repo: &ProbeRepo, backend: &str) {
        let old = ProbeRepo::PRUNE_CHUNK as usize * 2 + 5;
        for _ in 0..old {
            repo.record(row("old", 1), None);
        }
        repo.record(row("new", now_ms()), None);
        // Probe rows are not waited for; the prune job queues behind them.
        let mut counts = Vec::new();
        loop {
            let n = repo.prune(Duration::from_secs(3600)).await.unwrap();
            counts.push(n);
            if n < ProbeRepo::PRUNE_CHUNK {
                break;
            }
        }
        assert_eq!(
            counts,
            [ProbeRepo::PRUNE_CHUNK, ProbeRepo::PRUNE_CHUNK, 5],
            "{backend}"
        );
        assert!(repo.history("old", 10).await.unwrap().is_empty());
        let new = repo.history("new", 10).await.unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].status, "pass");
    }
}
