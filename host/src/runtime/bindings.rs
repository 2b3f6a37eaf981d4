//! Generated host bindings for the plugin worlds (`wit/plugin.wit`). Only `bindgen!` output lives here.
//!
//! The probe and router worlds reuse the validator world's `types` and `host`
//! bindings, so one implementation of `host` serves every kind.
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

pub mod router {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "router",
        exports: { default: async },
        with: {
            "assay:plugin/types": super::generated::assay::plugin::types,
            "assay:plugin/host": super::generated::assay::plugin::host,
        },
    });
}

pub use generated::assay::plugin::types::{
    Alert, AlertStatus, Deliveries, Delivery, Finding, Level, Observation, PluginInfo,
    ProbeOutcome, ProbeStatus, RoutingDecision, Severity, Subject, Validation,
};
pub use generated::*;
pub use probe::{Probe, ProbePre};
pub use router::{Router, RouterPre};
