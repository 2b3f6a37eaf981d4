//! The loaded plugins as the rest of the host reaches them: the runtime that
//! calls them, the current registry (replaced whole by a reload, while a
//! call keeps the registry it started with), and whether the first load of
//! the plugin directory has finished.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::Registry;
use crate::runtime::Runtime;

pub struct PluginHost {
    runtime: Arc<Runtime>,
    current: ArcSwap<Registry>,
    loaded: watch::Sender<bool>,
}

impl PluginHost {
    /// A host serving `registry`; `loaded` says whether it is the directory's first full load.
    pub fn new(runtime: Arc<Runtime>, registry: Arc<Registry>, loaded: bool) -> PluginHost {
        PluginHost {
            runtime,
            current: ArcSwap::new(registry),
            loaded: watch::Sender::new(loaded),
        }
    }

    /// The current registry snapshot.
    pub fn registry(&self) -> Arc<Registry> {
        self.current.load_full()
    }

    /// Publishes a new registry; calls already running keep theirs.
    pub fn set_registry(&self, registry: Arc<Registry>) {
        self.current.store(registry);
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Whether the plugin directory has loaded once.
    pub fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// Says the plugin directory has loaded once.
    pub fn set_loaded(&self) {
        self.loaded.send_replace(true);
    }

    /// Waits until the plugin directory has loaded once.
    pub async fn wait_loaded(&self) {
        let mut rx = self.loaded.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }
}
