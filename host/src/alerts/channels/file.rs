//! The `file` channel: one JSON line per notification, appended and fsynced.

use tokio::io::AsyncWriteExt;

use super::Channel;
use crate::alerts::Notification;

impl Channel {
    pub(super) async fn append(&self, n: &Notification) -> Result<(), String> {
        let path = self.config.path.as_ref().ok_or("no path")?;
        let mut line = serde_json::to_vec(&n.assay_json()).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let _guard = self.file_lock.lock().await;
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
