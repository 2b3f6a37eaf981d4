//! `assay:plugin/host`: guest log lines into the host's tracing (tagged with the plugin
//! name), and SHA-256 computed natively.

use sha2::{Digest, Sha256};

use crate::runtime::bindings::assay::plugin::host::{Host, LogLevel};
use crate::runtime::state::CallState;

/// Longest message kept, in bytes; longer ones are cut (at a char boundary).
pub(super) const MAX_LOG_MESSAGE: usize = 4096;

impl Host for CallState {
    fn log(&mut self, level: LogLevel, mut message: String) {
        self.host_calls += 1;
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        // One budget of lines and bytes for log(), stdout and stderr; what
        // it drops is counted and said once when the call ends.
        if !self.output.take(message.len()) {
            return;
        }
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(target: "assay::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "assay::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "assay::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "assay::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "assay::plugin", plugin, "{message}"),
        }
    }

    fn sha256(&mut self, data: Vec<u8>) -> Vec<u8> {
        self.host_calls += 1;
        // `data` was copied out of the guest's memory, so its size is bounded by the memory cap.
        Sha256::digest(&data).to_vec()
    }
}
