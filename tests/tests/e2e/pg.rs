//! The tests' PostgreSQL (started by `cargo xtask test`, see `xtask/src/postgres.rs`).
//!
//! With `ASSAY_E2E_STORAGE=postgres` every server a test starts keeps its
//! data in a database of its own environment's instead of the SQLite file;
//! `cargo xtask test` runs the store-touching modules a second time so.

use std::process::Command;

/// Whether servers run on PostgreSQL in this run.
pub(crate) fn storage_is_postgres() -> bool {
    std::env::var("ASSAY_E2E_STORAGE").is_ok_and(|v| v == "postgres")
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `cargo xtask test`, which starts PostgreSQL")
    })
}

/// `postgres://assay@127.0.0.1:PORT/NAME`, creating the database `NAME` if missing.
pub(crate) fn database(name: &str) -> String {
    let base = var("ASSAY_TEST_PG");
    let port = base.rsplit(':').next().unwrap().to_owned();
    let out = Command::new(format!("{}/createdb", var("ASSAY_TEST_PG_BIN")))
        .args(["-h", "127.0.0.1", "-p", &port, "-U", "assay", name])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("already exists"),
        "createdb {name}: {err}"
    );
    format!("{base}/{name}")
}

/// A PostgreSQL server of one test's own, for tests that stop and start it
/// (the shared one serves every other test). Stopped when dropped.
pub(crate) struct PrivateServer {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateServer {
    pub(crate) fn start() -> PrivateServer {
        let dir = tempfile::Builder::new()
            .prefix("assay-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        let user = std::env::var("ASSAY_TEST_PG_AS").unwrap_or_default();
        if !user.is_empty() {
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown {user} {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = PrivateServer { dir, port };
        let data = s.data();
        let out = s
            .as_user("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "assay",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
                &data,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n",
            s.dir.path().display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(format!("{data}/postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(&mut f, conf.as_bytes()).unwrap();
        s.ctl("start");
        let out = s
            .as_user("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "assay",
                "assay",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        s
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.path().display())
    }

    fn as_user(&self, program: &str) -> Command {
        let program = format!("{}/{program}", var("ASSAY_TEST_PG_BIN"));
        let user = std::env::var("ASSAY_TEST_PG_AS").unwrap_or_default();
        if user.is_empty() {
            return Command::new(program);
        }
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--", &program]);
        c
    }

    /// `pg_ctl stop` (fast) or `start`, waiting for it.
    pub(crate) fn ctl(&self, action: &str) {
        let log = format!("{}/log", self.dir.path().display());
        let out = self
            .as_user("pg_ctl")
            .args(["-w", "-m", "fast", "-l", &log, "-D", &self.data(), action])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://assay@127.0.0.1:{}/assay", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self
            .as_user("pg_ctl")
            .args(["-m", "immediate", "-D", &self.data(), "stop"])
            .output();
    }
}
