//! Per-call resource limits: the memory cap, enforced through wasmtime's `ResourceLimiter`.

use wasmtime::ResourceLimiter;

/// Caps the *total* linear memory of one plugin instance (all its memories
/// together, unlike `StoreLimits`, which caps each memory), and remembers
/// whether the cap was hit so the call can say so.
#[derive(Debug)]
pub struct MemoryLimiter {
    cap: usize,
    total: usize,
    /// Set to the size asked for when a growth past the cap was refused.
    pub exceeded: Option<usize>,
}

/// Table elements allowed per table; guards against a guest growing tables without bound.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl MemoryLimiter {
    pub fn new(cap: usize) -> Self {
        MemoryLimiter {
            cap,
            total: 0,
            exceeded: None,
        }
    }
}

impl MemoryLimiter {
    /// A new cap for a kept instance's next call; what it holds still counts.
    pub fn renew(&mut self, cap: usize) {
        self.cap = cap;
        self.exceeded = None;
    }

    /// The linear memory the instance holds now (all memories together).
    pub fn total(&self) -> usize {
        self.total
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.cap {
            self.exceeded = Some(total);
            // An error (not `Ok(false)`) traps at once instead of letting the
            // guest see a failed `memory.grow` and limp on.
            wasmtime::bail!(
                "memory limit of {} exceeded (the plugin asked for {})",
                mib(self.cap),
                mib(total)
            );
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// `64 MiB`-style rendering for messages.
pub fn mib(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_all_memories_together() {
        let mut l = MemoryLimiter::new(10 << 20);
        assert!(l.memory_growing(0, 6 << 20, None).unwrap());
        assert!(l.memory_growing(0, 4 << 20, None).unwrap());
        assert!(l.memory_growing(4 << 20, 5 << 20, None).is_err());
        assert_eq!(l.exceeded, Some(11 << 20));
    }
}
