//! On-disk cache of compiled plugins, so a restart does not recompile.
//!
//! A `.cwasm` file per (key, engine compatibility hash); the key is the wasm
//! digest, or for a prepared snapshot the plugin's and the config's digests. Loading one
//! memory-maps it (`Component::deserialize_file`), far cheaper than
//! compiling. A missing, unreadable or stale file just means a compile.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Clone)]
pub(super) struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: String,
    /// One compile per key at a time: the same plugin loaded twice at once
    /// (two copies under different names) compiles once, and the second
    /// load finds the first one's artifact.
    in_flight: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

/// Feeds `Hash` output into SHA-256, to turn the engine's compatibility hash into a stable key.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ArtifactCache {
    /// `dir: None` disables the cache.
    pub(super) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex::encode(&h.0.finalize()[..8]);
        ArtifactCache {
            dir,
            engine_key,
            in_flight: Arc::default(),
        }
    }

    fn path_for(&self, dir: &Path, key: &str) -> PathBuf {
        dir.join(format!("{key}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `bytes` (whose SHA-256 hex is `wasm_digest`):
    /// from the cache when present, else compiled and stored.
    pub(super) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        wasm_digest: &str,
    ) -> anyhow::Result<(Component, bool)> {
        let turn = self
            .in_flight
            .lock()
            .expect("artifact lock")
            .entry(wasm_digest.to_owned())
            .or_default()
            .clone();
        let _turn = turn.lock().expect("artifact lock");
        let found = match self.lookup(engine, wasm_digest) {
            Some(c) => Ok((c, true)),
            None => self.compile(engine, wasm_digest, bytes).map(|c| (c, false)),
        };
        self.in_flight
            .lock()
            .expect("artifact lock")
            .remove(wasm_digest);
        found
    }

    /// The cached compilation stored under `key`, if there is a usable one.
    pub(super) fn lookup(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.path_for(self.dir.as_ref()?, key);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file is one we wrote with `precompile_component` for
        // an engine with the same compatibility hash (it is in the name),
        // in a directory the operator controls; wasmtime still checks the
        // header and refuses a foreign or truncated artifact.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => {
                // Used now: pruning keeps the most recently used snapshots.
                if key.starts_with("snap-") {
                    let _ = std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                }
                Some(c)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compiled artifact: {e:#}");
                None
            }
        }
    }

    /// Compiles `bytes` and stores the result under `key` (when the cache is on).
    pub(super) fn compile(
        &self,
        engine: &Engine,
        key: &str,
        bytes: &[u8],
    ) -> anyhow::Result<Component> {
        let Some(dir) = &self.dir else {
            return Ok(Component::new(engine, bytes)?);
        };
        let compiled = engine.precompile_component(bytes)?;
        let path = self.path_for(dir, key);
        match store_atomically(dir, &path, &compiled) {
            // Mapped from the file, as after a restart: its pages are the
            // page cache's, shared and evictable, not this process's own.
            Ok(()) => {
                if let Some(c) = self.lookup(engine, key) {
                    return Ok(c);
                }
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot write the compiled-plugin cache: {e:#}")
            }
        }
        // SAFETY: `compiled` was produced just now by this engine.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok(component)
    }
}

/// Snapshot artifacts kept per plugin file: each config change makes one,
/// and a long-running server must not fill its disk with them.
const SNAPSHOTS_KEPT: usize = 16;

impl ArtifactCache {
    /// Removes all but the [`SNAPSHOTS_KEPT`] newest artifacts whose key
    /// starts with `prefix` (one plugin file's snapshots). Best effort: a
    /// file that cannot be listed or removed stays.
    pub(super) fn prune(&self, prefix: &str) {
        let Some(dir) = &self.dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut mine: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(prefix) && name.ends_with(".cwasm")
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if mine.len() <= SNAPSHOTS_KEPT {
            return;
        }
        mine.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        for (_, path) in &mine[SNAPSHOTS_KEPT..] {
            if std::fs::remove_file(path).is_ok() {
                tracing::debug!(path = %path.display(), "removed an old prepared snapshot");
            }
        }
    }
}

fn store_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    // Unique per writer: two loads of the same plugin may store at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest_snapshots_of_one_plugin_and_nothing_else_goes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(&Engine::default(), Some(dir.path().to_owned()));
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let write = |name: &str, age: u64| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(age))
                .unwrap();
        };
        for i in 0..20 {
            write(&format!("snap-aaaa-{i:02}-e.cwasm"), i);
        }
        write("snap-bbbb-00-e.cwasm", 0);
        write("aaaa-e.cwasm", 0);
        cache.prune("snap-aaaa-");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), SNAPSHOTS_KEPT + 2, "{left:?}");
        // The four oldest of plugin aaaa went; the other plugin's and the compiled plugin stayed.
        assert!(
            !left.contains(&"snap-aaaa-03-e.cwasm".to_owned()),
            "{left:?}"
        );
        assert!(
            left.contains(&"snap-aaaa-04-e.cwasm".to_owned()),
            "{left:?}"
        );
        assert!(left.contains(&"snap-bbbb-00-e.cwasm".to_owned()));
        assert!(left.contains(&"aaaa-e.cwasm".to_owned()));
    }
}
