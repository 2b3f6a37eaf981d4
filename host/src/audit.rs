//! The audit log's one owner: who changed what through the API, appended
//! and listed, and its retention.

use std::sync::Arc;

use serde::Serialize;

use crate::clock::rfc3339;
use crate::store::{Stmt, Store, StoreError, Value, args};

/// One audited action.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `ok` or `rejected: …`.
    pub result: String,
    pub detail: String,
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

/// The audit log.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<Store>,
}

impl AuditLog {
    /// What retention deletes (`?1`: the cutoff time).
    pub const RETENTION: &[&str] = &["DELETE FROM audit WHERE at_ms < ?1"];

    pub fn new(store: Arc<Store>) -> AuditLog {
        AuditLog { store }
    }

    /// Appends an entry; answers once it is committed.
    pub async fn append(&self, a: AuditEntry) -> Result<i64, StoreError> {
        (self.store)
            .insert(
                "INSERT INTO audit (at_ms, actor, action, target, result, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                args![a.at_ms, a.actor, a.action, a.target, a.result, a.detail],
            )
            .await
    }

    /// The statement appending `a` when `condition` (SQL, its placeholders
    /// from `?7`, bound to `values`) holds as the write's transaction sees
    /// it: an entry that must commit with the change it records, and only if
    /// that change was made.
    pub fn append_if(a: AuditEntry, condition: &str, values: Vec<Value>) -> Stmt {
        let mut all = args![a.at_ms, a.actor, a.action, a.target, a.result, a.detail];
        all.extend(values);
        Stmt::exec(
            format!(
                "INSERT INTO audit (at_ms, actor, action, target, result, detail)
                 SELECT CAST(?1 AS BIGINT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS TEXT),
                        CAST(?5 AS TEXT), CAST(?6 AS TEXT)
                 WHERE {condition}"
            ),
            all,
        )
    }

    /// The newest `limit` audit entries.
    pub async fn list(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self.store.query(
            "SELECT id, at_ms, actor, action, target, result, detail FROM audit ORDER BY id DESC LIMIT ?1",
            args![limit],
        );
        rows.await?
            .into_iter()
            .map(|mut r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: rfc3339(r.get(1)?),
                    actor: r.take_text(2)?,
                    action: r.take_text(3)?,
                    target: r.take_text(4)?,
                    result: r.take_text(5)?,
                    detail: r.take_text(6)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now_ms;

    #[tokio::test]
    async fn entries_round_trip_newest_first_and_old_ones_go() {
        for t in crate::store::testing::stores().await {
            let log = AuditLog::new(t.store.clone());
            for (at, actor) in [(1, "old"), (now_ms(), "ops")] {
                log.append(AuditEntry {
                    at_ms: at,
                    actor: actor.into(),
                    action: "cache.clear".into(),
                    target: "cache".into(),
                    result: "ok".into(),
                    detail: String::new(),
                })
                .await
                .unwrap();
            }
            let all = log.list(10).await.unwrap();
            assert_eq!(
                all.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(),
                ["ops", "old"],
                "{}",
                t.backend
            );
            let pruned = log
                .store
                .delete_older(AuditLog::RETENTION, std::time::Duration::from_secs(3600));
            assert_eq!(pruned.await.unwrap(), 1, "{}", t.backend);
            assert_eq!(log.list(10).await.unwrap().len(), 1);
        }
    }
}
