//! Validation levels: the contract's `Level`, and its conversion into the generated bindings.

pub(crate) use assay_contract::Level;

use crate::runtime::bindings;

impl From<Level> for bindings::Level {
    fn from(l: Level) -> Self {
        match l {
            Level::Minimal => bindings::Level::Minimal,
            Level::Standard => bindings::Level::Standard,
            Level::Comprehensive => bindings::Level::Comprehensive,
            Level::Full => bindings::Level::Full,
        }
    }
}
