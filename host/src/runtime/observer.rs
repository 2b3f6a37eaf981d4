//! Who hears what the runtime decided about calls: queueing, refusals, refused sockets and quarantines.
//!
//! The runtime knows nothing of metrics or alerts; the service hands it an
//! [`Observer`] that records these where they belong.

use std::time::Duration;

use super::gate::QuarantineEvent;

pub trait Observer: Send + Sync {
    /// A call waited `wait` for its slot (zero included).
    fn queued(&self, plugin: &str, wait: Duration);
    /// A call was refused before it ran (`share`, `pool`, `quarantined`),
    /// after `waited` at its gate.
    fn refused(&self, plugin: &str, reason: &'static str, waited: Duration);
    /// A probe call was refused sockets: by its `max_sockets`, and to keep the host's fd headroom.
    fn sockets_refused(&self, plugin: &str, by_cap: u32, by_headroom: u32);
    /// A plugin was quarantined or released.
    fn quarantine(&self, event: &QuarantineEvent);
}

/// The observer of a runtime nobody watches (the CLI): refusals and quarantines are still logged.
pub(super) struct Nobody;

impl Observer for Nobody {
    fn queued(&self, _: &str, _: Duration) {}
    fn refused(&self, _: &str, _: &'static str, _: Duration) {}
    fn sockets_refused(&self, plugin: &str, by_cap: u32, by_headroom: u32) {
        tracing::warn!(plugin, "{} socket(s) refused", by_cap + by_headroom);
    }
    fn quarantine(&self, event: &QuarantineEvent) {
        tracing::warn!(plugin = %event.plugin, "quarantine: {:?}", event.change);
    }
}
