//! The cluster tables' one owner: node heartbeats (`cluster_nodes`) and leases (`leases`).
//!
//! A lease row is never deleted: releasing one ends it (`expires_ms = 0`)
//! and keeps its holder, so the next holder's fencing token is always larger
//! than every token handed out before.

use serde::Serialize;

use crate::clock::rfc3339;
use crate::store::{Stmt, Store, StoreError, args};

/// A node as `GET /v1/cluster` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRecord {
    pub node: String,
    pub version: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: i64,
    /// Its heartbeat is younger than the lease TTL.
    pub alive: bool,
    /// Leases it holds now.
    pub leases: usize,
}

/// A lease as `GET /v1/cluster` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseRecord {
    pub name: String,
    pub holder: String,
    /// The fencing token: grows each time the lease changes hands.
    pub token: i64,
    pub expires_at: String,
    /// Not expired or released.
    pub held: bool,
}

/// Records this node's heartbeat.
pub(crate) fn heartbeat(node: &str, started_ms: i64, now: i64) -> Stmt {
    Stmt::exec(
        "INSERT INTO cluster_nodes (node, started_ms, heartbeat_ms, version) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (node) DO UPDATE SET heartbeat_ms = ?3",
        args![node, started_ms, now, env!("CARGO_PKG_VERSION")],
    )
}

/// Takes or renews `lease` for `node` until `until`, if it is free, expired
/// or already the node's; answers a row with the fencing token when it did.
pub(crate) fn acquire(lease: &str, node: &str, now: i64, until: i64) -> Stmt {
    Stmt::returning(
        "INSERT INTO leases (name, holder, token, expires_ms) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (name) DO UPDATE SET
           token = CASE WHEN leases.holder = ?2 AND leases.expires_ms >= ?4
                        THEN leases.token ELSE leases.token + 1 END,
           holder = ?2,
           expires_ms = ?3
         WHERE leases.holder = ?2 OR leases.expires_ms < ?4
         RETURNING token",
        args![lease, node, until, now],
    )
}

/// Ends `node`'s hold of `lease`.
pub(crate) fn release(lease: &str, node: &str) -> Stmt {
    Stmt::exec(
        "UPDATE leases SET expires_ms = 0 WHERE name = ?1 AND holder = ?2",
        args![lease, node],
    )
}

/// Ends every lease of `node`, and removes it from the nodes (a clean stop).
pub(crate) fn leave(node: &str) -> Vec<Stmt> {
    vec![
        Stmt::exec(
            "UPDATE leases SET expires_ms = 0 WHERE holder = ?1",
            args![node],
        ),
        Stmt::exec("DELETE FROM cluster_nodes WHERE node = ?1", args![node]),
    ]
}

/// Forgets nodes silent since before `cutoff`.
pub(crate) fn forget_silent(cutoff: i64) -> Stmt {
    Stmt::exec(
        "DELETE FROM cluster_nodes WHERE heartbeat_ms < ?1",
        args![cutoff],
    )
}

/// The nodes whose heartbeat is after `since`, by name.
pub(crate) async fn live(store: &Store, since: i64) -> Result<Vec<String>, StoreError> {
    let rows = store.query(
        "SELECT node FROM cluster_nodes WHERE heartbeat_ms > ?1 ORDER BY node",
        args![since],
    );
    rows.await?
        .into_iter()
        .map(|mut r| r.take_text(0))
        .collect()
}

/// Every node and lease, for `GET /v1/cluster`.
pub(crate) async fn list(
    store: &Store,
    now: i64,
    ttl_ms: i64,
) -> Result<(Vec<NodeRecord>, Vec<LeaseRecord>), StoreError> {
    let leases = store.query(
        "SELECT name, holder, token, expires_ms FROM leases ORDER BY name",
        args![],
    );
    let leases: Vec<LeaseRecord> = leases
        .await?
        .into_iter()
        .map(|mut r| {
            let expires: i64 = r.get(3)?;
            Ok(LeaseRecord {
                name: r.take_text(0)?,
                holder: r.take_text(1)?,
                token: r.get(2)?,
                expires_at: rfc3339(expires),
                held: expires >= now,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let nodes = store.query(
        "SELECT node, version, started_ms, heartbeat_ms FROM cluster_nodes ORDER BY node",
        args![],
    );
    let nodes = nodes
        .await?
        .into_iter()
        .map(|mut r| {
            let node = r.take_text(0)?;
            let heartbeat: i64 = r.get(3)?;
            Ok(NodeRecord {
                leases: leases.iter().filter(|l| l.held && l.holder == node).count(),
                version: r.take_text(1)?,
                started_at: rfc3339(r.get(2)?),
                heartbeat_at: rfc3339(heartbeat),
                heartbeat_age_ms: now - heartbeat,
                alive: now - heartbeat < ttl_ms,
                node,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((nodes, leases))
}
