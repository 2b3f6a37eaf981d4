//! The alert tables' one owner: active alerts (`alerts`), their history
//! (`alert_history`) and silences (`silences`), with their retention. The
//! outbox's table is the outbox's own ([`super::outbox`]).

use std::sync::Arc;

use super::engine::Active;
use super::matchers::Matcher;
use super::model::Alert;
use super::silences::Silence;
use crate::clock::{now_ms, rfc3339};
use crate::cluster::Fence;
use crate::store::{Committed, Stmt, Store, StoreError, args};

/// Work handed to the replica that decides alert state, through the
/// `alert_inbox` table (see [`super::driver`]).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum InboxItem {
    /// Alerts submitted together, routed, in order: applied in one turn.
    Events {
        batch: Vec<(Alert, super::routing::Decision)>,
        /// How the chain decided each (rows queued before this was kept have none).
        #[serde(default)]
        steps: Vec<Vec<super::routing::Step>>,
    },
    Ack {
        fingerprint: String,
        by: String,
        comment: String,
    },
    /// The silences changed: read them again.
    Silences,
}

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
    /// Among replicas: the leader's proof of holding the `alerts` lease,
    /// carried by every write of alert state.
    fence: Option<Fence>,
}

impl AlertRepo {
    /// What retention deletes (`?1`: the cutoff time): history, and silences
    /// that ended before it. (Active alerts go when they resolve.)
    pub const RETENTION: &[&str] = &[
        "DELETE FROM alert_history WHERE at_ms < ?1",
        "DELETE FROM silences WHERE ends_ms < ?1",
    ];

    pub fn new(store: Arc<Store>) -> AlertRepo {
        AlertRepo { store, fence: None }
    }

    /// Writes of alert state from now on carry `fence` (a new leader's).
    pub(super) fn set_fence(&mut self, fence: Option<Fence>) {
        self.fence = fence;
    }

    pub(super) fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    /// Queues `stmts` behind the fence.
    fn write(&self, stmts: Vec<Stmt>) -> Committed {
        self.store.write(Fence::guarded(self.fence.as_ref(), stmts))
    }

    /// The stored active alerts, oldest change first (unreadable rows are logged and skipped).
    pub async fn active(&self) -> Result<Vec<Active>, StoreError> {
        let rows = (self.store)
            .query("SELECT body FROM alerts ORDER BY updated_ms", args![])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows {
            match serde_json::from_str(&r.take_text(0)?) {
                Ok(a) => out.push(a),
                Err(e) => tracing::warn!("alerts: a stored alert is unreadable and dropped: {e}"),
            }
        }
        Ok(out)
    }

    /// Stores an alert's state; the answer resolves once committed.
    pub fn save(&self, a: &Active) -> Committed {
        let fp = a.alert().fingerprint.clone();
        let body = serde_json::to_string(a).expect("alerts serialise");
        self.write(vec![Stmt::exec(
            "INSERT INTO alerts (fingerprint, updated_ms, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (fingerprint) DO UPDATE SET updated_ms = ?2, body = ?3",
            args![fp, now_ms(), body],
        )])
    }

    /// Drops an alert's state (queued; nobody waits).
    pub fn forget(&self, fingerprint: String) {
        self.store.write_detached(Fence::guarded(
            self.fence.as_ref(),
            vec![Stmt::exec(
                "DELETE FROM alerts WHERE fingerprint = ?1",
                args![fingerprint],
            )],
        ));
    }

    /// Appends to the history (queued; nobody waits).
    pub fn record(&self, a: &Alert, detail: String) {
        self.store.write_detached(Fence::guarded(self.fence.as_ref(), vec![Stmt::exec(
            "INSERT INTO alert_history (at_ms, fingerprint, name, status, severity, source, detail, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            args![
                now_ms(),
                a.fingerprint.as_str(),
                a.name.as_str(),
                a.status.as_str(),
                a.severity.as_str(),
                a.source.as_str(),
                detail,
                serde_json::to_string(a).expect("alerts serialise")
            ],
        )]));
    }

    /// The history, newest first, optionally of one fingerprint.
    pub async fn history(
        &self,
        fingerprint: Option<String>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = self.store.query(
            "SELECT id, at_ms, fingerprint, name, status, severity, source, detail, body
             FROM alert_history WHERE (CAST(?1 AS TEXT) IS NULL OR fingerprint = ?1)
             ORDER BY id DESC LIMIT ?2",
            args![fingerprint, limit],
        );
        rows.await?
            .into_iter()
            .map(|mut r| {
                Ok(HistoryEntry {
                    id: r.get(0)?,
                    at: rfc3339(r.get(1)?),
                    fingerprint: r.take_text(2)?,
                    name: r.take_text(3)?,
                    status: r.take_text(4)?,
                    severity: r.take_text(5)?,
                    source: r.take_text(6)?,
                    detail: r.take_text(7)?,
                    alert: r.json(8)?,
                })
            })
            .collect()
    }

    /// Every silence that ends after `after_ms` (`now_ms()`: those not expired).
    pub async fn silences(&self, after_ms: i64) -> Result<Vec<Silence>, StoreError> {
        let rows = self.store.query(
            "SELECT id, created_ms, starts_ms, ends_ms, created_by, comment, matchers
             FROM silences WHERE ends_ms > ?1 ORDER BY created_ms",
            args![after_ms],
        );
        let mut out = Vec::new();
        for mut r in rows.await? {
            let id = r.take_text(0)?;
            let texts: Vec<String> = serde_json::from_str(&r.take_text(6)?).unwrap_or_default();
            match Matcher::parse_all(&texts) {
                Ok(matchers) => out.push(Silence {
                    id,
                    matchers,
                    created_by: r.take_text(4)?,
                    comment: r.take_text(5)?,
                    created_ms: r.get(1)?,
                    starts_ms: r.get(2)?,
                    ends_ms: r.get(3)?,
                }),
                Err(e) => tracing::warn!("silence {id} is unreadable and ignored: {e}"),
            }
        }
        Ok(out)
    }

    /// Queues `item` for the replica deciding alert state; the answer resolves once committed.
    pub(super) fn to_inbox(&self, item: &InboxItem) -> Committed {
        let body = serde_json::to_string(item).expect("inbox items serialise");
        let kind = match item {
            InboxItem::Events { .. } => "events",
            InboxItem::Ack { .. } => "ack",
            InboxItem::Silences => "silences",
        };
        self.store.write(vec![Stmt::exec(
            "INSERT INTO alert_inbox (at_ms, kind, body) VALUES (?1, ?2, ?3)",
            args![now_ms(), kind, body],
        )])
    }

    /// The oldest `limit` inbox rows: (id, item); unreadable ones are logged and skipped.
    pub(super) async fn inbox(
        &self,
        limit: u32,
    ) -> Result<Vec<(i64, Option<InboxItem>)>, StoreError> {
        let rows = self.store.query(
            "SELECT id, body FROM alert_inbox ORDER BY id LIMIT ?1",
            args![limit],
        );
        rows.await?
            .into_iter()
            .map(|mut r| {
                let id: i64 = r.get(0)?;
                let item = serde_json::from_str(&r.take_text(1)?)
                    .map_err(|e| {
                        tracing::error!("alerts: inbox row {id} is unreadable and skipped: {e}")
                    })
                    .ok();
                Ok((id, item))
            })
            .collect()
    }

    /// Removes the inbox rows up to `id`, once their work is committed.
    pub(super) fn inbox_done(&self, id: i64) -> Committed {
        self.write(vec![Stmt::exec(
            "DELETE FROM alert_inbox WHERE id <= ?1",
            args![id],
        )])
    }

    /// Stores a new silence; answers once committed.
    pub async fn insert_silence(&self, s: &Silence) -> Result<(), StoreError> {
        let texts: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
        let matchers = serde_json::to_string(&texts).expect("strings serialise");
        let insert = Stmt::exec(
            "INSERT INTO silences (id, created_ms, starts_ms, ends_ms, created_by, comment, matchers)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![
                s.id.as_str(),
                s.created_ms,
                s.starts_ms,
                s.ends_ms,
                s.created_by.as_str(),
                s.comment.as_str(),
                matchers
            ],
        );
        self.store.write(vec![insert]).wait().await.map(|_| ())
    }

    /// Ends a silence now; answers whether it existed and had not ended.
    pub async fn expire_silence(&self, id: &str) -> Result<bool, StoreError> {
        let expire = Stmt::exec(
            "UPDATE silences SET ends_ms = ?2 WHERE id = ?1 AND ends_ms > ?2",
            args![id, now_ms()],
        );
        Ok(self.store.write(vec![expire]).wait().await? > 0)
    }
}
