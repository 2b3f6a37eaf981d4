//! `ASSAY_SECTION__KEY=value` environment overrides of config keys.
//!
//! The variable name, after `ASSAY_`, is the key's path with `__` between
//! levels, case-insensitive: `ASSAY_SERVER__LISTEN` sets `[server] listen`,
//! `ASSAY_VALIDATION__CACHE__TTL_SECS` sets `[validation.cache] ttl_secs`, and
//! `ASSAY_MONITOR__0__INTERVAL_SECS` the first `[[monitor]]`'s interval. Only
//! names with a `__` are overrides, so `ASSAY_LOG` and `ASSAY_CONFIG` are not.
//!
//! A value is read as a TOML value when it parses as one (`8080`, `true`,
//! `["a", "b"]`, `"quoted"`), otherwise as a plain string (`0.0.0.0:8080`).

use toml::{Table, Value};

/// One applied override, for logs and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub var: String,
    pub key: String,
}

/// The overrides among `vars` (name, value pairs), applied to `table`.
pub fn apply(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Override>, String> {
    let mut applied = Vec::new();
    let mut vars: Vec<_> = vars.into_iter().filter(|(k, _)| is_override(k)).collect();
    vars.sort();
    for (var, raw) in vars {
        let path: Vec<String> = var["ASSAY_".len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("{var}: empty key segment"));
        }
        set(table, &path, parse_value(&raw)).map_err(|e| format!("{var}: {e}"))?;
        applied.push(Override {
            var,
            key: path.join("."),
        });
    }
    Ok(applied)
}

/// Whether an environment variable's name makes it a config override.
pub fn is_override(name: &str) -> bool {
    name.starts_with("ASSAY_") && name.contains("__")
}

fn parse_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn set(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let (first, rest) = path.split_first().expect("path is not empty");
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let child = table
        .entry(first.clone())
        .or_insert_with(|| Value::Table(Table::new()));
    set_in(child, first, rest, value)
}

fn set_in(node: &mut Value, at: &str, path: &[String], value: Value) -> Result<(), String> {
    match node {
        Value::Table(t) => set(t, path, value),
        Value::Array(items) => {
            let (seg, rest) = path.split_first().expect("path is not empty");
            let len = items.len();
            let item = seg
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| {
                    format!("{at} has {len} entries; {seg:?} is not the index of one")
                })?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in(item, &format!("{at}.{seg}"), rest, value)
            }
        }
        _ => Err(format!("{at} is a value, not a table")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_set_nested_keys_with_typed_values() {
        let mut t: Table = "[server]\nlisten = \"127.0.0.1:1\"\n[[monitor]]\nname = \"a\"\n"
            .parse()
            .unwrap();
        let applied = apply(
            &mut t,
            vars(&[
                ("ASSAY_SERVER__LISTEN", "0.0.0.0:9000"),
                ("ASSAY_VALIDATION__CACHE__ENABLED", "false"),
                ("ASSAY_MONITOR__0__INTERVAL_SECS", "30"),
                ("ASSAY_LOG", "debug"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(applied.len(), 3);
        assert_eq!(t["server"]["listen"].as_str(), Some("0.0.0.0:9000"));
        assert_eq!(t["validation"]["cache"]["enabled"].as_bool(), Some(false));
        assert_eq!(t["monitor"][0]["interval_secs"].as_integer(), Some(30));
    }

    #[test]
    fn a_bad_index_names_the_variable() {
        let mut t = Table::new();
        t.insert("monitor".into(), Value::Array(vec![]));
        let e = apply(&mut t, vars(&[("ASSAY_MONITOR__3__NAME", "x")])).unwrap_err();
        assert!(
            e.starts_with("ASSAY_MONITOR__3__NAME: monitor has 0 entries"),
            "{e}"
        );
    }
}
