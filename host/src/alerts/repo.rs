//! The alert tables' one owner: active alerts (`alerts`), their history
//! (`alert_history`) and silences (`silences`), with their retention. The
//! outbox's table is the outbox's own ([`super::outbox`]).

use std::sync::Arc;

use rusqlite::params;

use super::engine::Active;
use super::matchers::Matcher;
use super::model::Alert;
use super::silences::Silence;
use crate::clock::{now_ms, rfc3339};
use crate::store::{Committed, Store, StoreError};

/// One row of `GET /v1/alerts/history`.
#[derive(Debug, serde::Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: String,
    pub fingerprint: String,
    pub name: String,
    pub status: String,
    pub severity: String,
    pub source: String,
    /// What happened: `firing`, `resolved`, `acknowledged`, `escalated`, …
    pub detail: String,
    pub alert: serde_json::Value,
}

#[derive(Clone)]
pub struct AlertRepo {
    store: Arc<Store>,
}

impl AlertRepo {
    /// What retention deletes (`?1`: the cutoff time): history, and silences
    /// that ended before it. (Active alerts go when they resolve.)
    pub const RETENTION: &[&str] = &[
        "DELETE FROM alert_history WHERE at_ms < ?1",
        "DELETE FROM silences WHERE ends_ms < ?1",
    ];

    pub fn new(store: Arc<Store>) -> AlertRepo {
        AlertRepo { store }
    }

    /// The stored active alerts, oldest change first (unreadable rows are logged and skipped).
    pub async fn active(&self) -> Result<Vec<Active>, StoreError> {
        let bodies: Vec<String> = self
            .store
            .read(|c| {
                let mut st = c.prepare("SELECT body FROM alerts ORDER BY updated_ms")?;
                st.query_map([], |r| r.get(0))?.collect()
            })
            .await?;
        Ok(bodies
            .iter()
            .filter_map(|body| {
                serde_json::from_str(body)
                    .map_err(|e| {
                        tracing::warn!("alerts: a stored alert is unreadable and dropped: {e}")
                    })
                    .ok()
            })
            .collect())
    }

    /// Stores an alert's state; the answer resolves once committed.
    pub fn save(&self, a: &Active) -> Committed {
        let fp = a.alert().fingerprint.clone();
        let body = serde_json::to_string(a).expect("alerts serialise");
        self.store.write(move |tx| {
            tx.execute(
                "INSERT INTO alerts (fingerprint, updated_ms, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (fingerprint) DO UPDATE SET updated_ms = ?2, body = ?3",
                params![fp, now_ms(), body],
            )
            .map(|n| n as i64)
        })
    }

    /// Drops an alert's state (queued; nobody waits).
    pub fn forget(&self, fingerprint: String) {
        self.store.write_detached(move |tx| {
            tx.execute("DELETE FROM alerts WHERE fingerprint = ?1", [&fingerprint])
                .map(|n| n as i64)
        });
    }

    /// Appends to the history (queued; nobody waits).
    pub fn record(&self, a: &Alert, detail: String) {
        let row = (
            a.fingerprint.clone(),
            a.name.clone(),
            a.status.as_str(),
            a.severity.as_str(),
            a.source.clone(),
            detail,
            serde_json::to_string(a).expect("alerts serialise"),
        );
        self.store.write_detached(move |tx| {
            tx.prepare_cached(
                "INSERT INTO alert_history (at_ms, fingerprint, name, status, severity, source, detail, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![now_ms(), row.0, row.1, row.2, row.3, row.4, row.5, row.6])?;
            Ok(0)
        });
    }

    /// The history, newest first, optionally of one fingerprint.
    pub async fn history(
        &self,
        fingerprint: Option<String>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.store
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT id, at_ms, fingerprint, name, status, severity, source, detail, body
                     FROM alert_history WHERE (?1 IS NULL OR fingerprint = ?1)
                     ORDER BY id DESC LIMIT ?2",
                )?;
                st.query_map(params![fingerprint, limit], |r| {
                    let body: String = r.get(8)?;
                    Ok(HistoryEntry {
                        id: r.get(0)?,
                        at: rfc3339(r.get(1)?),
                        fingerprint: r.get(2)?,
                        name: r.get(3)?,
                        status: r.get(4)?,
                        severity: r.get(5)?,
                        source: r.get(6)?,
                        detail: r.get(7)?,
                        alert: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                    })
                })?
                .collect()
            })
            .await
    }

    /// Every silence that ends after `after_ms` (`now_ms()`: those not expired).
    pub async fn silences(&self, after_ms: i64) -> Result<Vec<Silence>, StoreError> {
        let rows: Vec<(String, i64, i64, i64, String, String, String)> = self
            .store
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT id, created_ms, starts_ms, ends_ms, created_by, comment, matchers
                     FROM silences WHERE ends_ms > ?1 ORDER BY created_ms",
                )?;
                st.query_map([after_ms], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect()
            })
            .await?;
        let mut out = Vec::new();
        for (id, created_ms, starts_ms, ends_ms, created_by, comment, matchers) in rows {
            let texts: Vec<String> = serde_json::from_str(&matchers).unwrap_or_default();
            match Matcher::parse_all(&texts) {
                Ok(matchers) => out.push(Silence {
                    id,
                    matchers,
                    created_by,
                    comment,
                    created_ms,
                    starts_ms,
                    ends_ms,
                }),
                Err(e) => tracing::warn!("silence {id} is unreadable and ignored: {e}"),
            }
        }
        Ok(out)
    }

    /// Stores a new silence; answers once committed.
    pub async fn insert_silence(&self, s: &Silence) -> Result<(), StoreError> {
        let (id, created, starts, ends, by, comment) = (
            s.id.clone(),
            s.created_ms,
            s.starts_ms,
            s.ends_ms,
            s.created_by.clone(),
            s.comment.clone(),
        );
        let texts: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
        let matchers = serde_json::to_string(&texts).expect("strings serialise");
        self.store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO silences (id, created_ms, starts_ms, ends_ms, created_by, comment, matchers)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![id, created, starts, ends, by, comment, matchers],
                )
                .map(|n| n as i64)
            })
            .wait()
            .await
            .map(|_| ())
    }

    /// Ends a silence now; answers whether it existed and had not ended.
    pub async fn expire_silence(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        let n = self
            .store
            .write(move |tx| {
                tx.execute(
                    "UPDATE silences SET ends_ms = ?2 WHERE id = ?1 AND ends_ms > ?2",
                    params![id, now_ms()],
                )
                .map(|n| n as i64)
            })
            .wait()
            .await?;
        Ok(n > 0)
    }
}
