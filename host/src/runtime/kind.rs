//! Telling plugin kinds apart by the contract interface a component exports.

use std::fmt;

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The contract version this host serves.
pub const CONTRACT: &str = "assay:plugin@0.1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Validator,
    Probe,
    Router,
}

impl PluginKind {
    pub const ALL: [PluginKind; 3] = [PluginKind::Validator, PluginKind::Probe, PluginKind::Router];

    /// The exported interface that marks this kind.
    pub fn export_name(self) -> &'static str {
        match self {
            PluginKind::Validator => "assay:plugin/validation@0.1.0",
            PluginKind::Probe => "assay:plugin/probing@0.1.0",
            PluginKind::Router => "assay:plugin/routing@0.1.0",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Validator => "validator",
            PluginKind::Probe => "probe",
            PluginKind::Router => "router",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The optional function export that prepares a plugin from its config
/// (the worlds `prepared-validator` and `prepared-router` in `wit/plugin.wit`).
pub const PREPARATION: &str = "prepare";

/// Whether the component exports [`PREPARATION`].
pub fn prepares(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name == PREPARATION)
}

/// The custom section by which a component asks to be snapshotted after
/// `prepare` (`wit/plugin.wit`, world `prepared-validator`).
pub const SNAPSHOT_SECTION: &str = "assay:snapshot";

/// Whether the component's bytes carry [`SNAPSHOT_SECTION`], in any of its
/// nested modules. Unparseable bytes say no (compiling them already failed).
pub fn wants_snapshot(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(wasm).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == SNAPSHOT_SECTION)
    })
}

/// The kind of `component`, or a sentence saying why it is none.
pub fn detect(engine: &Engine, component: &Component) -> Result<PluginKind, String> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let kinds: Vec<PluginKind> = PluginKind::ALL
        .into_iter()
        .filter(|k| exports.iter().any(|e| e == k.export_name()))
        .collect();
    match kinds.as_slice() {
        [one] => Ok(*one),
        [] => {
            let other_version = exports.iter().find(|e| e.starts_with("assay:plugin/"));
            Err(match other_version {
                Some(e) => format!(
                    "exports {e}, but this host serves {CONTRACT}; rebuild the plugin against this contract"
                ),
                None => format!(
                    "matches no assay plugin world: it exports {} (a plugin exports one of {})",
                    if exports.is_empty() {
                        "nothing".to_string()
                    } else {
                        exports.join(", ")
                    },
                    PluginKind::ALL.map(|k| k.export_name()).join(", ")
                ),
            })
        }
        many => Err(format!(
            "exports the interfaces of several plugin kinds ({}); a plugin is exactly one kind",
            many.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
