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
            Ok(c) => Some(c),
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
