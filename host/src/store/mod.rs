//! The embedded store: one SQLite database, and the only way to it.
//!
//! The store knows no table but its schema ([`schema`]): each table has one
//! owner that holds all of its SQL and its retention (`validate/repo.rs`
//! for reports, `probes/repo.rs`, `audit.rs`, `alerts/repo.rs` and the
//! outbox), and reaches the database through [`Store::write`] and
//! [`Store::read`]. WAL mode; one writer thread with group commit
//! ([`writer`]) and one reading connection, so reads never wait for writes. Schema changes are numbered
//! migrations ([`schema`]). With `synchronous = NORMAL` (the default) a
//! committed row survives a crash of the process (kill -9); `FULL` also
//! survives a power cut, at the cost of an fsync per commit.

mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

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

pub struct Store {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    reader: Arc<Mutex<Connection>>,
    /// Whether the last commit succeeded (the writer sets it).
    healthy: Arc<AtomicBool>,
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
    pub fn open(path: &Path, synchronous_full: bool) -> Result<Store, StoreError> {
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
        let healthy = Arc::new(AtomicBool::new(true));
        let spawn_err = |e| StoreError::Write(format!("cannot start a store thread: {e}"));
        let h = healthy.clone();
        let handle = std::thread::Builder::new()
            .name("assay-store".into())
            .spawn(move || writer::run(conn, rx, &h))
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
            healthy,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False once a write has failed (until one succeeds again) or after [`Store::close`].
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Queues `f` to run in the writer's next transaction, now (so writes
    /// queued one after another commit in that order); the answer is its
    /// value once committed. The caller may drop it: the write still happens.
    pub fn write(
        &self,
        f: impl Fn(&rusqlite::Transaction<'_>) -> Result<i64, rusqlite::Error> + Send + 'static,
    ) -> Committed {
        let (tx, rx) = oneshot::channel();
        Committed(self.send(writer::Job(Box::new(f), Some(tx))).map(|()| rx))
    }

    /// Queues `f` like [`Store::write`], with nobody waiting for the commit.
    pub fn write_detached(
        &self,
        f: impl Fn(&rusqlite::Transaction<'_>) -> Result<i64, rusqlite::Error> + Send + 'static,
    ) {
        let _ = self.send(writer::Job(Box::new(f), None));
    }

    fn send(&self, job: writer::Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().expect("store lock poisoned");
        let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    /// Inserts one row (`values` for `?1`, `?2`, …); answers its rowid once committed.
    pub async fn insert(
        &self,
        sql: &'static str,
        values: Vec<rusqlite::types::Value>,
    ) -> Result<i64, StoreError> {
        self.write(move |tx| {
            tx.prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(&values))?;
            Ok(tx.last_insert_rowid())
        })
        .wait()
        .await
    }

    /// Retention for a table's owner: runs each of `deletes` (with `?1` the
    /// time `max_age` ago, in ms) in one transaction; answers how many rows went.
    pub async fn delete_older(
        &self,
        deletes: &'static [&'static str],
        max_age: Duration,
    ) -> Result<i64, StoreError> {
        let cutoff = crate::clock::now_ms() - max_age.as_millis() as i64;
        self.write(move |tx| {
            let mut n = 0;
            for sql in deletes {
                n += tx.execute(sql, [cutoff])? as i64;
            }
            Ok(n)
        })
        .wait()
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
