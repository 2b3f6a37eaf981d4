//! Sockets a probe call may hold: at most `max_sockets` open per call, and never past the host's file-descriptor headroom.
//!
//! wasmtime-wasi opens the OS socket when the guest *creates* a TCP socket,
//! before any connect reaches the `allow_tcp` check, so the cap is enforced
//! there: `wasi:sockets/tcp-create-socket` is linked to [`CallState`]'s own
//! implementation, which counts the TCP sockets alive in the call's resource
//! table and answers `new-socket-limit` past the cap. Each outgoing
//! `wasi:http` request counts as one socket too.
//!
//! Whatever the caps add up to, guest sockets never take the process past
//! [`HEADROOM_PERCENT`] of its `RLIMIT_NOFILE`: the host keeps the rest for
//! its listener, its database and its own connections. At start the soft
//! limit is raised to the hard one, as servers commonly do.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::{SocketError, SocketResult, TcpSocket};
use wasmtime_wasi::sockets::WasiSocketsView;

use super::state::CallState;

/// Guest sockets may take the process up to this share of its fd limit.
pub const HEADROOM_PERCENT: u64 = 80;

/// One call's socket accounting, shared by its WASI context and its HTTP hooks.
#[derive(Debug, Default)]
pub struct SocketBook {
    /// Outgoing HTTP requests made (each holds a connection).
    pub(crate) http_requests: AtomicU32,
    /// Refused by the per-call cap.
    pub(crate) refused_cap: AtomicU32,
    /// Refused to keep the host's fd headroom.
    pub(crate) refused_headroom: AtomicU32,
}

/// The process's open-file limit after [`raise_fd_limit`] (`None`: unknown).
fn fd_limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| rustix::process::getrlimit(rustix::process::Resource::Nofile).current)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (called once at start).
/// Answers the limit in force.
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::debug!("cannot raise RLIMIT_NOFILE: {e}");
        }
    }
    fd_limit()
}

/// Open file descriptors of this process now (Linux; `None` elsewhere).
pub fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64)
}

/// Whether one more guest socket keeps the process within its headroom.
pub(crate) fn within_headroom() -> bool {
    match (fd_limit(), open_fds()) {
        (Some(limit), Some(open)) => (open + 1) * 100 <= limit * HEADROOM_PERCENT,
        _ => true,
    }
}

impl SocketBook {
    /// Checks one more socket (`open` are held now) against the call's cap
    /// and the host's headroom; a refusal is noted in the call's `denied`
    /// and counted.
    pub(crate) fn admit(
        &self,
        open: u32,
        cap: u32,
        what: &str,
        plugin: &str,
        denied: &Mutex<Vec<String>>,
    ) -> bool {
        let refused = if open >= cap {
            self.refused_cap.fetch_add(1, Ordering::Relaxed);
            Some(format!(
                "{what}: max_sockets = {cap} open sockets per call reached"
            ))
        } else if !within_headroom() {
            self.refused_headroom.fetch_add(1, Ordering::Relaxed);
            Some(format!(
                "{what}: refused to keep {}% of the host's file descriptors free (RLIMIT_NOFILE {})",
                100 - HEADROOM_PERCENT,
                fd_limit().unwrap_or_default()
            ))
        } else {
            None
        };
        match refused {
            Some(why) => {
                CallState::deny(denied, plugin, why);
                false
            }
            None => true,
        }
    }

    /// Refusals so far: (per-call cap, headroom).
    pub fn refusals(&self) -> (u32, u32) {
        (
            self.refused_cap.load(Ordering::Relaxed),
            self.refused_headroom.load(Ordering::Relaxed),
        )
    }
}

impl CallState {
    /// TCP sockets alive in this call's resource table.
    fn open_tcp_sockets(&mut self) -> u32 {
        self.table
            .iter_mut()
            .filter(|e| e.is::<TcpSocket>())
            .count() as u32
    }
}

// `tcp-create-socket`'s generated trait needs `network` beside it: delegated
// to wasmtime-wasi's, unchanged.
impl network::Host for CallState {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.sockets(), error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.sockets(), err)
    }
}

impl network::HostNetwork for CallState {
    fn drop(&mut self, this: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.sockets(), this)
    }
}

impl tcp_create_socket::Host for CallState {
    fn create_tcp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<TcpSocket>> {
        let open = self.open_tcp_sockets() + self.sockets.http_requests.load(Ordering::Relaxed);
        if !self.sockets.admit(
            open,
            self.quotas.max_sockets,
            "tcp socket",
            &self.plugin,
            &self.denied,
        ) {
            return Err(ErrorCode::NewSocketLimit.into());
        }
        let mut view = self.sockets();
        tcp_create_socket::Host::create_tcp_socket(&mut view, address_family)
    }
}
