//! The probe results table's one owner: results appended without waiting
//! for the commit, read back as a probe's history, pruned in chunks.

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
        let mut stmts = Vec::with_capacity(2);
        if self.shared {
            stmts.push(share(&p, fence.as_ref()));
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
