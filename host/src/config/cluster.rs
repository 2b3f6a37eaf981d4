//! `[cluster]`: how replicas sharing one PostgreSQL database divide the work.

use std::time::Duration;

use serde::Deserialize;

/// `[cluster]`. Only used with `[storage] url`: with the embedded SQLite
/// file there is one replica, and it does everything.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// This replica's name in `GET /v1/cluster` and in the leases. Unique
    /// per running process; the default is the host name and a random suffix.
    pub node: Option<String>,
    /// How long a lease (a probe, a monitor, the alert engine) lasts without
    /// renewal. A replica that dies hands its work over within about twice this.
    #[serde(deserialize_with = "super::alerting::dur")]
    pub lease_ttl: Duration,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            node: None,
            lease_ttl: Duration::from_secs(10),
        }
    }
}

impl ClusterSection {
    pub fn check(&self) -> Result<(), String> {
        if self.lease_ttl < Duration::from_secs(1) {
            return Err("cluster.lease_ttl must be at least 1s".into());
        }
        if let Some(n) = &self.node
            && (n.is_empty()
                || n.len() > 128
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            return Err(format!(
                "cluster.node {n:?} must be 1 to 128 letters, digits, '-', '_' or '.'"
            ));
        }
        Ok(())
    }

    /// The node name: the configured one, else `HOSTNAME-xxxxxx`.
    pub fn node_name(&self) -> String {
        if let Some(n) = &self.node {
            return n.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "assay".into());
        format!("{host}-{:06x}", fastrand::u32(..0x100_0000))
    }
}
