//! RFC 8785 (JCS) canonical JSON, written straight from a `serde_json::Value`.
//!
//! `serde_json_canonicalizer` is correct but builds intermediate values and
//! allocates per member: on a 10,000-block ledger it took 16× as long as
//! plain serialisation, and allocation is dearer still inside WebAssembly.
//! This writer walks the value once and delegates the two subtle parts:
//! - strings: serde_json's escaping is exactly JCS's (ES6 `JSON.stringify`:
//!   `\"`, `\\`, `\b \t \n \f \r`, other controls as lowercase `\u00xx`,
//!   everything else literal);
//! - numbers other than integers within ±2^53: `serde_json_canonicalizer`
//!   (ES6 number formatting).
//!
//! Members are ordered by UTF-16 code units, as JCS requires; `tests` check
//! the output against `serde_json_canonicalizer` byte for byte.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// Largest integer magnitude an IEEE double (and so JCS) represents exactly.
const MAX_SAFE: u64 = 1 << 53;

/// Appends the canonical form of `v` to `out`.
pub fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, None, out),
    }
}

/// Appends the canonical form of `map` without its member `skip` (if given).
pub fn write_object(map: &Map<String, Value>, skip: Option<&str>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    let mut member = |k: &str, v: &Value, out: &mut Vec<u8>| {
        if Some(k) == skip {
            return;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        string(k, out);
        out.push(b':');
        write(v, out);
    };
    // serde_json's map iterates in byte order, which is the UTF-16 order
    // unless a key holds characters above U+FFFF; check rather than assume
    // (and stay right if serde_json's `preserve_order` is ever enabled).
    let in_order = map
        .keys()
        .zip(map.keys().skip(1))
        .all(|(a, b)| utf16_cmp(a, b) == Ordering::Less);
    if in_order {
        for (k, v) in map {
            member(k, v, out);
        }
    } else {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
        for (k, v) in entries {
            member(k, v, out);
        }
    }
    out.push(b'}');
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn number(n: &Number, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE) {
        out.extend_from_slice(buf.format(u).as_bytes());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE) {
        out.extend_from_slice(buf.format(i).as_bytes());
    } else if let Ok(s) = serde_json_canonicalizer::to_vec(n) {
        out.extend_from_slice(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ours(v: &Value) -> String {
        let mut out = Vec::new();
        write(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_the_reference_implementation_byte_for_byte() {
        let cases = [
            json!({"b": 1, "a": [true, false, null], "c": {"z": "x", "y": -0}}),
            json!({"numbers": [333_333_333.333_333_3, 1e30, 4.50, 2e-3, 0.000001, 1e-7, 1e21, -1.5, 9007199254740993_u64, -9007199254740993_i64, 9007199254740992_u64]}),
            json!({"string": "\u{20ac}$\u{000F}\u{000a}A'\u{0042}\u{0022}\u{005c}\\\"/\u{7f}\u{2028}\u{08}\u{0c}\t\r"}),
            json!({"\u{20ac}": 1, "\r": 2, "\u{fb33}": 3, "1": 4, "\u{1f600}": 5, "\u{0080}": 6, "\u{00f6}": 7, "\u{e000}": 8}),
            json!([[], {}, "", 0, [{"k": [1, {"j": 2}]}]]),
        ];
        for v in cases {
            assert_eq!(
                ours(&v),
                serde_json_canonicalizer::to_string(&v).unwrap(),
                "{v}"
            );
        }
    }

    #[test]
    fn skips_the_named_member_only() {
        let v = json!({"a": 1, "hash": "x", "z": {"hash": 2}});
        let mut out = Vec::new();
        write_object(v.as_object().unwrap(), Some("hash"), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":1,"z":{"hash":2}}"#);
    }
}
