//! Generated host bindings for the plugin worlds (`wit/plugin.wit`). Only `bindgen!` output lives here.
//!
//! The validator world is run by this version of the host. Probes and
//! routers are recognised by their exports (see `registry::kind`) and get
//! their bindings with their host side.
#![allow(missing_docs, unreachable_pub, clippy::all)]

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "validator",
        exports: { default: async },
    });
}

pub use generated::assay::plugin::types::{
    Finding, Level, PluginInfo, Severity, Subject, Validation,
};
pub use generated::*;
