//! The embedded backend: one SQLite file in WAL mode, one writer thread with
//! group commit ([`super::writer`]) and one reading connection, so reads
//! never wait for writes.
//!
//! With `synchronous = NORMAL` (the default) a committed row survives a crash
//! of the process (kill -9); `FULL` also survives a power cut, at the cost of
//! an fsync per commit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::value::{Row, Value};
use super::{StoreError, schema, writer};

pub(super) struct Sqlite {
    pub(super) path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    reader: Arc<Mutex<Connection>>,
    /// Whether the last commit succeeded (the writer sets it).
    pub(super) healthy: Arc<AtomicBool>,
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

impl Sqlite {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub(super) fn open(path: &Path, synchronous_full: bool) -> Result<Sqlite, StoreError> {
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
        Ok(Sqlite {
            path: path.to_owned(),
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some((stop_tx, checkpointer))),
            reader: Arc::new(Mutex::new(reader)),
            healthy,
        })
    }

    pub(super) fn send(&self, job: writer::Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().expect("store lock poisoned");
        let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    /// Runs a query on the reading connection, off the async threads.
    pub(super) async fn query(
        &self,
        sql: std::borrow::Cow<'static, str>,
        args: Vec<Value>,
    ) -> Result<Vec<Row>, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().expect("store lock poisoned");
            let mut st = conn.prepare_cached(&sql)?;
            let columns = st.column_count();
            let rows = st.query_map(rusqlite::params_from_iter(&args), |r| {
                writer::row(r, columns)
            })?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Write(format!("reader task failed: {e}")))?
    }

    /// Finishes queued writes, checkpoints and stops the writer. Idempotent.
    pub(super) fn close(&self) {
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
