//! Scheduled backups of the SQLite store (`[storage.backup]`): one every
//! `interval` into `dir`, the newest `keep` kept, with metrics and two
//! alerts: `BackupFailing` (error) when an attempt fails, until one
//! succeeds; `BackupStale` (warning) when no backup has succeeded for twice
//! the interval (a backup that hangs, or keeps failing), until one does.
//!
//! The schedule follows the backups already in `dir`: a restart does not
//! take a new one until the newest is `interval` old.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use assay_contract::Severity;

use crate::alerts::Alerting;
use crate::alerts::model::Alert;
use crate::clock::now_ms;
use crate::config::BackupSection;
use crate::store::backup::{self, stamp_at};
use crate::tasks::Tasks;
use crate::telemetry::Metrics;

const PREFIX: &str = "assay-";

/// The file name of a backup taken at `ms`.
pub(crate) fn file_name(ms: i64, compressed: bool) -> String {
    let ext = if compressed { ".db.gz" } else { ".db" };
    format!("{PREFIX}{}{ext}", stamp_at(ms))
}

/// When the backup named `name` was taken, if it is one of ours.
pub(crate) fn taken_at(name: &str) -> Option<i64> {
    let stamp = name.strip_prefix(PREFIX)?;
    let stamp = stamp
        .strip_suffix(".db.gz")
        .or_else(|| stamp.strip_suffix(".db"))?;
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    );
    crate::clock::parse_rfc3339(&text)
}

/// Our backups in `dir`, oldest first, with when each was taken.
fn listed(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let at = taken_at(name.to_str()?)?;
            Some((at, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Which of `backups` (oldest first) go so that the newest `keep` stay.
pub(crate) fn to_prune<T: Clone>(backups: &[T], keep: usize) -> Vec<T> {
    backups[..backups.len().saturating_sub(keep)].to_vec()
}

/// When the next backup is due: `interval` after the newest, or now.
pub(crate) fn next_due(newest: Option<i64>, now: i64, interval: Duration) -> i64 {
    newest.map_or(now, |t| (t + interval.as_millis() as i64).max(now))
}

/// Whether a last success at `last` is stale at `now`.
pub(crate) fn is_stale(last: i64, now: i64, interval: Duration) -> bool {
    now - last > 2 * interval.as_millis() as i64
}

/// Takes one backup now into `dir` and prunes to `keep`.
pub(crate) fn take(db: &Path, cfg: &BackupSection) -> Result<backup::Backup, backup::BackupError> {
    let dest = cfg.dir.join(file_name(now_ms(), cfg.compress));
    let done = backup::backup(db, &dest, cfg.compress)?;
    for (_, old) in to_prune(&listed(&cfg.dir), cfg.keep) {
        if let Err(e) = std::fs::remove_file(&old) {
            tracing::warn!(
                "backup: cannot remove the old backup {}: {e}",
                old.display()
            );
        }
    }
    Ok(done)
}

fn alert(name: &str, severity: Severity, summary: String) -> Alert {
    Alert::firing(name, severity, "host:backup", BTreeMap::new(), summary)
}

/// Runs the schedule until `tasks` stop.
pub(crate) fn spawn(
    cfg: BackupSection,
    db: PathBuf,
    metrics: Metrics,
    alerting: Alerting,
    tasks: &Tasks,
) {
    let newest = listed(&cfg.dir).last().map(|(at, _)| *at);
    // Until a backup succeeds, staleness counts from the newest one there, or from now.
    let last_ok = Arc::new(AtomicI64::new(newest.unwrap_or_else(now_ms)));
    if let Some(at) = newest {
        metrics.backup_last_success.set(at as f64 / 1000.0);
    }
    let t = tasks.clone();
    let (m, a, last) = (metrics.clone(), alerting.clone(), last_ok.clone());
    let interval = cfg.interval;
    tasks.spawn(async move {
        let mut failing = false;
        let mut due = next_due(newest, now_ms(), interval);
        loop {
            let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = t.stopped() => return,
            }
            let (db, cfg2) = (db.clone(), cfg.clone());
            let result = tokio::task::spawn_blocking(move || take(&db, &cfg2))
                .await
                .unwrap_or_else(|e| {
                    Err(backup::BackupError::Io {
                        path: cfg.dir.clone(),
                        source: std::io::Error::other(format!("the backup task failed: {e}")),
                    })
                });
            match result {
                Ok(b) => {
                    let now = now_ms();
                    last.store(now, Ordering::Relaxed);
                    m.backup_last_success.set(now as f64 / 1000.0);
                    m.backup_size.set(b.bytes as i64);
                    m.backup_duration.set(b.took.as_secs_f64());
                    tracing::info!(
                        "backup: wrote {} ({} bytes, {} ms)",
                        b.path.display(),
                        b.bytes,
                        b.took.as_millis()
                    );
                    if failing {
                        a.raise(alert("BackupFailing", Severity::Error, String::new()).resolved());
                        failing = false;
                    }
                    due = now + interval.as_millis() as i64;
                }
                Err(e) => {
                    m.backup_failures.inc();
                    tracing::error!("backup: failed: {e}");
                    a.raise(
                        alert(
                            "BackupFailing",
                            Severity::Error,
                            "the scheduled backup of the store failed".into(),
                        )
                        .with_description(crate::redact::scrub(&e.to_string())),
                    );
                    failing = true;
                    // Try again sooner than a whole interval.
                    due = now_ms() + interval.min(Duration::from_secs(300)).as_millis() as i64;
                }
            }
        }
    });
    let t = tasks.clone();
    tasks.spawn(async move {
        let mut stale = false;
        let every = (interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = t.stopped() => return,
            }
            let last = last_ok.load(Ordering::Relaxed);
            let now_stale = is_stale(last, now_ms(), interval);
            if now_stale != stale {
                let a = alert(
                    "BackupStale",
                    Severity::Warning,
                    "no backup of the store has succeeded for twice its interval".into(),
                )
                .with_description(format!(
                    "the last successful backup was at {}; backups run every {}",
                    crate::clock::rfc3339(last),
                    humantime::format_duration(interval)
                ));
                alerting.raise(if now_stale { a } else { a.resolved() });
                stale = now_stale;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_time_and_round_trip() {
        let at = crate::clock::parse_rfc3339("2026-12-03T09:15:07Z").unwrap();
        assert_eq!(file_name(at, true), "assay-20261203T091507Z.db.gz");
        assert_eq!(file_name(at, false), "assay-20261203T091507Z.db");
        assert_eq!(taken_at("assay-20261203T091507Z.db.gz"), Some(at));
        assert_eq!(taken_at("assay-20261203T091507Z.db"), Some(at));
        for other in [
            "assay.db",
            "assay-2026.db.gz",
            "notes.txt",
            "assay-20261203T091507Z.db.gz.tmp",
        ] {
            assert_eq!(taken_at(other), None, "{other}");
        }
    }

    #[test]
    fn rotation_keeps_the_newest() {
        let all = [1, 2, 3, 4, 5];
        assert_eq!(to_prune(&all, 3), vec![1, 2]);
        assert_eq!(to_prune(&all, 5), Vec::<i32>::new());
        assert_eq!(to_prune(&all, 9), Vec::<i32>::new());
    }

    #[test]
    fn the_schedule_follows_the_newest_backup_and_staleness_is_twice_the_interval() {
        let hour = Duration::from_secs(3600);
        let now = 10 * 3_600_000;
        assert_eq!(next_due(None, now, hour), now);
        assert_eq!(next_due(Some(now - 600_000), now, hour), now + 3_000_000);
        assert_eq!(next_due(Some(now - 5 * 3_600_000), now, hour), now);
        assert!(!is_stale(now - 2 * 3_600_000, now, hour));
        assert!(is_stale(now - 2 * 3_600_000 - 1, now, hour));
    }
}
