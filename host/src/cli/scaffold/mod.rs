//! `assay plugin new` and `assay plugin wit`: a standalone plugin project, in
//! Rust, Python or JavaScript, from templates this binary carries together
//! with the contract (`wit/plugin.wit`) and each SDK's sources, so that the
//! project builds on a machine with the language's toolchain and no assay
//! source tree.

mod files;
mod vendor;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::{EXIT_OK, write_line};
use crate::registry::PluginKind;
use crate::registry::manifest::{CONTRACT_VERSION, HOST_VERSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Validator,
    Probe,
    Router,
}

impl From<Kind> for PluginKind {
    fn from(k: Kind) -> PluginKind {
        match k {
            Kind::Validator => PluginKind::Validator,
            Kind::Probe => PluginKind::Probe,
            Kind::Router => PluginKind::Router,
        }
    }
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters, digits and `-`, starting with a
    /// letter (it becomes the `.wasm` file's name, and so the plugin's name
    /// in the host).
    pub name: String,

    /// What it is.
    #[arg(long, value_enum)]
    pub kind: Kind,

    /// The language to write it in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,

    /// Where to make the project (default: ./NAME); must not exist, or be empty.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// A sentence saying what it checks (the manifest's `description`).
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct WitArgs {
    /// The directory to write `plugin.wit` into (default: ./wit).
    #[arg(value_name = "DIR", default_value = "wit")]
    pub dir: PathBuf,
}

/// The contract this binary serves, as WIT.
pub(crate) const PLUGIN_WIT: &str = include_str!("../../../../wit/plugin.wit");

/// Checks a plugin name: what the host accepts as a file stem and every
/// language accepts as a package name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        bail!(
            "{name:?} is not a plugin name: use lower-case letters, digits and single dashes, starting with a letter (at most 64), e.g. \"csv-check\""
        );
    }
    Ok(())
}

pub(super) fn new(args: NewArgs) -> anyhow::Result<u8> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "{} already exists and is not empty: choose another directory",
                dir.display()
            );
        }
    }
    let vars = files::Vars {
        name: args.name.clone(),
        kind: args.kind.into(),
        description: args.description.clone().unwrap_or_else(|| {
            format!(
                "An assay {} written in {}",
                PluginKind::from(args.kind),
                files::lang_name(args.lang)
            )
        }),
        contract: CONTRACT_VERSION.to_owned(),
        host_version: HOST_VERSION.to_owned(),
    };
    let project = files::project(args.lang, &vars)?;
    for (path, contents) in &project {
        write(&dir.join(path), contents.as_bytes())?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_line(
        &mut out,
        &format!(
            "made {} ({} {} in {}, {} files); next:\n\n  cd {}\n{}",
            dir.display(),
            args.name,
            PluginKind::from(args.kind),
            files::lang_name(args.lang),
            project.len(),
            dir.display(),
            files::next_steps(args.lang, &args.name)
        ),
    )?;
    out.flush()?;
    Ok(EXIT_OK)
}

pub(super) fn wit(args: WitArgs) -> anyhow::Result<u8> {
    let file = args.dir.join("plugin.wit");
    write(&file, PLUGIN_WIT.as_bytes())?;
    write_line(
        &mut std::io::stdout().lock(),
        &format!("wrote {} (assay:plugin@{CONTRACT_VERSION})", file.display()),
    )?;
    Ok(EXIT_OK)
}

fn write(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["csv-check", "a", "probe2", "x-1-y"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Csv",
            "1x",
            "a_b",
            "a-",
            "a--b",
            "a b",
            "ä",
            &"a".repeat(65),
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains("is not a plugin name"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_language_and_kind_has_a_complete_project() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            for kind in [Kind::Validator, Kind::Probe, Kind::Router] {
                let vars = files::Vars {
                    name: "my-check".into(),
                    kind: kind.into(),
                    description: "d".into(),
                    contract: CONTRACT_VERSION.into(),
                    host_version: HOST_VERSION.into(),
                };
                let files = files::project(lang, &vars).unwrap();
                let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
                for needed in [
                    "plugin.toml",
                    "cases.toml",
                    "wit/plugin.wit",
                    "README.md",
                    ".gitignore",
                ] {
                    assert!(paths.contains(&needed), "{lang:?} {kind:?}: {paths:?}");
                }
                for (path, text) in &files {
                    assert!(
                        !text.contains("{{"),
                        "{lang:?} {kind:?} {path}: a placeholder is left"
                    );
                }
                let manifest = &files.iter().find(|(p, _)| p == "plugin.toml").unwrap().1;
                let m = crate::registry::manifest::parse(manifest.as_bytes()).unwrap();
                assert_eq!((m.name.as_str(), m.kind), ("my-check", kind.into()));
                let cases = &files.iter().find(|(p, _)| p == "cases.toml").unwrap().1;
                toml::from_str::<toml::Table>(cases).unwrap();
            }
        }
    }
}
