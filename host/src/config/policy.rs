//! The limits and admission policies the runtime enforces, as plain data
//! the config resolves: per-call budgets and quotas, and when a plugin's
//! calls are queued, refused or quarantined. (The runtime re-exports them
//! and owns what they drive.)

use std::time::Duration;

/// What one call may hand back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Findings kept per call; the rest are counted in one `assay.findings_truncated` finding.
    pub max_findings: u32,
    /// Longest `code`, `message` and `path` of a finding (and a probe's
    /// message, a router's title and body), in bytes; longer ones are cut
    /// with a marker.
    pub max_code_bytes: u32,
    pub max_message_bytes: u32,
    pub max_path_bytes: u32,
    /// The whole answer after the cuts above; past it the call fails as `output_limit`.
    pub max_result_bytes: u32,
    /// Lines and bytes of stdout, stderr and `log()` together, per call.
    pub max_output_lines: u32,
    pub max_output_bytes: u32,
    /// Sockets a probe call may hold open (outgoing HTTP requests count as one each).
    pub max_sockets: u32,
    /// Deliveries one router answer may ask for.
    pub max_deliveries: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_findings: 1000,
            max_code_bytes: 128,
            max_message_bytes: 4096,
            max_path_bytes: 1024,
            max_result_bytes: 1 << 20,
            max_output_lines: 1000,
            max_output_bytes: 64 << 10,
            max_sockets: 16,
            max_deliveries: 16,
        }
    }
}

/// The budget of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub timeout: Duration,
    /// Total linear memory, in bytes.
    pub memory: usize,
    /// What the call may hand back and write.
    pub quotas: Quotas,
}

/// When to quarantine, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that quarantine the plugin; 0 never does.
    pub after: u32,
    /// The first cool-down.
    pub cooldown: Duration,
    /// The longest cool-down, however often the trials fail.
    pub max_cooldown: Duration,
}

impl Default for BreakerPolicy {
    /// 5 failures, 30 s, doubling up to 10 minutes.
    fn default() -> Self {
        BreakerPolicy {
            after: 5,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(600),
        }
    }
}

/// How a plugin's calls are admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatePolicy {
    /// Call slots the plugin may hold at once; `None`: no share of its own.
    pub share: Option<u32>,
    /// The longest a call waits for a slot before it is refused.
    pub max_queue: Duration,
    pub breaker: BreakerPolicy,
}
