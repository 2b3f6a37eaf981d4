//! The data a plugin's store carries for one call: WASI context (built lazily), limits, captured output.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::MemoryLimiter;

/// Bytes of guest stdout (and, separately, stderr) kept per call. A guest
/// that writes more gets a write error (Rust's `println!` then panics, which
/// ends the call as an error): output is bounded like memory and time.
pub const MAX_GUEST_OUTPUT: usize = 64 * 1024;

/// Store data for one plugin call. Made fresh for every call and dropped after it.
pub struct CallState {
    pub(crate) plugin: Arc<str>,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) log_lines: u32,
    /// When the call must end; checked by the epoch callback.
    pub(crate) deadline: Instant,
    /// Set by the epoch callback when it stopped the guest.
    pub(crate) timed_out: bool,
    table: ResourceTable,
    wasi: Option<Wasi>,
}

/// The WASI side of a call, made on the guest's first WASI call: most
/// validator calls make none, and building a `WasiCtx` (random seeds, stdio
/// streams) is a measurable part of a fresh-instance call.
struct Wasi {
    ctx: WasiCtx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl CallState {
    pub fn new(plugin: Arc<str>, memory_cap: usize, deadline: Instant) -> Self {
        CallState {
            plugin,
            limiter: MemoryLimiter::new(memory_cap),
            log_lines: 0,
            deadline,
            timed_out: false,
            table: ResourceTable::new(),
            wasi: None,
        }
    }

    /// Sends what the guest wrote to stdout/stderr to tracing, a line an event.
    pub fn flush_output(&mut self) {
        let Some(wasi) = &self.wasi else { return };
        for (stream, pipe) in [("stdout", &wasi.stdout), ("stderr", &wasi.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
            {
                tracing::info!(target: "assay::plugin", plugin = %self.plugin, stream, "{line}");
            }
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi.get_or_insert_with(|| {
            let stdout = MemoryOutputPipe::new(MAX_GUEST_OUTPUT);
            let stderr = MemoryOutputPipe::new(MAX_GUEST_OUTPUT);
            // Default deny: no args, no env, no preopened dirs, no sockets,
            // no stdin; only clocks and random, which WASI always provides.
            let ctx = WasiCtx::builder()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .build();
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
