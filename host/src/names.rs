//! One spelling per state: an enum's names are its serde names, and
//! `named!` derives `as_str`, `Display` and `FromStr` from them, so the
//! API, the metric labels, the store and the log cannot disagree and no
//! enum spells its names twice.
//!
//! ```ignore
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! pub enum Kind { Alerts, RateLimitSummary }
//! named!(Kind, "notification kind");
//! assert_eq!(Kind::RateLimitSummary.as_str(), "rate_limit_summary");
//! ```

use serde::Serialize;
use serde::ser::{Impossible, Serializer};

/// The serde name of a unit variant (what it serialises as).
///
/// # Panics
/// If `v` does not serialise as a unit variant: `named!` is for unit-only enums.
pub(crate) fn name_of<T: Serialize>(v: &T) -> &'static str {
    v.serialize(VariantName)
        .expect("named! is for unit-only enums")
}

/// A serializer that answers a unit variant's name and refuses anything else.
struct VariantName;

#[derive(Debug)]
struct NotAUnitVariant;

impl std::fmt::Display for NotAUnitVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a unit variant")
    }
}

impl std::error::Error for NotAUnitVariant {}

impl serde::ser::Error for NotAUnitVariant {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotAUnitVariant
    }
}

/// The methods a unit variant never reaches.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),+ $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self::Ok, Self::Error> {
            Err(NotAUnitVariant)
        })+
    };
}

impl Serializer for VariantName {
    type Ok = &'static str;
    type Error = NotAUnitVariant;
    type SerializeSeq = Impossible<&'static str, NotAUnitVariant>;
    type SerializeTuple = Impossible<&'static str, NotAUnitVariant>;
    type SerializeTupleStruct = Impossible<&'static str, NotAUnitVariant>;
    type SerializeTupleVariant = Impossible<&'static str, NotAUnitVariant>;
    type SerializeMap = Impossible<&'static str, NotAUnitVariant>;
    type SerializeStruct = Impossible<&'static str, NotAUnitVariant>;
    type SerializeStructVariant = Impossible<&'static str, NotAUnitVariant>;

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<&'static str, NotAUnitVariant> {
        Ok(variant)
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<&'static str, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<&'static str, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<&'static str, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
}

/// `as_str`, `Display` and `FromStr` for a unit-only enum, from its serde
/// names; `$what` names the kind of value in parse errors.
macro_rules! named {
    ($name:ident, $what:literal) => {
        impl $name {
            /// Its name in the API, the metrics, the store and the log.
            pub fn as_str(self) -> &'static str {
                $crate::names::name_of(&self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                use serde::de::IntoDeserializer;
                let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
                    s.into_deserializer();
                <$name as serde::Deserialize>::deserialize(de)
                    .map_err(|e| format!("{} {s:?}: {e}", $what))
            }
        }
    };
}

pub(crate) use named;

#[cfg(test)]
#[allow(unreachable_pub)] // (what `named!` makes public is private to the test)
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Sample {
        One,
        RateLimitSummary,
    }
    named!(Sample, "sample");

    #[test]
    fn names_are_the_serde_names_both_ways() {
        assert_eq!(Sample::RateLimitSummary.as_str(), "rate_limit_summary");
        assert_eq!(Sample::One.to_string(), "one");
        assert_eq!("rate_limit_summary".parse(), Ok(Sample::RateLimitSummary));
        let err = "two".parse::<Sample>().unwrap_err();
        assert!(
            err.contains("sample \"two\"") && err.contains("one"),
            "{err}"
        );
    }
}
