//! The SDK sources a new project carries: the Python and JavaScript SDKs as
//! they are, and the Rust SDK with its contract crate, made standalone (their
//! `Cargo.toml`s take the workspace's values, their WIT path points at the
//! project's `wit/`).

use anyhow::{Context, anyhow};
use toml::{Table, Value};

macro_rules! files {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../../../", $dir, "/", $file)))),+]
    };
}

/// The Python SDK package (`assay_plugin/`).
pub(super) const PYTHON_SDK: &[(&str, &str)] = files!("plugin-sdk/python/assay_plugin":
    "__init__.py", "__main__.py", "_component.py", "_host.py", "_registry.py", "_types.py",
    "_wasi_http.py", "build.py", "http.py",
    // The wasi:http WIT a probe's world imports (the version the host links).
    "wasi/cli.wit", "wasi/clocks.wit", "wasi/filesystem.wit", "wasi/http.wit", "wasi/io.wit",
    "wasi/random.wit", "wasi/sockets.wit",
);

/// The JavaScript SDK package (`@assay/plugin-sdk`).
pub(super) const JS_SDK: &[(&str, &str)] = files!("plugin-sdk/js":
    "package.json", "index.js", "component.js", "build.js",
);

const RUST_SDK: &[(&str, &str)] = files!("plugin-sdk/src":
    "bindings.rs", "digest.rs", "export.rs", "http.rs", "kinds.rs", "lib.rs", "log.rs",
    "pointer.rs", "prepared.rs", "system.rs", "thresholds.rs", "types.rs",
);
const CONTRACT: &[(&str, &str)] = files!("contract/src": "lib.rs", "matchers.rs");
const WORKSPACE_TOML: &str = include_str!("../../../../Cargo.toml");
const SDK_TOML: &str = include_str!("../../../../plugin-sdk/Cargo.toml");
const CONTRACT_TOML: &str = include_str!("../../../../contract/Cargo.toml");

/// `vendor/assay-plugin-sdk/` and `vendor/assay-contract/`.
pub(super) fn rust_crates() -> anyhow::Result<Vec<(String, String)>> {
    let workspace: Table = toml::from_str(WORKSPACE_TOML).context("the workspace Cargo.toml")?;
    let mut files = vec![
        (
            "vendor/assay-plugin-sdk/Cargo.toml".to_owned(),
            standalone(SDK_TOML, &workspace)?,
        ),
        (
            "vendor/assay-contract/Cargo.toml".to_owned(),
            standalone(CONTRACT_TOML, &workspace)?,
        ),
    ];
    for (name, text) in RUST_SDK {
        let text = if *name == "bindings.rs" {
            // The crate sits in vendor/; the WIT in the project's wit/.
            let moved = text.replace("path: \"../wit\"", "path: \"../../wit\"");
            anyhow::ensure!(moved != *text, "the SDK's bindings no longer name ../wit");
            moved
        } else {
            (*text).to_owned()
        };
        files.push((format!("vendor/assay-plugin-sdk/src/{name}"), text));
    }
    for (name, text) in CONTRACT {
        files.push((
            format!("vendor/assay-contract/src/{name}"),
            (*text).to_owned(),
        ));
    }
    Ok(files)
}

/// A member's `Cargo.toml` with the workspace's values in place of
/// `workspace = true`, its lints and dev-dependencies dropped, and
/// `assay-contract` found beside it.
fn standalone(member: &str, workspace: &Table) -> anyhow::Result<String> {
    let mut t: Table = toml::from_str(member).context("a member's Cargo.toml")?;
    let ws = workspace
        .get("workspace")
        .and_then(Value::as_table)
        .ok_or_else(|| anyhow!("the workspace Cargo.toml has no [workspace]"))?;
    let empty = Table::new();
    let ws_package = ws
        .get("package")
        .and_then(Value::as_table)
        .unwrap_or(&empty);
    let ws_deps = ws
        .get("dependencies")
        .and_then(Value::as_table)
        .unwrap_or(&empty);
    t.remove("lints");
    t.remove("dev-dependencies");
    if let Some(Value::Table(package)) = t.get_mut("package") {
        for (key, value) in package.iter_mut() {
            if inherits(value) {
                *value = ws_package.get(key).cloned().ok_or_else(|| {
                    anyhow!("package.{key} is inherited but the workspace has none")
                })?;
            }
        }
        package.insert("publish".into(), Value::Boolean(false));
    }
    let mut dep_tables: Vec<&mut Table> = Vec::new();
    let (deps, targets) = {
        let mut deps = None;
        let mut targets = None;
        for (k, v) in t.iter_mut() {
            match (k.as_str(), v) {
                ("dependencies", Value::Table(d)) => deps = Some(d),
                ("target", Value::Table(tg)) => targets = Some(tg),
                _ => {}
            }
        }
        (deps, targets)
    };
    dep_tables.extend(deps);
    for (_, target) in targets.into_iter().flat_map(|tg| tg.iter_mut()) {
        if let Value::Table(tt) = target
            && let Some(Value::Table(d)) = tt.get_mut("dependencies")
        {
            dep_tables.push(d);
        }
    }
    for deps in dep_tables {
        for (name, spec) in deps.iter_mut() {
            if !inherits(spec) {
                continue;
            }
            let mut resolved = match ws_deps.get(name) {
                Some(Value::String(v)) => {
                    let mut t = Table::new();
                    t.insert("version".into(), Value::String(v.clone()));
                    t
                }
                Some(Value::Table(t)) => t.clone(),
                _ => {
                    return Err(anyhow!(
                        "dependency {name} is inherited but the workspace has none"
                    ));
                }
            };
            if resolved.contains_key("path") {
                resolved.insert("path".into(), Value::String(format!("../{name}")));
            }
            let extra = spec.as_table().cloned().unwrap_or_default();
            for (k, v) in extra {
                match (k.as_str(), v) {
                    ("workspace", _) => {}
                    ("features", Value::Array(more)) => {
                        let features = resolved
                            .entry("features")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let Value::Array(f) = features {
                            f.extend(more);
                        }
                    }
                    (k, v) => {
                        resolved.insert(k.to_owned(), v);
                    }
                }
            }
            *spec = Value::Table(resolved);
        }
    }
    // [package] first, as people write it (a toml Table sorts its keys).
    let mut text = format!(
        "# Vendored by `assay plugin new` from assay {}: do not edit; a newer assay's\n# `assay plugin new` carries newer sources.\n",
        env!("CARGO_PKG_VERSION")
    );
    for key in ["package", "features", "dependencies", "target"] {
        if let Some(v) = t.remove(key) {
            let mut one = Table::new();
            one.insert(key.to_owned(), v);
            text.push_str(&toml::to_string(&one)?);
            text.push('\n');
        }
    }
    if !t.is_empty() {
        text.push_str(&toml::to_string(&t)?);
    }
    Ok(text)
}

/// `{ workspace = true, ... }` (or `version.workspace = true`, parsed the same).
fn inherits(v: &Value) -> bool {
    v.as_table()
        .and_then(|t| t.get("workspace"))
        .and_then(Value::as_bool)
        == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_sdk_is_made_standalone() {
        let files = rust_crates().unwrap();
        let sdk: Table = toml::from_str(&files[0].1).unwrap();
        let text = toml::to_string(&sdk).unwrap();
        assert!(!text.contains("workspace"), "{text}");
        assert_eq!(sdk["package"]["edition"].as_str(), Some("2024"));
        assert_eq!(
            sdk["dependencies"]["assay-contract"]["path"].as_str(),
            Some("../assay-contract")
        );
        assert_eq!(
            sdk["dependencies"]["wit-bindgen"]["version"].as_str(),
            Some("0.63")
        );
        let bindings = files
            .iter()
            .find(|(p, _)| p.ends_with("bindings.rs"))
            .unwrap();
        assert!(bindings.1.contains("\"../../wit\""));
        let contract: Table = toml::from_str(&files[1].1).unwrap();
        assert!(
            contract["dependencies"]["serde"]["optional"]
                .as_bool()
                .unwrap()
        );
    }
}
