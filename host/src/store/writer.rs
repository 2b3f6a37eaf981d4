//! The one writing connection, on its own thread, with group commit.
//!
//! Writers queue a job and wait for its commit. The thread takes every job
//! waiting (up to [`BATCH`]) and runs them in one transaction, so under load
//! many reports share one commit, and a caller is answered only once its row
//! is in the database: a report that was answered is not lost to a crash.

use std::sync::mpsc;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{AuditEntry, ProbeRow, ReportRow, StoreError};
use crate::clock::now_ms;

const BATCH: usize = 512;
/// Most probe results one prune job deletes (see [`Job::Prune`]).
pub(super) const PRUNE_CHUNK: i64 = 20_000;
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// 4,096 pages of 4 KiB: a 16 MiB WAL.
const WAL_LIMIT_FRAMES: i64 = 4096;

/// A write of another module's own rows (alerts, the outbox), run in the group's transaction.
pub(crate) type WriteFn =
    Box<dyn Fn(&rusqlite::Transaction<'_>) -> Result<i64, rusqlite::Error> + Send>;

pub(super) enum Job {
    /// Answered on commit when a sender is given.
    Exec(WriteFn, Option<oneshot::Sender<Result<i64, StoreError>>>),
    Report(ReportRow, oneshot::Sender<Result<i64, StoreError>>),
    Audit(AuditEntry, oneshot::Sender<Result<i64, StoreError>>),
    /// Nobody waits for a probe result's commit: its state is in memory already.
    Probe(ProbeRow),
    Prune {
        max_age_ms: i64,
        max_reports: u64,
        probe_max_age_ms: i64,
        reply: oneshot::Sender<Result<i64, StoreError>>,
    },
}

impl Job {
    fn reply(self, result: Result<i64, StoreError>) {
        let tx = match self {
            Job::Report(_, tx) | Job::Audit(_, tx) | Job::Prune { reply: tx, .. } => tx,
            Job::Probe(_) | Job::Exec(_, None) => return,
            Job::Exec(_, Some(tx)) => tx,
        };
        // The caller may have gone (a cancelled request): its row is written regardless.
        let _ = tx.send(result);
    }
}

/// Runs until every sender is dropped, then checkpoints the WAL.
pub(super) fn run(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = write_batch(&mut conn, &batch);
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
) -> Result<Vec<Result<i64, StoreError>>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        out.push(write_one(&tx, job).map_err(|e| StoreError::Write(e.to_string())));
    }
    tx.commit()?;
    Ok(out)
}

fn write_one(tx: &rusqlite::Transaction<'_>, job: &Job) -> Result<i64, rusqlite::Error> {
    match job {
        Job::Exec(f, _) => f(tx),
        Job::Report(r, _) => {
            let mut st = tx.prepare_cached(
                "INSERT INTO reports (created_ms, source, actor, subject, digest, level, verdict,
                                      findings, cached, duration_us, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            st.execute(params![
                r.created_ms,
                r.source,
                r.actor,
                r.subject,
                r.digest,
                r.level,
                r.verdict,
                r.findings,
                r.cached,
                r.duration_us,
                r.body
            ])?;
            Ok(tx.last_insert_rowid())
        }
        Job::Audit(a, _) => {
            let mut st = tx.prepare_cached(
                "INSERT INTO audit (at_ms, actor, action, target, result, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            st.execute(params![
                a.at_ms, a.actor, a.action, a.target, a.result, a.detail
            ])?;
            Ok(tx.last_insert_rowid())
        }
        Job::Probe(p) => {
            let mut st = tx.prepare_cached(
                "INSERT INTO probe_results (probe, at_ms, duration_us, status, state, message,
                                            observations, denied, trigger)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            st.execute(params![
                p.probe,
                p.at_ms,
                p.duration_us,
                p.status,
                p.state,
                p.message,
                p.observations,
                p.denied,
                p.trigger
            ])?;
            Ok(tx.last_insert_rowid())
        }
        Job::Prune {
            max_age_ms,
            max_reports,
            probe_max_age_ms,
            ..
        } => {
            let cutoff = now_ms() - max_age_ms;
            let mut n = tx.execute("DELETE FROM reports WHERE created_ms < ?1", [cutoff])?;
            n += tx.execute(
                "DELETE FROM reports WHERE id <= (SELECT id FROM reports ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                [*max_reports as i64],
            )?;
            n += tx.execute("DELETE FROM audit WHERE at_ms < ?1", [cutoff])?;
            n += tx.execute("DELETE FROM alert_history WHERE at_ms < ?1", [cutoff])?;
            // Pending notifications are kept whatever their age: nothing accepted is dropped.
            n += tx.execute(
                "DELETE FROM notifications WHERE created_ms < ?1 AND status != 'pending'",
                [cutoff],
            )?;
            n += tx.execute("DELETE FROM silences WHERE ends_ms < ?1", [cutoff])?;
            // In bounded chunks: thousands of probes write millions of rows a
            // day, and one big DELETE would hold up every commit waiting
            // behind it. The pruner repeats until a chunk comes back short.
            n += tx.execute(
                "DELETE FROM probe_results WHERE id IN
                   (SELECT id FROM probe_results WHERE at_ms < ?1 ORDER BY id LIMIT ?2)",
                rusqlite::params![now_ms() - probe_max_age_ms, PRUNE_CHUNK],
            )?;
            Ok(n as i64)
        }
    }
}
