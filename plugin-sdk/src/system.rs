//! System statistics for probes (`allow_system = true`), read by the host.
//!
//! Each function returns the host's refusal as `Err` when the operator did
//! not grant it. Natively (unit tests) every function returns `Err`.

pub use crate::types::{DiskStats, LoadStats, MemoryStats};

/// Usage of the file system holding `path` (which must lie inside one of the
/// probe's `allow_read` directories).
pub fn disk_usage(path: &str) -> Result<DiskStats, String> {
    imp::disk_usage(path)
}

/// Memory and swap of the machine.
pub fn memory_usage() -> Result<MemoryStats, String> {
    imp::memory_usage()
}

/// Load averages over 1, 5 and 15 minutes.
pub fn load_average() -> Result<LoadStats, String> {
    imp::load_average()
}

/// Seconds since the machine booted.
pub fn uptime_seconds() -> Result<f64, String> {
    imp::uptime_seconds()
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;

    const NATIVE: &str = "system statistics are provided by the assay host; not available natively";

    pub(super) fn disk_usage(_: &str) -> Result<DiskStats, String> {
        Err(NATIVE.into())
    }
    pub(super) fn memory_usage() -> Result<MemoryStats, String> {
        Err(NATIVE.into())
    }
    pub(super) fn load_average() -> Result<LoadStats, String> {
        Err(NATIVE.into())
    }
    pub(super) fn uptime_seconds() -> Result<f64, String> {
        Err(NATIVE.into())
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::bindings::probe::assay::plugin::system as w;

    pub(super) fn disk_usage(path: &str) -> Result<DiskStats, String> {
        w::disk_usage(path).map(|d| DiskStats {
            total_bytes: d.total_bytes,
            available_bytes: d.available_bytes,
        })
    }
    pub(super) fn memory_usage() -> Result<MemoryStats, String> {
        w::memory_usage().map(|m| MemoryStats {
            total_bytes: m.total_bytes,
            available_bytes: m.available_bytes,
            swap_total_bytes: m.swap_total_bytes,
            swap_free_bytes: m.swap_free_bytes,
        })
    }
    pub(super) fn load_average() -> Result<LoadStats, String> {
        w::load_average().map(|l| LoadStats {
            one: l.one,
            five: l.five,
            fifteen: l.fifteen,
        })
    }
    pub(super) fn uptime_seconds() -> Result<f64, String> {
        w::uptime_seconds()
    }
}
