//! `assay:plugin/system`: disk, memory, load and uptime, for probes granted `allow_system`.
//!
//! Linux only (`/proc` and `statvfs`); elsewhere each call returns an error
//! saying so.

use std::path::Path;

use crate::runtime::bindings::probe::assay::plugin::system::{
    DiskStats, Host, LoadStats, MemoryStats,
};
use crate::runtime::state::CallState;

impl CallState {
    /// `Ok` when `allow_system` was granted, else the refusal the guest sees.
    fn system_granted(&self, what: &str) -> Result<(), String> {
        if self.grants.as_ref().is_some_and(|g| g.system) {
            Ok(())
        } else {
            let msg =
                format!("{what}: system statistics are not granted to this probe (allow_system)");
            CallState::deny(&self.denied, &self.plugin, msg.clone());
            Err(msg)
        }
    }
}

impl Host for CallState {
    fn disk_usage(&mut self, path: String) -> Result<DiskStats, String> {
        self.host_calls += 1;
        self.system_granted("disk-usage")?;
        let readable = self
            .grants
            .as_ref()
            .is_some_and(|g| g.readable(Path::new(&path)));
        if !readable {
            let msg =
                format!("disk-usage of {path}: not inside this probe's allow_read directories");
            CallState::deny(&self.denied, &self.plugin, msg.clone());
            return Err(msg);
        }
        let s = rustix::fs::statvfs(path.as_str()).map_err(|e| format!("statvfs {path}: {e}"))?;
        Ok(DiskStats {
            total_bytes: s.f_blocks.saturating_mul(s.f_frsize),
            available_bytes: s.f_bavail.saturating_mul(s.f_frsize),
        })
    }

    fn memory_usage(&mut self) -> Result<MemoryStats, String> {
        self.host_calls += 1;
        self.system_granted("memory-usage")?;
        let text = read_proc("/proc/meminfo")?;
        let field = |name: &str| -> Result<u64, String> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kib| kib * 1024)
                .ok_or_else(|| format!("/proc/meminfo has no {name}"))
        };
        Ok(MemoryStats {
            total_bytes: field("MemTotal")?,
            available_bytes: field("MemAvailable")?,
            swap_total_bytes: field("SwapTotal")?,
            swap_free_bytes: field("SwapFree")?,
        })
    }

    fn load_average(&mut self) -> Result<LoadStats, String> {
        self.host_calls += 1;
        self.system_granted("load-average")?;
        let text = read_proc("/proc/loadavg")?;
        let v: Vec<f64> = text
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        match v[..] {
            [one, five, fifteen] => Ok(LoadStats { one, five, fifteen }),
            _ => Err("/proc/loadavg is not in the expected format".into()),
        }
    }

    fn uptime_seconds(&mut self) -> Result<f64, String> {
        self.host_calls += 1;
        self.system_granted("uptime-seconds")?;
        read_proc("/proc/uptime")?
            .split_whitespace()
            .next()
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| "/proc/uptime is not in the expected format".into())
    }
}

fn read_proc(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e} (Linux only)"))
}
