//! Test environment: a temporary plugin directory, subjects, and running `assay` on them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn from_env(var: &str, default: PathBuf) -> PathBuf {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        p.exists(),
        "{} does not exist: run the tests with `cargo xtask test`, which builds it",
        p.display()
    );
    p
}

pub(crate) fn bin() -> PathBuf {
    from_env("ASSAY_BIN", root().join("target/release/assay"))
}

/// A shipped plugin's `.wasm` (`plugins.d/NAME.wasm`).
pub(crate) fn shipped(name: &str) -> PathBuf {
    from_env("ASSAY_SHIPPED_PLUGINS", root().join("plugins.d")).join(format!("{name}.wasm"))
}

/// An example plugin written in Python or JavaScript
/// (`target/example-plugins/NAME.wasm`, built by `cargo xtask build`).
pub(crate) fn example_plugin(name: &str) -> PathBuf {
    from_env(
        "ASSAY_EXAMPLE_PLUGINS",
        root().join("target/example-plugins"),
    )
    .join(format!("{name}.wasm"))
}

/// A test plugin's `.wasm` (`target/test-plugins/NAME.wasm`).
pub(crate) fn test_plugin(name: &str) -> PathBuf {
    from_env("ASSAY_TEST_PLUGINS", root().join("target/test-plugins")).join(format!("{name}.wasm"))
}

/// `wasm` with an `assay:manifest` custom section holding `toml`.
pub(crate) fn with_manifest(wasm: &[u8], toml: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"assay:manifest";
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(toml.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend(payload);
    out
}

/// A plugin directory and a work directory, both temporary (and, when the
/// servers run on PostgreSQL, a database of its own).
pub(crate) struct Env {
    plugins: tempfile::TempDir,
    work: tempfile::TempDir,
    database: std::sync::OnceLock<String>,
}

/// The result of one `assay` run.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The JSON Lines reports on stdout.
    pub(crate) fn reports(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\nstderr: {}", self.stderr))
            })
            .collect()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().expect("assay was killed by a signal"),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    pub(crate) fn new() -> Self {
        Env {
            plugins: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            database: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn work_dir(&self) -> &Path {
        self.work.path()
    }

    pub(crate) fn plugins_dir(&self) -> &Path {
        self.plugins.path()
    }

    /// Installs `wasm` as plugin `name`, with `sidecar` as `name.toml` if given.
    pub(crate) fn plugin(&self, wasm: &Path, name: &str, sidecar: Option<&str>) -> &Self {
        std::fs::copy(wasm, self.plugins.path().join(format!("{name}.wasm"))).unwrap();
        if let Some(text) = sidecar {
            std::fs::write(self.plugins.path().join(format!("{name}.toml")), text).unwrap();
        }
        self
    }

    /// Writes a subject file in the work directory and returns its path.
    pub(crate) fn subject(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.work.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// This environment's PostgreSQL database (made on first use), the same
    /// for every server it starts, so that a restart finds its data.
    pub(crate) fn database_url(&self) -> &str {
        self.database.get_or_init(|| {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            self.work.path().hash(&mut h);
            crate::pg::database(&format!("assay_e2e_{:016x}", h.finish()))
        })
    }

    /// `assay` with this environment's plugin directory and a shared
    /// compiled-plugin cache (and its database, on a PostgreSQL run).
    pub(crate) fn assay(&self) -> Command {
        let mut c = Command::new(bin());
        c.env_remove("ASSAY_CONFIG")
            .env("ASSAY_PLUGINS_DIR", self.plugins.path())
            .env("ASSAY_CACHE_DIR", root().join("target/e2e-cache"))
            .current_dir(self.work.path())
            .stdin(Stdio::null());
        if crate::pg::storage_is_postgres() {
            c.env("ASSAY_STORAGE__URL", self.database_url());
        }
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.assay().args(args).output().unwrap().into()
    }

    /// `assay validate -f json ARGS…`, checking the exit code is 0 or 1.
    pub(crate) fn validate_json(&self, args: &[&str]) -> Run {
        let mut all = vec!["validate", "--format", "json"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert!(
            run.code == 0 || run.code == 1,
            "exit {}: {}",
            run.code,
            run.stderr
        );
        run
    }
}

/// (code, path) of every finding in a report.
pub(crate) fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

/// The run entry of plugin `name` in a report.
pub(crate) fn plugin_run<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} did not run: {report}"))
}

pub(crate) const LEVELS: [&str; 4] = ["minimal", "standard", "comprehensive", "full"];

/// Checks a matrix: for every subject and level, each expected (code, path)
/// appears exactly from its level on. `cases`: (file, code, path, first level).
pub(crate) fn assert_levels(env: &Env, cases: &[(&Path, &str, &str, &str)]) {
    let files: Vec<&str> = {
        let mut f: Vec<&str> = cases.iter().map(|c| c.0.to_str().unwrap()).collect();
        f.dedup();
        f
    };
    for (li, level) in LEVELS.iter().enumerate() {
        let mut args = vec!["--level", level];
        args.extend(files.iter());
        let reports = env.validate_json(&args).reports();
        for (file, code, path, from) in cases {
            let report = reports
                .iter()
                .find(|r| r["subject"] == file.to_str().unwrap())
                .unwrap();
            let first = LEVELS.iter().position(|l| l == from).unwrap();
            let found = findings(report).contains(&(code.to_string(), path.to_string()));
            assert_eq!(
                found,
                li >= first,
                "{code} at {path} in {} at level {level}: expected {}; report: {report}",
                file.display(),
                if li >= first { "present" } else { "absent" }
            );
        }
    }
}
