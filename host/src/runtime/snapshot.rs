//! Prepared snapshots: a plugin instantiated, prepared from one config, and its memories and globals written into a new component (wasmtime-wizer), compiled and cached on disk.
//!
//! Every call then gets a fresh instance *of the snapshot*: the same
//! isolation as before (nothing a call writes survives it), but the set-up
//! `prepare` did is already in the instance's memory image, mapped
//! copy-on-write by the pooling allocator.
//!
//! The steps, after `wasmtime-wizer`'s own `run_component` but with our
//! linker, limits and deadline:
//! 1. instrument the component (wizer adds exports that read its state);
//! 2. compile that (thrown away after) and instantiate it like any call;
//! 3. call `prepare(config)` under the plugin's deadline and memory cap;
//! 4. refuse if prepare left host resources open (stdout, files, sockets):
//!    their handles would dangle in every instance of the snapshot;
//! 5. read memories and globals into a new component, compile and cache it
//!    under (plugin digest, config digest, engine).
//!
//! What prepare reads from WASI (random seeds, the clock) is frozen into the
//! snapshot; the SDK's rule is that prepare depends on its config only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::{Instance, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::call::{CallFailure, call_prepare_export};
use super::kind::PluginKind;
use super::state::CallState;
use super::{CallLimits, Linked, Runtime};

/// Why a plugin could not be snapshotted. Its calls carry on unprepared.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// `prepare` failed: refused its config, trapped, timed out, or ran out of memory.
    #[error("prepare() failed: {0}")]
    Prepare(CallFailure),
    /// The component's shape or prepare's side effects rule a snapshot out.
    #[error("cannot be snapshotted: {0}")]
    Unsupported(String),
    /// Compiling the instrumented component or the snapshot failed.
    #[error("compiling: {0}")]
    Compile(String),
}

/// A prepared snapshot, pre-linked (`linked`) and ready to instantiate.
pub struct Snapshot {
    pub linked: Linked,
    /// Whether it came from the on-disk cache (no prepare ran).
    pub from_cache: bool,
    /// Size of the snapshot component (0 when it came from the cache).
    pub size: usize,
    /// Wall time to load or build it.
    pub took: Duration,
}

/// The cache key of `wasm_digest` (hex) prepared with `config`.
pub fn snapshot_key(wasm_digest: &str, config: &str) -> String {
    let config = hex::encode(&Sha256::digest(config.as_bytes())[..16]);
    format!("{}{config}", key_prefix(wasm_digest))
}

/// What the keys of one plugin file's snapshots start with.
fn key_prefix(wasm_digest: &str) -> String {
    format!("snap-{}-", wasm_digest.trim_start_matches("sha256:"))
}

impl Runtime {
    /// The snapshot stored under `key` in the on-disk cache, pre-linked as `kind`.
    pub fn cached_snapshot(&self, kind: PluginKind, key: &str) -> Option<Snapshot> {
        let started = Instant::now();
        let component = self.artifacts.lookup(&self.engine, key)?;
        let linked = self.link(kind, &component).ok()?;
        Some(Snapshot {
            linked,
            from_cache: true,
            size: 0,
            took: started.elapsed(),
        })
    }

    /// Builds the snapshot of `wasm` prepared with `config` and caches it
    /// under `key` (see [`snapshot_key`]). One build runs at a time: each is
    /// seconds of compiling, and serving goes on meanwhile.
    pub async fn build_snapshot(
        &self,
        plugin: &Arc<str>,
        kind: PluginKind,
        wasm: &[u8],
        key: &str,
        config: &str,
        limits: CallLimits,
    ) -> Result<Snapshot, SnapshotError> {
        let _turn = self.snapshot_permits.acquire().await.expect("never closed");
        if let Some(s) = self.cached_snapshot(kind, key) {
            return Ok(s);
        }
        let started = Instant::now();
        let wizer = Wizer::new();
        // Validating and rewriting a large component takes a while: off the
        // async workers where the runtime allows (its result borrows `wasm`,
        // so `spawn_blocking` cannot take it).
        let instrument = || wizer.instrument_component(wasm);
        let instrumented = match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(instrument),
            _ => instrument(),
        };
        let (cx, instrumented) =
            instrumented.map_err(|e| SnapshotError::Unsupported(format!("{e:#}")))?;
        let engine = self.engine.clone();
        let component = tokio::task::spawn_blocking(move || {
            wasmtime::component::Component::new(&engine, &instrumented)
        })
        .await
        .map_err(|e| SnapshotError::Compile(e.to_string()))?
        .map_err(|e| SnapshotError::Compile(format!("{e:#}")))?;
        let pre = self
            .linker(kind)
            .instantiate_pre(&component)
            .map_err(|e| SnapshotError::Unsupported(format!("{e:#}")))?;

        let _slot = self.load_permits.acquire().await.expect("never closed");
        let mut store = self.store(plugin, limits);
        let deadline = tokio::time::Instant::now() + limits.timeout;
        let run = tokio::time::timeout_at(deadline, async {
            let instance = pre.instantiate_async(&mut store).await?;
            let answer = call_prepare_export(&mut store, &instance, config).await?;
            Ok((instance, answer))
        })
        .await;
        let instance = match Self::settle(&mut store, limits, run) {
            Ok((instance, Ok(()))) => instance,
            Ok((_, Err(message))) => {
                return Err(SnapshotError::Prepare(CallFailure::Guest(message)));
            }
            Err(failure) => return Err(SnapshotError::Prepare(failure)),
        };
        if !store.data().table.is_empty() {
            return Err(SnapshotError::Unsupported(
                "prepare() left host resources open (stdout, stderr, files or sockets), whose handles cannot outlive it; prepare must only compute from its config"
                    .into(),
            ));
        }
        let mut state = Reader {
            store: &mut store,
            instance,
            error: None,
        };
        let bytes = tokio::time::timeout_at(deadline, wizer.snapshot_component(&cx, &mut state))
            .await
            .map_err(|_| SnapshotError::Prepare(CallFailure::Timeout(limits.timeout)))?
            .map_err(|e| SnapshotError::Unsupported(format!("{e:#}")))?;
        if let Some(e) = state.error {
            return Err(SnapshotError::Unsupported(format!(
                "reading its state: {e:#}"
            )));
        }
        drop((store, _slot));
        let size = bytes.len();
        let component = {
            let (runtime_engine, key) = (self.engine.clone(), key.to_owned());
            let artifacts = self.artifacts.clone();
            tokio::task::spawn_blocking(move || artifacts.compile(&runtime_engine, &key, &bytes))
                .await
                .map_err(|e| SnapshotError::Compile(e.to_string()))?
                .map_err(|e| SnapshotError::Compile(format!("{e:#}")))?
        };
        let linked = self
            .link(kind, &component)
            .map_err(|e| SnapshotError::Unsupported(format!("{e:#}")))?;
        if let Some(digest) = key.strip_prefix("snap-").and_then(|k| k.split('-').next()) {
            self.artifacts.prune(&key_prefix(digest));
        }
        Ok(Snapshot {
            linked,
            from_cache: false,
            size,
            took: started.elapsed(),
        })
    }
}

/// Reads an instrumented instance's state for wizer (its
/// `ComponentInstanceState`, after the crate's `WasmtimeWizerComponent`),
/// keeping the first error instead of panicking.
struct Reader<'a> {
    store: &'a mut Store<CallState>,
    instance: Instance,
    error: Option<wasmtime::Error>,
}

impl Reader<'_> {
    async fn call<R, R2>(
        &mut self,
        instance: &str,
        func: &str,
        use_ret: impl FnOnce(&Store<CallState>, R) -> R2,
    ) -> Option<R2>
    where
        R: wasmtime::component::Lift + Send + Sync + 'static,
    {
        if self.error.is_some() {
            return None;
        }
        let result: wasmtime::Result<R2> = async {
            let (_, exported) = self
                .instance
                .get_export(&mut *self.store, None, instance)
                .ok_or_else(|| wasmtime::format_err!("no export {instance}"))?;
            let (_, index) = self
                .instance
                .get_export(&mut *self.store, Some(&exported), func)
                .ok_or_else(|| wasmtime::format_err!("no export {instance}#{func}"))?;
            let f = self
                .instance
                .get_typed_func::<(), (R,)>(&mut *self.store, index)?;
            let (ret,) = f.call_async(&mut *self.store, ()).await?;
            Ok(use_ret(self.store, ret))
        }
        .await;
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

impl ComponentInstanceState for Reader<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        let mut contents = Some(contents);
        let read = self
            .call(instance, func, |store, list: WasmList<u8>| {
                if let Some(f) = contents.take() {
                    f(list.as_le_slice(store));
                }
            })
            .await;
        if read.is_none()
            && let Some(f) = contents.take()
        {
            f(&[]);
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, r| r).await.unwrap_or(0)
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, r| r).await.unwrap_or(0)
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, r: f32| r.to_bits())
            .await
            .unwrap_or(0)
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, r: f64| r.to_bits())
            .await
            .unwrap_or(0)
    }
}
