//! `assay:plugin/types` has no functions; bindgen still wants its (empty) host trait.

use crate::runtime::bindings::assay::plugin::types::Host;
use crate::runtime::state::CallState;

impl Host for CallState {}
