//! The store: the embedded SQLite file, or a PostgreSQL database shared by
//! replicas, and the only way to either.
//!
//! The store knows no table but its schema ([`schema`]): each table has one
//! owner that holds all of its SQL and its retention (`validate/repo.rs`
//! for reports, `probes/repo.rs`, `audit.rs`, `alerts/repo.rs` and the
//! outbox). Owners write one SQL text for both backends ([`value`]) and
//! reach the database through [`Store::write`] and [`Store::query`]:
//!
//! - [`sqlite`]: WAL mode, one writer thread with group commit ([`writer`])
//!   and one reading connection; the default, with nothing to set up.
//! - [`postgres`]: a small pool for reads and one writer task with the same
//!   group commit, for several replicas on one database.
//!
//! Either way, writes queued one after another commit in that order, and a
//! caller answered "committed" has its rows in the database.

pub(crate) mod backup;
pub(crate) mod lock;
mod pg_tls;
mod postgres;
mod schema;
mod sqlite;
#[cfg(test)]
pub(crate) mod testing;
mod value;
mod writer;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;

pub(crate) use value::args;
pub(crate) use value::{Answer, Row, Stmt, Value};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database was written by a newer assay (schema {found}, this one knows up to {known})"
    )]
    TooNew { found: usize, known: usize },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(String),
    /// The database cannot be reached now (PostgreSQL down or partitioned away).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Config(String),
    #[error("a stored value is not what was expected: {0}")]
    Decode(String),
    #[error("write failed: {0}")]
    Write(String),
    #[error("the store is closed")]
    Closed,
    /// Another service holds the SQLite store ([`lock`]).
    #[error("{0}")]
    Locked(String),
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

pub struct Store {
    backend: Backend,
    /// A service's SQLite store: held while it runs ([`lock`]).
    _lock: Option<lock::StoreLock>,
}

impl Store {
    /// The store `[storage]` names: PostgreSQL when `url` is set, else the
    /// SQLite file at `path`, locked for this process (a second service on
    /// the same file, or a restore into it, is refused while it runs).
    pub async fn open(s: &crate::config::StorageSection) -> Result<Store, StoreError> {
        match &s.url {
            Some(url) => Store::open_postgres(url.expose()).await,
            None => {
                if let Some(dir) = s.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                let held = lock::StoreLock::acquire(&s.path)
                    .map_err(|e| StoreError::Locked(e.to_string()))?;
                let mut store = Store::open_sqlite(&s.path, s.synchronous_full())?;
                store._lock = Some(held);
                Ok(store)
            }
        }
    }

    /// Opens (creating if needed) the SQLite file at `path` and brings its schema up to date.
    pub fn open_sqlite(
        path: &std::path::Path,
        synchronous_full: bool,
    ) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::Sqlite::open(path, synchronous_full)?),
            _lock: None,
        })
    }

    /// Connects to PostgreSQL at `url` and brings its schema up to date.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Postgres(postgres::Postgres::open(url).await?),
            _lock: None,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Where the data is: the SQLite file, or `postgres://user@host:port/db` (never the password).
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Sqlite(s) => s.path.display().to_string(),
            Backend::Postgres(p) => p.display.clone(),
        }
    }

    /// The SQLite file, or `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Sqlite(s) => Some(&s.path),
            Backend::Postgres(_) => None,
        }
    }

    /// False once a write has failed (until one succeeds again), while
    /// PostgreSQL is unreachable, or after [`Store::close`].
    pub fn is_healthy(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(s) => s.healthy.load(Ordering::Relaxed),
            Backend::Postgres(p) => p.healthy.load(Ordering::Relaxed),
        }
    }

    /// Queues `stmts` to run in the writer's next transaction, now (so writes
    /// queued one after another commit in that order); the answer is the sum
    /// of what each statement answered, once committed. The caller may drop
    /// it: the write still happens.
    pub fn write(&self, stmts: Vec<Stmt>) -> Committed {
        let (tx, rx) = oneshot::channel();
        Committed(self.send(writer::Job(stmts, Some(tx))).map(|()| rx))
    }

    /// Queues `stmts` like [`Store::write`], with nobody waiting for the commit.
    pub fn write_detached(&self, stmts: Vec<Stmt>) {
        let _ = self.send(writer::Job(stmts, None));
    }

    fn send(&self, job: writer::Job) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.send(job),
            Backend::Postgres(p) => p.send(job),
        }
    }

    /// Runs one statement that answers an integer (`INSERT … RETURNING id`); answers it once committed.
    pub async fn insert(&self, sql: &'static str, values: Vec<Value>) -> Result<i64, StoreError> {
        self.write(vec![Stmt::returning(sql, values)]).wait().await
    }

    /// Retention for a table's owner: runs each of `deletes` (with `?1` the
    /// time `max_age` ago, in ms) in one transaction; answers how many rows went.
    pub async fn delete_older(
        &self,
        deletes: &'static [&'static str],
        max_age: Duration,
    ) -> Result<i64, StoreError> {
        let cutoff = crate::clock::now_ms() - max_age.as_millis() as i64;
        let stmts = deletes
            .iter()
            .map(|sql| Stmt::exec(*sql, args![cutoff]))
            .collect();
        self.write(stmts).wait().await
    }

    /// Runs a query; reads never wait for writes.
    pub async fn query(
        &self,
        sql: impl Into<Cow<'static, str>>,
        args: Vec<Value>,
    ) -> Result<Vec<Row>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.query(sql.into(), args).await,
            Backend::Postgres(p) => p.query(sql.into(), args).await,
        }
    }

    /// The first row a query answers, if any.
    pub async fn query_opt(
        &self,
        sql: impl Into<Cow<'static, str>>,
        args: Vec<Value>,
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args).await?.into_iter().next())
    }

    /// Finishes queued writes and stops the writer. Idempotent.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close(),
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// A write queued with [`Store::write`].
pub struct Committed(Result<oneshot::Receiver<Result<Vec<Answer>, StoreError>>, StoreError>);

impl Committed {
    /// Waits for the commit; answers the sum of the statements' counts.
    pub async fn wait(self) -> Result<i64, StoreError> {
        Ok(self.each().await?.iter().map(|a| a.count).sum())
    }

    /// Waits for the commit; answers each statement's answer, in order.
    pub async fn each(self) -> Result<Vec<Answer>, StoreError> {
        self.0?.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Backend::Sqlite(s) = &self.backend {
            s.close();
        }
    }
}
