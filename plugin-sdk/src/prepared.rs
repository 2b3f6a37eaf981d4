//! Where a prepared plugin keeps what `prepare` built: one slot per instance, keyed by the config text.
//!
//! `prepare` fills the slot; the host may snapshot the instance right after,
//! so every later instance starts with it filled. A call finds the state
//! there when its config is the one prepared, and otherwise prepares for
//! itself (without keeping it), so a call is right whether or not the host
//! prepared the instance.

use std::any::Any;
use std::sync::OnceLock;

struct Slot {
    config: String,
    state: Box<dyn Any + Send + Sync>,
}

static SLOT: OnceLock<Slot> = OnceLock::new();

/// `prepare` for `config`: builds the state and keeps it in the slot (the
/// first time; an instance is prepared once).
pub(crate) fn prepare<P: Send + Sync + 'static>(
    config: &str,
    build: impl FnOnce() -> Result<P, String>,
) -> Result<(), String> {
    if SLOT.get().is_some_and(|s| s.config == config) {
        return Ok(());
    }
    let state = build()?;
    let _ = SLOT.set(Slot {
        config: config.to_owned(),
        state: Box::new(state),
    });
    // Heap headroom for the calls: grown now and freed, it stays with the
    // allocator, so an instance started from the snapshot does not grow its
    // memory (a host round trip) in every call. Untouched, it costs no
    // resident memory.
    drop(std::hint::black_box(Vec::<u8>::with_capacity(HEADROOM)));
    Ok(())
}

/// See [`prepare`].
const HEADROOM: usize = 1 << 20;

/// Runs `call` with the state prepared for `config`: the slot's, or one
/// built now when the slot holds none (or another config's).
pub(crate) fn with<P: Send + Sync + 'static, R>(
    config: &str,
    build: impl FnOnce() -> Result<P, String>,
    call: impl FnOnce(&P) -> Result<R, String>,
) -> Result<R, String> {
    if let Some(state) = SLOT
        .get()
        .filter(|s| s.config == config)
        .and_then(|s| s.state.downcast_ref::<P>())
    {
        return call(state);
    }
    if SLOT.get().is_none() {
        prepare(config, build)?;
        if let Some(state) = SLOT.get().and_then(|s| s.state.downcast_ref::<P>()) {
            return call(state);
        }
        return Err("the prepared state has an unexpected type".into());
    }
    call(&build()?)
}

#[cfg(test)]
mod tests {
    // One process, one slot: the whole story in one test.
    #[test]
    fn a_call_uses_the_prepared_state_for_its_config_and_builds_its_own_otherwise() {
        let mut built = 0;
        super::prepare("a", || {
            built += 1;
            Ok(10_u32)
        })
        .unwrap();
        super::prepare("a", || -> Result<u32, String> { panic!("prepared twice") }).unwrap();
        assert_eq!(
            super::with(
                "a",
                || -> Result<u32, String> { panic!("rebuilt") },
                |n: &u32| Ok(*n)
            ),
            Ok(10)
        );
        assert_eq!(super::with("b", || Ok(20_u32), |n: &u32| Ok(*n)), Ok(20));
        assert_eq!(built, 1);
        assert!(super::prepare("c", || Err::<u32, _>("bad config".to_owned())).is_err());
    }
}
