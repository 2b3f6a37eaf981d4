//! Plugins written in Python and JavaScript: their toolchains (componentize-py
//! from PyPI, componentize-js and esbuild from npm) installed inside the
//! workspace, and their builds, skipped when nothing they are made of changed.
//!
//! - Python: `pip install --target target/toolchains/python` (no virtualenv,
//!   nothing outside the workspace), then `python3 -m assay_plugin build`
//!   with the SDK from `plugin-sdk/python` on `PYTHONPATH`.
//! - JavaScript: `npm ci` at the workspace root (`package.json` lists the SDK
//!   and the plugins as npm workspaces), then the SDK's `build.js`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::run;

/// Where the plugins are built, under the workspace root.
pub const OUT_DIR: &str = "target/example-plugins";

/// The componentize-py release the Python SDK is built and tested with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Js,
}

/// A plugin built by a language SDK: (directory under the root, plugin name, language).
pub type Scripted = (&'static str, &'static str, Lang);

fn python_path(root: &Path) -> String {
    format!(
        "{}:{}",
        root.join("plugin-sdk/python").display(),
        root.join("target/toolchains/python").display()
    )
}

/// A `python3` command with the SDK and componentize-py importable.
pub fn python(root: &Path) -> Command {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", python_path(root))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// Installs componentize-py into `target/toolchains/python` when it is not there.
pub fn ensure_python(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("target/toolchains/python");
    let stamp = dir.join(format!(".{COMPONENTIZE_PY}"));
    if stamp.exists() {
        return Ok(());
    }
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--upgrade",
            "--target",
        ])
        .arg(&dir)
        .arg(COMPONENTIZE_PY))
    .context("installing componentize-py (needs python3 >= 3.11 with pip)")?;
    std::fs::write(&stamp, "").with_context(|| format!("writing {}", stamp.display()))
}

/// Installs the JavaScript toolchain (`npm ci` at the root) when the lock
/// file changed since the last install.
pub fn ensure_js(root: &Path) -> anyhow::Result<()> {
    let lock = root.join("package-lock.json");
    let installed = root.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&installed)) {
        (Ok(l), Ok(i)) => i.modified()? >= l.modified()?,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    run(Command::new("npm").current_dir(root).args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]))
    .context("installing the JavaScript toolchain (needs node >= 18 and npm)")
}

/// The files a scripted plugin is made of: its own, its SDK's, the WIT.
fn inputs(root: &Path, dir: &Path, lang: Lang) -> anyhow::Result<Vec<PathBuf>> {
    let sdk = match lang {
        Lang::Python => root.join("plugin-sdk/python/assay_plugin"),
        Lang::Js => root.join("plugin-sdk/js"),
    };
    let mut files = vec![root.join("wit/plugin.wit")];
    for d in [dir.to_owned(), sdk] {
        collect(&d, &mut files)?;
    }
    files.sort();
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if matches!(name, "node_modules" | "__pycache__")
            || name.starts_with('.')
            || name.ends_with(".wasm")
        {
            continue;
        }
        if path.is_dir() {
            collect(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Builds each plugin of `plugins` whose inputs changed, into
/// [`OUT_DIR`]`/NAME.wasm` (written whole, then renamed into place).
pub fn build(root: &Path, plugins: &[Scripted]) -> anyhow::Result<()> {
    if plugins.iter().any(|p| p.2 == Lang::Python) {
        ensure_python(root)?;
    }
    if plugins.iter().any(|p| p.2 == Lang::Js) {
        ensure_js(root)?;
    }
    let out_dir = root.join(OUT_DIR);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for &(dir, name, lang) in plugins {
        let dir = root.join(dir);
        let mut hash = Sha256::new();
        hash.update(COMPONENTIZE_PY);
        if lang == Lang::Js {
            hash.update(std::fs::read(root.join("package-lock.json")).unwrap_or_default());
        }
        for f in inputs(root, &dir, lang)? {
            hash.update(
                f.strip_prefix(root)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .as_bytes(),
            );
            hash.update(std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?);
        }
        let digest = hex::encode(hash.finalize());
        let built = out_dir.join(format!("{name}.wasm"));
        let stamp = out_dir.join(format!(".{name}.inputs"));
        let unchanged =
            built.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == digest);
        if !unchanged {
            let mut cmd = match lang {
                Lang::Python => {
                    let mut c = python(root);
                    c.args(["-m", "assay_plugin", "build"]);
                    c
                }
                Lang::Js => {
                    let mut c = Command::new("node");
                    c.arg(root.join("plugin-sdk/js/build.js"));
                    c
                }
            };
            cmd.current_dir(root)
                .arg(&dir)
                .arg("--wit")
                .arg(root.join("wit"))
                .arg("-o")
                .arg(&built);
            run(&mut cmd)?;
            std::fs::write(&stamp, &digest)
                .with_context(|| format!("writing {}", stamp.display()))?;
        }
    }
    Ok(())
}

/// Runs the scripted plugins' own unit tests, natively (`python3 -m
/// unittest` in each Python plugin, `node --test` in each JavaScript one).
pub fn unit_tests(root: &Path, plugins: &[Scripted]) -> anyhow::Result<()> {
    for &(dir, _, lang) in plugins {
        let mut cmd = match lang {
            Lang::Python => {
                let mut c = python(root);
                c.args(["-m", "unittest", "--quiet"]);
                c
            }
            Lang::Js => {
                let mut c = Command::new("node");
                c.arg("--test");
                c
            }
        };
        run(cmd.current_dir(root.join(dir)))?;
    }
    Ok(())
}
