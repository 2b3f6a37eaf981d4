//! Host implementations of the interfaces plugins import, one file per WIT interface.

mod host;
mod system;
mod types;
