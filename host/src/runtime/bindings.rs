//! Generated host bindings for the plugin worlds (`wit/plugin.wit`). Only `bindgen!` output lives here.
//!
//! The validator and probe worlds are run by this version of the host; the
//! probe world reuses the validator world's `types` and `host` bindings, so
//! one implementation of `host` serves both. Routers are recognised by their
//! exports (see `registry::kind`) and get their bindings with their host side.
#![allow(missing_docs, unreachable_pub, clippy::all)]

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "validator",
        exports: { default: async },
    });
}

pub mod probe {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "probe",
        exports: { default: async },
        with: {
            "assay:plugin/types": super::generated::assay::plugin::types,
            "assay:plugin/host": super::generated::assay::plugin::host,
        },
    });
}

pub use generated::assay::plugin::types::{
    Finding, Level, Observation, PluginInfo, ProbeOutcome, ProbeStatus, Severity, Subject,
    Validation,
};
pub use generated::*;
pub use probe::{Probe, ProbePre};
