//! The data a plugin's store carries for one call: WASI context (built lazily, from the call's grants), limits, captured output.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::Grants;
use super::Quotas;
use super::capture::CapturePipe;
use super::http::HttpHooks;
use super::limits::MemoryLimiter;
use super::sockets::SocketBook;

/// Store data for one plugin call. Made fresh for every call and dropped
/// after it, or renewed ([`CallState::renew`]) for the next call of a kept
/// instance (`warm.rs`).
pub struct CallState {
    pub(crate) plugin: Arc<str>,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) quotas: Quotas,
    /// What is left of the call's output budget (stdout, stderr and `log()` together).
    pub(crate) output: OutputBudget,
    pub(crate) sockets: Arc<SocketBook>,
    /// When the call must end; checked by the epoch callback.
    pub(crate) deadline: Instant,
    /// Set by the epoch callback when it stopped the guest.
    pub(crate) timed_out: bool,
    /// What the operator granted this call (probes); `None` grants nothing.
    pub(crate) grants: Option<Arc<Grants>>,
    /// What the guest tried and the grants refused, for the call's result.
    pub(crate) denied: Arc<Mutex<Vec<String>>>,
    /// The wall-clock time (Unix ms) the guest sees at the call's start, when
    /// not the host's: routing tests replay a case at its own time of day.
    pub(crate) wall_clock_ms: Option<i64>,
    /// Calls of the assay host interfaces (`host`, `system`), for `assay plugin bench`.
    pub(crate) host_calls: u32,
    pub(crate) table: ResourceTable,
    /// The stream whose capture a write overflowed, seen when the output was flushed.
    overflowed: Option<&'static str>,
    /// Host resources a kept instance held after its first call (`warm.rs`):
    /// holding more after a later one is a leak, and ends the instance.
    pub(crate) kept_resources: Option<usize>,
    wasi: Option<Wasi>,
    http: Option<(WasiHttpCtx, HttpHooks)>,
}

/// The WASI side of a call, made on the guest's first WASI call: most
/// validator calls make none, and building a `WasiCtx` (random seeds, stdio
/// streams) is a measurable part of a fresh-instance call.
struct Wasi {
    ctx: WasiCtx,
    stdout: CapturePipe,
    stderr: CapturePipe,
}

/// The lines and bytes a call may still send to the host's log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputBudget {
    pub(crate) lines: u32,
    pub(crate) bytes: usize,
    /// Lines dropped once the budget ran out.
    pub(crate) dropped: u32,
}

impl OutputBudget {
    fn new(q: &Quotas) -> Self {
        OutputBudget {
            lines: q.max_output_lines,
            bytes: q.max_output_bytes as usize,
            dropped: 0,
        }
    }

    /// Takes one line of `len` bytes from the budget, or counts it dropped.
    pub(crate) fn take(&mut self, len: usize) -> bool {
        if self.lines == 0 || len > self.bytes {
            self.dropped += 1;
            self.lines = 0;
            return false;
        }
        self.lines -= 1;
        self.bytes -= len;
        true
    }
}

impl CallState {
    pub fn new(plugin: Arc<str>, memory_cap: usize, quotas: Quotas, deadline: Instant) -> Self {
        CallState {
            plugin,
            limiter: MemoryLimiter::new(memory_cap),
            output: OutputBudget::new(&quotas),
            quotas,
            sockets: Arc::default(),
            deadline,
            timed_out: false,
            grants: None,
            denied: Arc::default(),
            wall_clock_ms: None,
            host_calls: 0,
            table: ResourceTable::new(),
            overflowed: None,
            kept_resources: None,
            wasi: None,
            http: None,
        }
    }

    /// Readies a kept instance's state for its next call: the call's
    /// deadline, limits and budgets afresh; what the instance holds (its
    /// memory, counted against the new cap; its WASI context and resources)
    /// carries on. Only validators and routers on the host's clock are kept,
    /// so there are no grants or shifted clock to renew.
    pub(crate) fn renew(&mut self, memory_cap: usize, quotas: Quotas, deadline: Instant) {
        self.limiter.renew(memory_cap);
        self.output = OutputBudget::new(&quotas);
        self.quotas = quotas;
        self.sockets = Arc::default();
        self.deadline = deadline;
        self.timed_out = false;
        self.denied = Arc::default();
        self.host_calls = 0;
        self.overflowed = None;
    }

    /// What the call used: its linear memory at the end (memories only
    /// grow, so the peak), the host calls, HTTP requests, and whether it
    /// touched WASI at all.
    pub(crate) fn usage(&self) -> super::call::Usage {
        super::call::Usage {
            memory_bytes: self.limiter.total(),
            host_calls: self.host_calls,
            http_requests: self
                .sockets
                .http_requests
                .load(std::sync::atomic::Ordering::Relaxed),
            wasi: self.wasi.is_some(),
        }
    }

    /// Notes a refused attempt (also logged at debug level).
    pub(crate) fn deny(denied: &Mutex<Vec<String>>, plugin: &str, what: String) {
        tracing::debug!(target: "assay::plugin", plugin, "denied: {what}");
        let mut d = denied.lock().expect("denied lock");
        if d.len() < 16 && !d.contains(&what) {
            d.push(what);
        }
    }

    /// What the grants refused during the call.
    pub fn take_denied(&mut self) -> Vec<String> {
        std::mem::take(&mut *self.denied.lock().expect("denied lock"))
    }

    /// Sends what the guest wrote to stdout/stderr to tracing, a line an
    /// event, within the call's output budget (shared with `log()`); then
    /// says once how many lines the budget dropped. Answers the start of
    /// stderr (up to 1 KiB), where a guest's panic message is.
    pub fn flush_output(&mut self) -> String {
        let mut stderr_head = String::new();
        if let Some(wasi) = &self.wasi {
            for (stream, pipe) in [("stdout", &wasi.stdout), ("stderr", &wasi.stderr)] {
                let (bytes, overflowed) = pipe.drain();
                if overflowed || bytes.len() >= self.quotas.max_output_bytes as usize {
                    self.overflowed = self.overflowed.or(Some(stream));
                }
                if stream == "stderr" {
                    let head = &bytes[..bytes.len().min(1024)];
                    stderr_head = String::from_utf8_lossy(head).trim().to_owned();
                }
                for line in String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter(|l| !l.is_empty())
                {
                    if self.output.take(line.len()) {
                        tracing::info!(target: "assay::plugin", plugin = %self.plugin, stream, "{line}");
                    }
                }
            }
        }
        if self.output.dropped > 0 {
            tracing::warn!(
                target: "assay::plugin",
                plugin = %self.plugin,
                "output budget of {} lines / {} bytes per call reached (max_output_lines, max_output_bytes): {} line(s) of stdout, stderr and log() dropped",
                self.quotas.max_output_lines,
                self.quotas.max_output_bytes,
                self.output.dropped
            );
            self.output.dropped = 0;
        }
        stderr_head
    }

    /// Whether stdout or stderr filled its capture (the guest's next write
    /// failed), as seen by the last [`CallState::flush_output`].
    pub(crate) fn output_full(&self) -> Option<&'static str> {
        self.overflowed
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi.get_or_insert_with(|| {
            let cap = self.quotas.max_output_bytes as usize;
            let stdout = CapturePipe::new(cap);
            let stderr = CapturePipe::new(cap);
            // Default deny: no args, no env, no preopened dirs, no sockets,
            // no stdin; only clocks and random, which WASI always provides.
            // A probe's grants open what the operator listed, and no more.
            let mut builder = WasiCtx::builder();
            builder.stdout(stdout.clone()).stderr(stderr.clone());
            if let Some(grants) = &self.grants {
                grant(&mut builder, grants, &self.plugin, &self.denied);
            }
            if let Some(at) = self.wall_clock_ms {
                builder.wall_clock(ShiftedClock::starting_at(at));
            }
            let ctx = builder.build();
            Wasi {
                ctx,
                stdout,
                stderr,
            }
        });
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut self.table,
        }
    }
}

/// A wall clock that starts at a given time and runs at the host's pace.
struct ShiftedClock {
    at: Duration,
    from: Instant,
}

impl ShiftedClock {
    fn starting_at(unix_ms: i64) -> ShiftedClock {
        ShiftedClock {
            at: Duration::from_millis(unix_ms.max(0) as u64),
            from: Instant::now(),
        }
    }
}

impl wasmtime_wasi::HostWallClock for ShiftedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.at + self.from.elapsed()
    }
}

/// Opens a WASI context to exactly what `grants` lists.
fn grant(
    builder: &mut wasmtime_wasi::WasiCtxBuilder,
    grants: &Arc<Grants>,
    plugin: &Arc<str>,
    denied: &Arc<Mutex<Vec<String>>>,
) {
    for dir in &grants.read {
        let guest = dir.to_string_lossy();
        if let Err(e) = builder.preopened_dir(dir, guest.as_ref(), FsPerms::ReadOnly) {
            // A granted directory that is gone reads as missing inside the
            // guest, and the probe's result says so; not a log line per run.
            tracing::debug!(target: "assay::plugin", plugin = %plugin, "allow_read {}: {e}", dir.display());
        }
    }
    builder.allow_ip_name_lookup(grants.dns);
    builder.allow_udp(false);
    builder.allow_tcp(!grants.tcp.is_empty());
    let (grants, plugin, denied) = (grants.clone(), plugin.clone(), denied.clone());
    builder.socket_addr_check(move |addr, usage| {
        let (grants, plugin, denied) = (grants.clone(), plugin.clone(), denied.clone());
        Box::pin(async move {
            use wasmtime_wasi::sockets::SocketAddrUse;
            match usage {
                // The implicit bind before a connect picks an ephemeral port;
                // binding a chosen port (to listen) is not a probe's business.
                SocketAddrUse::TcpBind => addr.port() == 0,
                SocketAddrUse::TcpConnect => {
                    let mut resolved = std::collections::HashMap::new();
                    for name in grants.tcp_names() {
                        let ips: Vec<std::net::IpAddr> =
                            match tokio::net::lookup_host((name, 0)).await {
                                Ok(a) => a.map(|s| s.ip()).collect(),
                                Err(_) => Vec::new(),
                            };
                        resolved.insert(name.to_owned(), ips);
                    }
                    let ok =
                        grants.tcp_allows(addr, &|n| resolved.get(n).cloned().unwrap_or_default());
                    if !ok {
                        CallState::deny(
                            &denied,
                            &plugin,
                            format!("tcp connect to {addr}: not in allow_tcp"),
                        );
                    }
                    ok
                }
                _ => false,
            }
        })
    });
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let (ctx, hooks) = self.http.get_or_insert_with(|| {
            let hooks = HttpHooks {
                grants: self.grants.clone().unwrap_or_default(),
                timeout: self
                    .deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
                plugin: self.plugin.clone(),
                denied: self.denied.clone(),
                sockets: self.sockets.clone(),
                max_sockets: self.quotas.max_sockets,
            };
            (WasiHttpCtx::new(), hooks)
        });
        WasiHttpCtxView {
            ctx,
            table: &mut self.table,
            hooks,
        }
    }
}
