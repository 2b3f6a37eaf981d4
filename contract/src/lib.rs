//! The vocabulary of the assay plugin contract (`wit/plugin.wit`, interface `types`) as
//! plain Rust enums, shared by the host and the plugin SDK so both spell, order and
//! parse them the same way. No dependencies by default; `serde` and `matchers`
//! (label matchers, with `regex`) are optional features.

#[cfg(feature = "matchers")]
mod matchers;
#[cfg(feature = "matchers")]
pub use matchers::Matcher;

use std::fmt;
use std::str::FromStr;

/// Declares a unit-only enum with its lower-case names: `as_str`, `ALL`, `Display`,
/// `FromStr` (with an error listing the accepted names) and, with the `serde`
/// feature, (de)serialisation by those names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lower-case name used in reports, config files and on the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} {s:?} (expected one of: {})", $what, names.join(", "))
                })
            }
        }
    };
}

named_enum! {
    /// How deep a validator looks. Ordered: `Minimal < Standard < Comprehensive < Full`,
    /// and each level includes every check of the levels below it.
    Level, "level" {
        /// Cheap structural checks.
        Minimal = "minimal",
        /// The checks most deployments want on every subject.
        Standard = "standard",
        /// Adds expensive checks (recomputing hashes, normalising text).
        Comprehensive = "comprehensive",
        /// Everything the plugin knows how to check.
        Full = "full",
    }
}

named_enum! {
    /// How bad a finding is. Ordered: `Info < Warning < Error < Critical`.
    Severity, "severity" {
        Info = "info",
        Warning = "warning",
        Error = "error",
        Critical = "critical",
    }
}

impl Default for Level {
    /// `minimal`: the level a validator runs from unless its settings say otherwise.
    fn default() -> Self {
        Level::Minimal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_depth() {
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>(), Ok(*l));
        }
        assert!(Level::Minimal < Level::Full && Severity::Warning < Severity::Error);
        let err = "deep".parse::<Level>().unwrap_err();
        assert_eq!(
            err,
            "unknown level \"deep\" (expected one of: minimal, standard, comprehensive, full)"
        );
    }
}
