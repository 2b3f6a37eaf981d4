//! The embedded store: validation history and the audit log in SQLite.
//!
//! WAL mode; one writer thread with group commit ([`writer`]) and one reading
//! connection, so reads never wait for writes. Schema changes are numbered
//! migrations ([`schema`]). With `synchronous = NORMAL` (the default) a
//! committed row survives a crash of the process (kill -9); `FULL` also
//! survives a power cut, at the cost of an fsync per commit.

mod probes;
mod query;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub use probes::{ProbeRecord, ProbeRow};
pub use query::{AuditRecord, ReportQuery, ReportSummary};

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
    #[error("write failed: {0}")]
    Write(String),
    #[error("the store is closed")]
    Closed,
}

/// A report to record.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub created_ms: i64,
    /// `api` or `monitor:NAME`.
    pub source: String,
    /// The token name that asked for it, when auth is on.
    pub actor: Option<String>,
    pub subject: String,
    pub digest: String,
    pub level: String,
    pub verdict: String,
    pub findings: i64,
    pub cached: bool,
    pub duration_us: i64,
    /// The whole report, as JSON.
    pub body: String,
}

/// One audited action.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `ok` or `rejected: …`.
    pub result: String,
    pub detail: String,
}

/// How long rows are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: Duration,
    pub max_reports: u64,
    /// Of probe results.
    pub probe_max_age: Duration,
}

pub struct Store {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    reader: Arc<Mutex<Connection>>,
    retention: Retention,
    healthy: AtomicBool,
}

fn open_conn(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let open = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(path, flags).map_err(open)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(open)?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(
        path: &Path,
        retention: Retention,
        synchronous_full: bool,
    ) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut conn = open_conn(path, OpenFlags::default())?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("store: {} is in {mode} mode, not WAL", path.display());
        }
        conn.pragma_update(
            None,
            "synchronous",
            if synchronous_full { "FULL" } else { "NORMAL" },
        )?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Checkpoints run on their own thread (see `writer::checkpoint_loop`),
        // not in the middle of a commit that callers are waiting for; while
        // one holds the lock, the writer retries every 100 µs instead of
        // SQLite's default back-off of up to 100 ms.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.busy_handler(Some(writer::busy_retry))?;
        schema::migrate(&mut conn)?;
        let checkpoints = open_conn(path, OpenFlags::default())?;
        let reader = open_conn(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;

        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let spawn_err = |e| StoreError::Write(format!("cannot start a store thread: {e}"));
        let handle = std::thread::Builder::new()
            .name("assay-store".into())
            .spawn(move || writer::run(conn, rx))
            .map_err(spawn_err)?;
        let checkpointer = std::thread::Builder::new()
            .name("assay-checkpoint".into())
            .spawn(move || writer::checkpoint_loop(checkpoints, stop_rx))
            .map_err(spawn_err)?;
        Ok(Store {
            path: path.to_owned(),
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some((stop_tx, checkpointer))),
            reader: Arc::new(Mutex::new(reader)),
            retention,
            healthy: AtomicBool::new(true),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False once a write has failed (until one succeeds again) or after [`Store::close`].
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    async fn submit(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<i64, StoreError>>) -> writer::Job,
    ) -> Result<i64, StoreError> {
        let (tx, rx) = oneshot::channel();
        {
            let jobs = self.jobs.lock().expect("store lock poisoned");
            let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job(tx)).map_err(|_| StoreError::Closed)?;
        }
        let result = rx.await.map_err(|_| StoreError::Closed)?;
        self.healthy.store(result.is_ok(), Ordering::Relaxed);
        result
    }

    /// Queues `f` to run in the writer's next transaction, now (so writes
    /// queued one after another commit in that order); the answer is its
    /// value once committed. The caller may drop it: the write still happens.
    pub fn write(
        &self,
        f: impl Fn(&rusqlite::Transaction<'_>) -> Result<i64, rusqlite::Error> + Send + 'static,
    ) -> Committed {
        let (tx, rx) = oneshot::channel();
        Committed(
            self.send(writer::Job::Exec(Box::new(f), Some(tx)))
                .map(|()| rx),
        )
    }

    /// Queues `f` like [`Store::write`], with nobody waiting for the commit.
    pub fn write_detached(
        &self,
        f: impl Fn(&rusqlite::Transaction<'_>) -> Result<i64, rusqlite::Error> + Send + 'static,
    ) {
        let _ = self.send(writer::Job::Exec(Box::new(f), None));
    }

    fn send(&self, job: writer::Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().expect("store lock poisoned");
        let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    /// Records a report; answers its id once it is committed.
    pub async fn insert_report(&self, row: ReportRow) -> Result<i64, StoreError> {
        self.submit(|tx| writer::Job::Report(row, tx)).await
    }

    /// Appends to the audit log; answers once it is committed.
    pub async fn audit(&self, entry: AuditEntry) -> Result<i64, StoreError> {
        self.submit(|tx| writer::Job::Audit(entry, tx)).await
    }

    /// Most rows of probe results one [`Store::prune`] deletes; when it
    /// deleted this many, call it again.
    pub const PRUNE_CHUNK: i64 = writer::PRUNE_CHUNK;

    /// Deletes what is past the retention (probe results at most
    /// [`Store::PRUNE_CHUNK`] at a time); answers how many rows went.
    pub async fn prune(&self) -> Result<i64, StoreError> {
        let r = self.retention;
        self.submit(|reply| writer::Job::Prune {
            max_age_ms: r.max_age.as_millis() as i64,
            max_reports: r.max_reports,
            probe_max_age_ms: r.probe_max_age.as_millis() as i64,
            reply,
        })
        .await
    }

    /// Runs `f` on the reading connection, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().expect("store lock poisoned");
            f(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Write(format!("reader task failed: {e}")))?
    }

    /// Finishes queued writes, checkpoints and stops the writer. Idempotent.
    pub fn close(&self) {
        if let Some((stop, h)) = self
            .checkpointer
            .lock()
            .expect("store lock poisoned")
            .take()
        {
            drop(stop);
            let _ = h.join();
        }
        drop(self.jobs.lock().expect("store lock poisoned").take());
        if let Some(h) = self.writer.lock().expect("store lock poisoned").take()
            && h.join().is_err()
        {
            tracing::error!("store: the writer thread panicked");
        }
        self.healthy.store(false, Ordering::Relaxed);
    }
}

/// A write queued with [`Store::write`].
pub struct Committed(Result<oneshot::Receiver<Result<i64, StoreError>>, StoreError>);

impl Committed {
    /// Waits for the commit.
    pub async fn wait(self) -> Result<i64, StoreError> {
        self.0?.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}
