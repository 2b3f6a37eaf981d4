//! The `file` channel: one JSON line per notification, appended and fsynced.

use std::path::PathBuf;

use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use super::Transport;
use crate::alerts::Notification;

pub(super) struct File {
    pub(super) path: PathBuf,
    /// Serialises appends.
    pub(super) lock: tokio::sync::Mutex<()>,
}

impl Transport for File {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.append(n))
    }
}

impl File {
    async fn append(&self, n: &Notification) -> Result<(), String> {
        let path = &self.path;
        let mut line = serde_json::to_vec(&n.assay_json()).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let _guard = self.lock.lock().await;
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(&line)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.sync_data()
            .await
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
