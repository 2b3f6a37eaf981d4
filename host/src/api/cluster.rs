//! `GET /v1/cluster`: the replicas sharing the database, their heartbeats and the leases they hold.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::error::ApiError;
use crate::cluster::ClusterStatus;
use crate::service::Service;

/// `GET /v1/cluster`.
pub(super) async fn cluster(
    State(svc): State<Arc<Service>>,
) -> Result<Json<ClusterStatus>, ApiError> {
    let status = svc
        .cluster
        .status()
        .await
        .map_err(|e| ApiError::store("reading the cluster", e))?;
    Ok(Json(status))
}
