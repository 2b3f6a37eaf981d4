//! Probe results in the store: appended without waiting for the commit, read back as a probe's history.

use rusqlite::{Row, params};
use serde::Serialize;

use super::{Store, StoreError, writer};
use crate::clock::rfc3339;

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
    pub message: String,
    /// JSON array of `{name, value, unit}`.
    pub observations: String,
    /// JSON array of refused attempts.
    pub denied: String,
    /// `schedule` or `manual`.
    pub trigger: String,
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

impl Store {
    /// Queues a probe result for the writer. The scheduler does not wait for
    /// the commit (the latest state lives in memory); a result that cannot
    /// be queued (the store is closing) is logged and dropped.
    pub fn record_probe(&self, row: ProbeRow) {
        let jobs = self.jobs.lock().expect("store lock poisoned");
        let sent = jobs
            .as_ref()
            .is_some_and(|s| s.send(writer::Job::Probe(row)).is_ok());
        if !sent {
            tracing::debug!("store: closed; a probe result was not stored");
        }
    }

    /// A probe's stored results, newest first.
    pub async fn probe_history(
        &self,
        probe: &str,
        limit: u32,
    ) -> Result<Vec<ProbeRecord>, StoreError> {
        let probe = probe.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, at_ms, duration_us, status, state, message, observations, denied, trigger
                 FROM probe_results WHERE probe = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![probe, limit], record)?;
            rows.collect()
        })
        .await
    }
}

fn record(r: &Row<'_>) -> rusqlite::Result<ProbeRecord> {
    let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    };
    Ok(ProbeRecord {
        id: r.get(0)?,
        at: rfc3339(r.get(1)?),
        duration_ms: r.get::<_, i64>(2)? as f64 / 1000.0,
        status: r.get(3)?,
        state: r.get(4)?,
        message: r.get(5)?,
        observations: json(6)?,
        denied: json(7)?,
        trigger: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::now_ms;
    use crate::store::Retention;

    fn row(probe: &str, at_ms: i64) -> ProbeRow {
        ProbeRow {
            probe: probe.into(),
            at_ms,
            duration_us: 1,
            status: "pass".into(),
            state: "passing".into(),
            message: "ok".into(),
            observations: "[]".into(),
            denied: "[]".into(),
            trigger: "schedule".into(),
        }
    }

    #[tokio::test]
    async fn old_results_go_in_chunks_and_new_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_age: Duration::from_secs(3600),
            max_reports: 1000,
            probe_max_age: Duration::from_secs(3600),
        };
        let store = Store::open(&dir.path().join("a.db"), retention, false).unwrap();
        let old = Store::PRUNE_CHUNK as usize * 2 + 5;
        for _ in 0..old {
            store.record_probe(row("old", 1));
        }
        store.record_probe(row("new", now_ms()));
        // Probe rows are not waited for; the prune job queues behind them.
        let mut counts = Vec::new();
        loop {
            let n = store.prune().await.unwrap();
            counts.push(n);
            if n < Store::PRUNE_CHUNK {
                break;
            }
        }
        assert_eq!(counts, [Store::PRUNE_CHUNK, Store::PRUNE_CHUNK, 5]);
        assert!(store.probe_history("old", 10).await.unwrap().is_empty());
        let new = store.probe_history("new", 10).await.unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].status, "pass");
    }
}
