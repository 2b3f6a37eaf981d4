//! A preparing plugin's snapshots, one per config it is called with: looked up on every call, built in the background, switched to when ready.
//!
//! Until a config's snapshot is ready, calls take the plain path (a fresh
//! instance of the plugin as shipped, which prepares inside the call), so
//! nothing waits and nothing fails. The switch is one slot write under a
//! lock: a call picks the plain code or the snapshot when it starts and
//! keeps it.
//!
//! A failed build is remembered (and logged once); that config's calls stay
//! plain until the plugin's file changes (a settings-only reload keeps the
//! same snapshots, keyed by config). At most [`MAX_CONFIGS`] configs keep
//! snapshots per plugin file (validators need one, a router one per
//! `[[router]]` entry naming it); past that the oldest goes.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::runtime::PluginKind;
use crate::runtime::{CallLimits, Linked, Runtime, Snapshot, snapshot_key};

/// Configs per plugin that get a snapshot.
pub const MAX_CONFIGS: usize = 8;

/// Where one config's snapshot stands.
enum Slot {
    Building,
    Ready(Linked),
    Failed(String),
}

/// One config's snapshot, as `/v1/plugins` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotState {
    /// `sha256:<hex>` of the config JSON.
    pub config_digest: String,
    /// `building`, `ready` or `failed`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The snapshots of one plugin file (its bytes: a new file gets new ones).
pub struct Snapshots {
    runtime: Arc<Runtime>,
    plugin: Arc<str>,
    kind: PluginKind,
    file: PathBuf,
    /// `sha256:<hex>` of the file the plugin was loaded from.
    digest: String,
    /// Per config text: at most [`MAX_CONFIGS`], so a scan (lengths first,
    /// then bytes) is cheaper than hashing a large config on every call.
    slots: RwLock<Vec<(String, Slot)>>,
}

/// Keeps a place free for one more config: when all [`MAX_CONFIGS`] are
/// taken, the oldest one not building goes (a config that changed away is
/// the usual one). Answers false when every slot is still building.
fn make_room(slots: &mut Vec<(String, Slot)>) -> bool {
    if slots.len() < MAX_CONFIGS {
        return true;
    }
    match slots.iter().position(|(_, s)| !matches!(s, Slot::Building)) {
        Some(i) => {
            slots.remove(i);
            true
        }
        None => false,
    }
}

fn find<'a>(slots: &'a [(String, Slot)], config: &str) -> Option<&'a Slot> {
    slots
        .iter()
        .find(|(c, _)| c.len() == config.len() && c == config)
        .map(|(_, s)| s)
}

impl Snapshots {
    pub fn new(
        runtime: Arc<Runtime>,
        plugin: Arc<str>,
        kind: PluginKind,
        file: PathBuf,
        digest: String,
    ) -> Self {
        Snapshots {
            runtime,
            plugin,
            kind,
            file,
            digest,
            slots: RwLock::default(),
        }
    }

    /// The snapshot prepared with `config`, when it is ready. Otherwise
    /// starts building it in the background (once per config, when there is
    /// a tokio runtime to build on) and answers `None`: the caller takes the
    /// plain path.
    pub fn pick(self: &Arc<Self>, config: &str, limits: CallLimits) -> Option<Linked> {
        {
            let slots = self.slots.read().expect("snapshot lock");
            match find(&slots, config) {
                Some(Slot::Ready(p)) => return Some(p.clone()),
                Some(_) => return None,
                None => {}
            }
        }
        if !self.runtime.options().background_snapshots {
            return None;
        }
        let Ok(tokio) = tokio::runtime::Handle::try_current() else {
            return None;
        };
        {
            let mut slots = self.slots.write().expect("snapshot lock");
            if find(&slots, config).is_some() || !make_room(&mut slots) {
                return None;
            }
            slots.push((config.to_owned(), Slot::Building));
        }
        let me = Arc::downgrade(self);
        let config = config.to_owned();
        tokio.spawn(async move {
            // A plugin replaced meanwhile needs no snapshot.
            if let Some(me) = me.upgrade() {
                let built = me.build(&config, limits).await;
                me.install(config, built);
            }
        });
        None
    }

    /// Loads or builds the snapshot for `config` now, and installs it; the
    /// CLI's way, where a batch pays for the build once.
    pub async fn ensure(&self, config: &str, limits: CallLimits) -> Result<(), String> {
        if let Some(Slot::Ready(_)) = find(&self.slots.read().expect("snapshot lock"), config) {
            return Ok(());
        }
        let built = self.build(config, limits).await;
        let result = built.as_ref().map(|_| ()).map_err(String::clone);
        self.install(config.to_owned(), built);
        result
    }

    /// Installs the snapshot for `config` if the on-disk cache has it (no
    /// build); answers whether it is ready.
    pub fn load_cached(&self, config: &str) -> bool {
        let key = snapshot_key(&self.digest, config);
        match self.runtime.cached_snapshot(self.kind, &key) {
            Some(s) => {
                self.install(config.to_owned(), Ok(s));
                true
            }
            None => false,
        }
    }

    /// Every config's snapshot state, sorted by config digest.
    pub fn states(&self) -> Vec<SnapshotState> {
        let slots = self.slots.read().expect("snapshot lock");
        let mut states: Vec<SnapshotState> = slots
            .iter()
            .map(|(config, slot)| {
                let (state, error) = match slot {
                    Slot::Building => ("building", None),
                    Slot::Ready(_) => ("ready", None),
                    Slot::Failed(e) => ("failed", Some(e.clone())),
                };
                SnapshotState {
                    config_digest: super::digest(config.as_bytes()),
                    state,
                    error,
                }
            })
            .collect();
        states.sort_by(|a, b| a.config_digest.cmp(&b.config_digest));
        states
    }

    async fn build(&self, config: &str, limits: CallLimits) -> Result<Snapshot, String> {
        let key = snapshot_key(&self.digest, config);
        if let Some(s) = self.runtime.cached_snapshot(self.kind, &key) {
            return Ok(s);
        }
        let wasm = tokio::fs::read(&self.file)
            .await
            .map_err(|e| format!("cannot read {}: {e}", self.file.display()))?;
        if super::digest(&wasm) != self.digest {
            return Err(format!(
                "{} changed since it was loaded; the reload that follows prepares the new file",
                self.file.display()
            ));
        }
        self.runtime
            .build_snapshot(&self.plugin, self.kind, &wasm, &key, config, limits)
            .await
            .map_err(|e| e.to_string())
    }

    fn install(&self, config: String, built: Result<Snapshot, String>) {
        let slot = match built {
            Ok(s) => {
                if s.from_cache {
                    tracing::debug!(plugin = %self.plugin, "prepared snapshot loaded from the cache in {:?}", s.took);
                } else {
                    tracing::info!(
                        plugin = %self.plugin,
                        "prepared snapshot ready: built in {:.1} s, {} KiB; calls now start prepared",
                        s.took.as_secs_f64(),
                        s.size >> 10
                    );
                }
                Slot::Ready(s.linked)
            }
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, "no prepared snapshot ({e}); its calls prepare for themselves");
                Slot::Failed(e)
            }
        };
        let mut slots = self.slots.write().expect("snapshot lock");
        match slots.iter_mut().find(|(c, _)| *c == config) {
            Some((_, s)) => *s = slot,
            None => {
                if make_room(&mut slots) {
                    slots.push((config, slot));
                }
            }
        }
    }
}
