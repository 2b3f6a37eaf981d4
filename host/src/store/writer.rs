//! The one writing connection, on its own thread, with group commit.
//!
//! Writers queue a job and wait for its commit. The thread takes every job
//! waiting (up to [`BATCH`]) and runs them in one transaction, so under load
//! many reports share one commit, and a caller is answered only once its row
//! is in the database: a report that was answered is not lost to a crash.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;
use super::value::{Answer, Stmt, Value};

const BATCH: usize = 512;
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// 4,096 pages of 4 KiB: a 16 MiB WAL.
const WAL_LIMIT_FRAMES: i64 = 4096;

/// A write: its statements, run in the group's transaction, answered on
/// commit when a sender is given.
pub(super) struct Job(
    pub(super) Vec<Stmt>,
    pub(super) Option<oneshot::Sender<Result<Vec<Answer>, StoreError>>>,
);

impl Job {
    pub(super) fn reply(self, result: Result<Vec<Answer>, StoreError>) {
        // The caller may have gone (a cancelled request): its row is written regardless.
        if let Some(tx) = self.1 {
            let _ = tx.send(result);
        }
    }
}

/// Runs until every sender is dropped, then checkpoints the WAL. `healthy`
/// says whether the last commit succeeded.
pub(super) fn run(mut conn: Connection, jobs: mpsc::Receiver<Job>, healthy: &AtomicBool) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = write_batch(&mut conn, &batch);
        healthy.store(results.is_ok(), Ordering::Relaxed);
        match results {
            Ok(ids) => {
                for (job, id) in batch.into_iter().zip(ids) {
                    job.reply(id);
                }
            }
            Err(e) => {
                tracing::error!("store: write failed: {e}");
                let msg = e.to_string();
                for job in batch {
                    job.reply(Err(StoreError::Write(msg.clone())));
                }
            }
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!("store: final checkpoint failed: {e}");
    }
    tracing::debug!("store: writer stopped");
}

/// Copies the WAL back into the database every 100 ms, on its own
/// connection, so that commits (and the requests waiting for them) do not
/// carry that work. Under a steady stream of writes a passive checkpoint
/// never reaches the end of the WAL, which would then only grow; past
/// [`WAL_LIMIT_FRAMES`] a restarting checkpoint makes the writer wait for
/// the copy (a few milliseconds) and lets the WAL start over. Ends when
/// `stop`'s sender is dropped.
pub(super) fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        })
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let result = match checkpoint("PASSIVE") {
            Ok(frames) if frames > WAL_LIMIT_FRAMES => checkpoint("RESTART"),
            other => other,
        };
        if let Err(e) = result {
            tracing::warn!("store: checkpoint failed: {e}");
        }
    }
}

/// The writer's busy handler: retry every 100 µs, for up to 5 s.
pub(super) fn busy_retry(attempt: i32) -> bool {
    std::thread::sleep(std::time::Duration::from_micros(100));
    attempt < 50_000
}

/// One transaction for the batch; each job's own failure is its own.
fn write_batch(
    conn: &mut Connection,
    batch: &[Job],
) -> Result<Vec<Result<Vec<Answer>, StoreError>>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        out.push(write_one(&tx, job).map_err(|e| StoreError::Write(e.to_string())));
    }
    tx.commit()?;
    Ok(out)
}

/// Runs a job's statements; answers what each answered.
fn write_one(tx: &rusqlite::Transaction<'_>, job: &Job) -> Result<Vec<Answer>, rusqlite::Error> {
    let mut out = Vec::with_capacity(job.0.len());
    for s in &job.0 {
        let mut st = tx.prepare_cached(&s.sql)?;
        let params = rusqlite::params_from_iter(&s.args);
        out.push(if s.returning {
            let columns = st.column_count();
            let rows = st.query_map(params, |r| row(r, columns))?;
            Answer::returned(rows.collect::<Result<_, _>>()?)
        } else {
            Answer {
                count: st.execute(params)? as i64,
                rows: Vec::new(),
            }
        });
    }
    Ok(out)
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

/// A row of SQLite's as the store's [`super::Row`].
pub(super) fn row(r: &rusqlite::Row<'_>, columns: usize) -> rusqlite::Result<super::Row> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(columns);
    for i in 0..columns {
        out.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                Value::Text(String::from_utf8_lossy(t).into_owned())
            }
        });
    }
    Ok(super::Row(out))
}
