//! Stores for unit tests: every test of a table's owner runs against each backend.
//!
//! SQLite always; PostgreSQL when `ASSAY_TEST_PG` names a server
//! (`postgres://USER@HOST:PORT`, as `cargo xtask test` sets it), on a fresh
//! database per store. Without it the PostgreSQL runs are skipped, and say so.

use std::sync::Arc;

use super::Store;

/// A store under test and what keeps its data alive.
pub(crate) struct TestStore {
    pub(crate) store: Arc<Store>,
    /// `sqlite` or `postgres`, for assertion messages.
    pub(crate) backend: &'static str,
    /// Reopens the same data (a restart).
    reopen: Reopen,
    _dir: tempfile::TempDir,
}

enum Reopen {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl TestStore {
    /// A second store on the same data, as after a restart.
    pub(crate) async fn reopen(&self) -> Arc<Store> {
        Arc::new(match &self.reopen {
            Reopen::Sqlite(p) => Store::open_sqlite(p, false).unwrap(),
            Reopen::Postgres(url) => Store::open_postgres(url).await.unwrap(),
        })
    }
}

/// One store per backend available, each empty.
pub(crate) async fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/assay.db");
    let mut out = vec![TestStore {
        store: Arc::new(Store::open_sqlite(&path, false).unwrap()),
        backend: "sqlite",
        reopen: Reopen::Sqlite(path),
        _dir: dir,
    }];
    match std::env::var("ASSAY_TEST_PG") {
        Ok(base) => {
            let url = fresh_database(&base).await;
            out.push(TestStore {
                store: Arc::new(Store::open_postgres(&url).await.unwrap()),
                backend: "postgres",
                reopen: Reopen::Postgres(url),
                _dir: tempfile::tempdir().unwrap(),
            });
        }
        Err(_) => eprintln!("ASSAY_TEST_PG is not set: the PostgreSQL run of this test is skipped"),
    }
    out
}

/// Creates an empty database on the server at `base`; answers its URL.
pub(crate) async fn fresh_database(base: &str) -> String {
    let name = format!("assay_unit_{}_{}", std::process::id(), fastrand::u64(..));
    let (client, conn) =
        tokio_postgres::connect(&format!("{base}/postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("ASSAY_TEST_PG={base}: {e}"));
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{base}/{name}")
}
