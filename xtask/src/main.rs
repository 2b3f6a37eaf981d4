//! `cargo xtask <command>`: the one entry point for builds that need two targets.
//!
//! - `build`: the `assay` binary (release) and the shipped plugins, copied to `plugins.d/`.
//! - `run`:   `build`, then `assay serve` on its embedded defaults, with the example
//!   plugin settings, from a demo directory of its own (`target/demo/`), so
//!   `plugins.d/` stays as `build` made it.
//! - `test`:  `build`, the test plugins, then every test of the workspace, then
//!   the store-touching end-to-end tests again with the servers on PostgreSQL.
//!   First it installs the Debian packages the tests drive (promtool,
//!   Alertmanager, the SMTP sink, PostgreSQL) when they are missing, as root
//!   (or with sudo), and starts a PostgreSQL of the tests' own (`postgres.rs`).
//!
//! The `wasm32-wasip2` target is installed with rustup when missing. Plugins
//! are copied only when their bytes changed, so the host's compiled-plugin
//! cache stays warm and file watchers see no spurious change.

mod postgres;
mod scripted;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Plugins shipped to operators, one list per kind (see [`TEST_PLUGINS`]
/// for why): (crate name, plugin file stem).
const SHIPPED: &[&[(&str, &str)]] = &[
    &[
        ("hash-chain", "hash-chain"),
        ("json-schema", "json-schema"),
        ("duplicate-records", "duplicate-records"),
        ("required-fields", "required-fields"),
    ],
    &[
        ("probe-http", "http"),
        ("probe-tcp", "tcp"),
        ("probe-dns", "dns"),
        ("probe-disk-space", "disk-space"),
        ("probe-memory", "memory"),
        ("probe-file-freshness", "file-freshness"),
    ],
    &[
        ("router-severity-routes", "severity-routes"),
        ("router-business-hours", "business-hours"),
    ],
];
/// Plugins that exist to test the host and benchmark it, one list per kind:
/// each list is built by its own cargo invocation, because cargo unifies the
/// SDK's features across one build and a component must carry one world only.
const TEST_PLUGINS: &[&[(&str, &str)]] = &[
    &[
        ("misbehave", "misbehave"),
        ("trivial", "trivial"),
        ("info-loop", "info-loop"),
        ("info-panic", "info-panic"),
        ("info-huge", "info-huge"),
        ("prepare-hostile", "prepare-hostile"),
    ],
    &[
        ("clock-probe", "clock-probe"),
        ("misbehave-probe", "misbehave-probe"),
    ],
    &[
        ("severity-router", "severity-router"),
        ("hostile-router", "hostile-router"),
    ],
];
/// Example plugins written in Python and JavaScript, built by their SDKs
/// (`scripted.rs`) into `target/example-plugins/`: (directory, plugin name,
/// language). Not in `plugins.d/`: each carries an interpreter (12-18 MB),
/// and the default plugin set should start in moments.
const EXAMPLE_PLUGINS: &[scripted::Scripted] = &[
    ("plugins/csv-check", "csv-check", scripted::Lang::Python),
    ("plugins/log-errors", "log-errors", scripted::Lang::Python),
    ("plugins/label-routes", "label-routes", scripted::Lang::Js),
];
const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> anyhow::Result<()> {
    let root = root();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") => build(&root),
        Some("run") => {
            build(&root)?;
            serve(&root)
        }
        Some("test") => test(&root, &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask build | run | test [-- <cargo test args>]");
            std::process::exit(2);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed with {status}", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o)
            if String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET) =>
        {
            Ok(())
        }
        Ok(_) => run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        // No rustup: trust that the toolchain has the target; cargo will say if not.
        Err(_) => Ok(()),
    }
}

/// Builds `crates` for wasm32-wasip2 and copies each to `dest/<plugin name>.wasm`.
fn build_plugins(root: &Path, crates: &[(&str, &str)], dest: &Path) -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["build", "--profile", "plugin", "--target", WASM_TARGET]);
    for (c, _) in crates {
        cmd.args(["-p", c]);
    }
    run(&mut cmd)?;
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let out_dir = root.join("target").join(WASM_TARGET).join("plugin");
    for (c, name) in crates {
        let built = out_dir.join(format!("{}.wasm", c.replace('-', "_")));
        let target = dest.join(format!("{name}.wasm"));
        copy_if_changed(&built, &target)?;
    }
    Ok(())
}

fn copy_if_changed(from: &Path, to: &Path) -> anyhow::Result<()> {
    let new = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if std::fs::read(to).ok().as_deref() == Some(new.as_slice()) {
        return Ok(());
    }
    // Write beside, then rename: a host watching the directory never sees half a file.
    let tmp = to.with_extension("wasm.part");
    std::fs::write(&tmp, &new).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("renaming to {}", to.display()))?;
    Ok(())
}

fn build(root: &Path) -> anyhow::Result<()> {
    ensure_packages(BUILD_PACKAGES, "the Python and JavaScript plugins")?;
    for kind in SHIPPED {
        build_plugins(root, kind, &root.join("plugins.d"))?;
    }
    scripted::build(root, EXAMPLE_PLUGINS)?;
    run(cargo()
        .current_dir(root)
        .args(["build", "--release", "-p", "assay-host"]))?;
    let names: Vec<&str> = SHIPPED
        .iter()
        .flat_map(|k| k.iter().map(|(_, n)| *n))
        .collect();
    let examples: Vec<&str> = EXAMPLE_PLUGINS.iter().map(|(_, n, _)| *n).collect();
    eprintln!(
        "xtask: built target/release/assay, plugins.d/{{{}}}.wasm and target/example-plugins/{{{}}}.wasm",
        names.join(","),
        examples.join(",")
    );
    Ok(())
}

/// `cargo xtask run`: the service on its embedded defaults (127.0.0.1:8080,
/// `./assay-data/`), with the shipped plugins and the example settings from
/// `examples/plugins.d`, gathered in `target/demo/plugins.d` (the shipped
/// `plugins.d/` is left as `build` made it). Stops on Ctrl-C.
fn serve(root: &Path) -> anyhow::Result<()> {
    let demo = root.join("target").join("demo").join("plugins.d");
    std::fs::create_dir_all(&demo).with_context(|| format!("creating {}", demo.display()))?;
    let mut wanted = std::collections::BTreeSet::new();
    for dir in [
        root.join("plugins.d"),
        root.join("examples").join("plugins.d"),
    ] {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path
                .extension()
                .is_some_and(|e| e == "wasm" || e == "toml" || e == "json")
            {
                let name = path.file_name().expect("a file").to_owned();
                copy_if_changed(&path, &demo.join(&name))?;
                wanted.insert(name);
            }
        }
    }
    // What an earlier demo left that neither place has any more.
    for entry in std::fs::read_dir(&demo)? {
        let path = entry?.path();
        if !wanted.contains(path.file_name().expect("a file")) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    println!(
        "\nassay serve on http://127.0.0.1:8080 (Ctrl-C stops it). In another terminal:\n\
         \n  curl -s localhost:8080/health\
         \n  curl -s -X POST 'localhost:8080/v1/validate?level=full&name=bad-ledger.json' --data-binary @examples/bad-ledger.json\
         \n  curl -s localhost:8080/v1/reports\
         \n  curl -s localhost:8080/v1/probes\
         \n  curl -s localhost:8080/metrics | grep ^assay_\
         \n\nThe README's \"HTTP API\" section has every endpoint.\n"
    );
    let bin = root.join("target").join("release").join("assay");
    let status = Command::new(&bin)
        .current_dir(root)
        .env_remove("ASSAY_CONFIG")
        .arg("serve")
        .arg("--plugins-dir")
        .arg(&demo)
        .status()
        .context("running target/release/assay serve")?;
    if !status.success() {
        bail!("assay serve exited with {status}");
    }
    Ok(())
}

/// Debian packages the tests drive, by the command (or Python module) that shows each is there.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("prometheus", "promtool"),
    ("prometheus-alertmanager", "prometheus-alertmanager"),
    ("python3-aiosmtpd", "python3:aiosmtpd"),
    // The `[server.tls]` tests: a test CA, `openssl s_client` and `curl --cacert`.
    ("openssl", "openssl"),
    ("curl", "curl"),
    // The PostgreSQL backend's tests: a server of their own (`postgres.rs`).
    ("postgresql", "pg:initdb"),
    // The authoring kit's tests build a scaffolded Python project with `make`.
    ("make", "make"),
    // The console's tests drive a real browser over WebDriver (never a downloaded build).
    ("chromium", "chromium"),
    ("chromium-driver", "chromedriver"),
    // The Containerfile's check reads the binary's needed libraries and glibc versions.
    ("binutils", "readelf"),
];

/// Debian packages the build needs for the Python and JavaScript plugins.
const BUILD_PACKAGES: &[(&str, &str)] = &[
    ("nodejs", "node"),
    ("npm", "npm"),
    ("python3-pip", "python3-pip:"),
];

/// Installs the missing [`TEST_PACKAGES`] with apt-get (as root, else with sudo).
fn ensure_test_packages() -> anyhow::Result<()> {
    ensure_packages(TEST_PACKAGES, "the tests")
}

/// Installs the missing `packages` with apt-get (as root, else with sudo).
fn ensure_packages(packages: &[(&str, &str)], for_what: &str) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(_, probe)| !present(probe))
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing Debian packages {for_what} need: {}",
        missing.join(" ")
    );
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt(&["update", "-qq"])).with_context(|| {
        format!("installing the Debian packages {for_what} need needs root (or sudo) and apt-get")
    })?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&missing);
    run(&mut install)
}

fn present(probe: &str) -> bool {
    if probe.starts_with("pg:") {
        return postgres::bin_dir().is_some();
    }
    if probe == "python3-pip:" {
        return Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
    }
    match probe.strip_prefix("python3:") {
        Some(module) => Command::new("/usr/bin/python3")
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success()),
        None => Command::new("sh")
            .args(["-c", &format!("command -v {probe}")])
            .output()
            .is_ok_and(|o| o.status.success()),
    }
}

/// The end-to-end modules that touch the store: run a second time with the
/// server on PostgreSQL (`ASSAY_E2E_STORAGE=postgres`).
const STORAGE_E2E: &[&str] = &[
    "serve_api::",
    "serve_ops::",
    "serve_probes::",
    "console::",
    "serve_auth::",
    "alert_channels::",
    "alertmanager_api::",
    "alert_delivery::",
    "alert_routing::",
    "alert_semantics::",
    "route_tests::",
    "receivers::",
];

fn test(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    ensure_test_packages()?;
    postgres::check_installed()?;
    build(root)?;
    let pg = postgres::TestPostgres::start()?;
    let test_plugins = root.join("target").join("test-plugins");
    for kind in TEST_PLUGINS {
        build_plugins(root, kind, &test_plugins)?;
    }
    // The Python and JavaScript plugins' own unit tests, natively.
    scripted::unit_tests(root, EXAMPLE_PLUGINS)?;
    let cargo_test = |args: &[&str]| {
        let mut cmd = cargo();
        cmd.current_dir(root)
            .arg("test")
            .args(args)
            .env(
                "ASSAY_BIN",
                root.join("target").join("release").join("assay"),
            )
            .env("ASSAY_SHIPPED_PLUGINS", root.join("plugins.d"))
            .env("ASSAY_EXAMPLE_PLUGINS", root.join(scripted::OUT_DIR))
            .env("ASSAY_TEST_PLUGINS", &test_plugins)
            .envs(pg.env());
        cmd
    };
    let extra: Vec<&str> = extra
        .iter()
        .map(String::as_str)
        .skip_while(|a| *a == "--")
        .collect();
    let mut all = cargo_test(&["--release", "--workspace", "--all-targets"]);
    if !extra.is_empty() {
        all.arg("--").args(&extra);
    }
    run(&mut all)?;
    // The store-touching end-to-end tests again, with the servers on PostgreSQL
    // (`--workspace`, as above: the same features, so nothing is built again).
    let mut again = cargo_test(&["--release", "--workspace", "--test", "e2e", "--"]);
    again
        .args(if extra.is_empty() {
            STORAGE_E2E
        } else {
            &extra
        })
        .env("ASSAY_E2E_STORAGE", "postgres");
    run(&mut again)?;
    drop(pg);
    // Doc tests (the SDK's examples) do not run with --all-targets.
    run(cargo()
        .current_dir(root)
        .args(["test", "--release", "--doc", "-p", "assay-plugin-sdk"]))
}
