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

/// Runs `pg_ctl ACTION` (`stop`, `start`) on the tests' server, as its user.
pub(crate) fn ctl(action: &str) {
    let pg_ctl = format!("{}/pg_ctl", var("ASSAY_TEST_PG_BIN"));
    let data = var("ASSAY_TEST_PG_DATA");
    let user = std::env::var("ASSAY_TEST_PG_AS").unwrap_or_default();
    let mut cmd = if user.is_empty() {
        Command::new(&pg_ctl)
    } else {
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--", &pg_ctl]);
        c
    };
    cmd.args(["-w", "-m", "fast", "-D", &data]);
    if action == "start" {
        cmd.args(["-l", &format!("{data}/../log")]);
    }
    let status = cmd.arg(action).status().unwrap();
    assert!(status.success(), "pg_ctl {action} failed");
}
