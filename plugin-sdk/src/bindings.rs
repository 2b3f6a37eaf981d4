//! Generated component bindings, one module per plugin kind (cargo feature).
//!
//! Nothing here is for plugin authors: `crate::export` adapts these to the
//! traits (`Validator`, `Probe`, `Router` and the prepared ones).
#![allow(missing_docs, unreachable_pub, unsafe_code, clippy::all)]

#[cfg(feature = "validator")]
pub mod validator {
    wit_bindgen::generate!({
        path: "../wit",
        // Every SDK validator exports `prepare` too: plain ones check their config there.
        world: "prepared-validator",
        pub_export_macro: true,
        export_macro_name: "__export_validator_world",
        default_bindings_module: "assay_plugin_sdk::__private::bindings::validator",
        runtime_path: "assay_plugin_sdk::__private::wit_bindgen::rt",
    });
}

#[cfg(feature = "probe")]
pub mod probe {
    wit_bindgen::generate!({
        path: "../wit",
        world: "probe",
        pub_export_macro: true,
        export_macro_name: "__export_probe_world",
        default_bindings_module: "assay_plugin_sdk::__private::bindings::probe",
        runtime_path: "assay_plugin_sdk::__private::wit_bindgen::rt",
    });
}

#[cfg(feature = "router")]
pub mod router {
    wit_bindgen::generate!({
        path: "../wit",
        world: "prepared-router",
        pub_export_macro: true,
        export_macro_name: "__export_router_world",
        default_bindings_module: "assay_plugin_sdk::__private::bindings::router",
        runtime_path: "assay_plugin_sdk::__private::wit_bindgen::rt",
    });
}

#[cfg(all(target_arch = "wasm32", feature = "probe", not(feature = "validator")))]
pub(crate) use probe::assay::plugin::host;
#[cfg(all(
    target_arch = "wasm32",
    feature = "router",
    not(any(feature = "validator", feature = "probe"))
))]
pub(crate) use router::assay::plugin::host;
/// The `host` interface of the world this build generates. A plugin enables
/// one kind; should several be on (natively, under feature unification), any
/// of their identical `host` modules serves.
#[cfg(all(target_arch = "wasm32", feature = "validator"))]
pub(crate) use validator::assay::plugin::host;
