//! The files of a new plugin project, per language and kind: templates with
//! `{{name}}`-style placeholders, and the SDK sources this binary carries.

use super::Lang;
use super::vendor;
use crate::registry::PluginKind;

/// What the templates' placeholders become.
pub(super) struct Vars {
    pub name: String,
    pub kind: PluginKind,
    pub description: String,
    pub contract: String,
    pub host_version: String,
}

macro_rules! template {
    ($path:literal) => {
        include_str!(concat!("templates/", $path))
    };
}

pub(super) fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
    }
}

/// The commands that follow `assay plugin new`, for its closing message.
pub(super) fn next_steps(lang: Lang, name: &str) -> String {
    match lang {
        Lang::Python => format!(
            "  pip install -r requirements.txt   # once: componentize-py\n  make test                          # unit tests, natively\n  make                              # builds {name}.wasm\n  make check                        # assay plugin test {name}.wasm --cases cases.toml\n"
        ),
        Lang::Js => format!(
            "  npm install     # once: the SDK's toolchain\n  npm test        # unit tests, natively\n  npm run build   # builds {name}.wasm\n  npm run check   # assay plugin test {name}.wasm --cases cases.toml\n"
        ),
        Lang::Rust => format!(
            "  rustup target add wasm32-wasip2                   # once\n  cargo test                                        # unit tests, natively\n  cargo build --release --target wasm32-wasip2      # builds the component\n  assay plugin test target/wasm32-wasip2/release/{}.wasm --cases cases.toml\n",
            name.replace('-', "_")
        ),
    }
}

fn render(template: &str, vars: &Vars, grants: &str) -> String {
    template
        .replace("{{name}}", &vars.name)
        .replace("{{crate}}", &vars.name.replace('-', "_"))
        .replace("{{kind}}", vars.kind.as_str())
        .replace("{{description}}", &vars.description.replace('"', "'"))
        .replace("{{contract}}", &vars.contract)
        .replace("{{host_version}}", &vars.host_version)
        .replace("{{grants}}", grants)
        .replace("{{stateless}}", stateless(vars.kind))
}

/// What a new validator or router says about its state (probes always get a fresh instance).
fn stateless(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Probe => "",
        _ => {
            "# A call keeps nothing that changes the next call's answer, so a host whose\n# operator sets `reuse_instances = true` may run its calls on one instance\n# (for Python and JavaScript, most of a call's cost). Remove it if the plugin\n# keeps state across calls.\nstateless = true\n"
        }
    }
}

/// The grants a new probe asks for in its manifest (what its template does).
fn grants(lang: Lang, kind: PluginKind) -> &'static str {
    match (kind, lang) {
        (PluginKind::Probe, _) => {
            "\n# The grants it needs from the operator (the probe's `allow_*` settings), and why.\n[[grant]]\nkind = \"http\"\ntarget = \"127.0.0.1:8080\"\nreason = \"fetches the `url` it is configured with\"\n"
        }
        _ => {
            "\n# The grants it needs from the operator, each with a reason, e.g.:\n# [[grant]]\n# kind = \"http\"            # http, tcp, dns, read or system\n# target = \"api.internal:443\"\n# reason = \"checks the API's health endpoint\"\n"
        }
    }
}

/// Every file of the project, as (path relative to the project, contents).
pub(super) fn project(lang: Lang, vars: &Vars) -> anyhow::Result<Vec<(String, String)>> {
    let kind = vars.kind;
    let (source, test, readme) = match (lang, kind) {
        (Lang::Python, PluginKind::Validator) => (
            template!("python/validator.py"),
            Some(template!("python/test_validator.py")),
            template!("python/README.md"),
        ),
        (Lang::Python, PluginKind::Probe) => (
            template!("python/probe.py"),
            Some(template!("python/test_probe.py")),
            template!("python/README.md"),
        ),
        (Lang::Python, PluginKind::Router) => (
            template!("python/router.py"),
            Some(template!("python/test_router.py")),
            template!("python/README.md"),
        ),
        (Lang::Js, PluginKind::Validator) => (
            template!("js/validator.js"),
            Some(template!("js/validator.test.js")),
            template!("js/README.md"),
        ),
        (Lang::Js, PluginKind::Probe) => (
            template!("js/probe.js"),
            Some(template!("js/probe.test.js")),
            template!("js/README.md"),
        ),
        (Lang::Js, PluginKind::Router) => (
            template!("js/router.js"),
            Some(template!("js/router.test.js")),
            template!("js/README.md"),
        ),
        // Rust keeps its unit tests in the source file.
        (Lang::Rust, PluginKind::Validator) => (
            template!("rust/validator.rs"),
            None,
            template!("rust/README.md"),
        ),
        (Lang::Rust, PluginKind::Probe) => (
            template!("rust/probe.rs"),
            None,
            template!("rust/README.md"),
        ),
        (Lang::Rust, PluginKind::Router) => (
            template!("rust/router.rs"),
            None,
            template!("rust/README.md"),
        ),
    };
    let cases = match (kind, lang) {
        (PluginKind::Validator, _) => template!("common/cases-validator.toml"),
        (PluginKind::Router, _) => template!("common/cases-router.toml"),
        (PluginKind::Probe, _) => template!("common/cases-probe-http.toml"),
    };
    let grants = grants(lang, kind);
    let r = |t: &str| render(t, vars, grants);
    let mut files = vec![
        ("plugin.toml".to_owned(), r(template!("common/plugin.toml"))),
        ("cases.toml".to_owned(), r(cases)),
        ("README.md".to_owned(), r(readme)),
        (
            ".gitignore".to_owned(),
            template!("common/gitignore").to_owned(),
        ),
        ("wit/plugin.wit".to_owned(), super::PLUGIN_WIT.to_owned()),
    ];
    match lang {
        Lang::Python => {
            files.push(("plugin.py".into(), r(source)));
            files.push(("test_plugin.py".into(), r(test.expect("a Python test"))));
            files.push(("Makefile".into(), r(template!("python/Makefile"))));
            files.push((
                "requirements.txt".into(),
                template!("python/requirements.txt").into(),
            ));
            for (path, text) in vendor::PYTHON_SDK {
                files.push((format!("assay_plugin/{path}"), (*text).to_owned()));
            }
        }
        Lang::Js => {
            files.push(("plugin.js".into(), r(source)));
            files.push(("plugin.test.js".into(), r(test.expect("a JavaScript test"))));
            files.push(("package.json".into(), r(template!("js/package.json"))));
            for (path, text) in vendor::JS_SDK {
                files.push((
                    format!("vendor/assay-plugin-sdk/{path}"),
                    (*text).to_owned(),
                ));
            }
        }
        Lang::Rust => {
            files.push(("src/lib.rs".into(), r(source)));
            files.push(("Cargo.toml".into(), r(template!("rust/Cargo.toml"))));
            files.push((
                ".cargo/config.toml".into(),
                template!("rust/cargo-config.toml").into(),
            ));
            files.extend(vendor::rust_crates()?);
        }
    }
    Ok(files)
}
