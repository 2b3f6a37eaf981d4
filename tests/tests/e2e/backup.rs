//! Backups that restore: `assay backup` under write load, `assay restore`
//! into a new data directory, a service started on it; and the schedule
//! that rotates its backups.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Env, test_plugin};
use crate::receivers::{Mode, Receiver};
use crate::server::{FAST_ALERTING, Server, eventually, json};

/// What a writer got answered, and when.
type Committed = Arc<Mutex<Vec<(Instant, String)>>>;

fn stream(
    stop: &Arc<AtomicBool>,
    base: String,
    what: &'static str,
) -> (std::thread::JoinHandle<()>, Committed) {
    let done: Committed = Arc::default();
    let (stop, log) = (stop.clone(), done.clone());
    let handle = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let resp = match what {
                "report" => client
                    .post(format!("{base}/v1/validate?name=load-{i}"))
                    .body("{}")
                    .send(),
                _ => client
                    .post(format!("{base}/v1/alerts"))
                    .json(&json!({"alerts": [{"name": "Load", "severity": "warning", "labels": {"n": i.to_string()}}]}))
                    .send(),
            };
            let (status, v) = json(resp.unwrap());
            let at = Instant::now();
            let id = match what {
                "report" => {
                    assert_eq!(status, 200, "{v}");
                    v["id"].as_i64().unwrap().to_string()
                }
                _ => {
                    assert_eq!(status, 202, "{v}");
                    v["accepted"][0]["fingerprint"].as_str().unwrap().to_owned()
                }
            };
            log.lock().unwrap().push((at, id));
        }
    });
    (handle, done)
}

fn column(db: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut st = db.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
        .unwrap()
        .map(|v| match v.unwrap() {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_backup_taken_under_load_restores_everything_committed_before_it_and_delivers_what_was_pending()
{
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let hook = Receiver::start();
    // Down while the first service runs: its notifications stay pending.
    hook.set_mode(Mode::Fail(503));
    let config = format!(
        "{FAST_ALERTING}max_attempts = 1000\nbackoff_base = \"2s\"\nbackoff_max = \"2s\"\n\n{}",
        hook.channel("ops", "")
    );
    let mut first = Server::with_config(&env, &config);
    let stop = Arc::new(AtomicBool::new(false));
    let (reports_writer, reports) = stream(&stop, first.base.clone(), "report");
    let (alerts_writer, alerts) = stream(&stop, first.base.clone(), "alert");
    std::thread::sleep(Duration::from_secs(2));

    let began = Instant::now();
    let backup = env.work_dir().join("backups/now.db.gz");
    let run = env.run(&["backup", "--to", backup.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Writes went on during the backup, and go on after it.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    reports_writer.join().unwrap();
    alerts_writer.join().unwrap();
    let before = |log: &Committed| -> Vec<String> {
        let log = log.lock().unwrap();
        let all = log.len();
        let before: Vec<String> = log
            .iter()
            .filter(|(at, _)| *at < began)
            .map(|(_, id)| id.clone())
            .collect();
        assert!(
            before.len() >= 10 && all > before.len(),
            "{} before of {all}",
            before.len()
        );
        before
    };
    let (reports_before, alerts_before) = (before(&reports), before(&alerts));

    // A service running on the data directory refuses a restore into it.
    let refused = env.run(&["restore", backup.to_str().unwrap()]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("in use by another assay"),
        "{}",
        refused.stderr
    );
    first.crash();

    // Into a new data directory.
    let restored_db = env.work_dir().join("restored/assay.db");
    let run = env.run(&[
        "restore",
        backup.to_str().unwrap(),
        "--db",
        restored_db.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let db = rusqlite::Connection::open(&restored_db).unwrap();
    assert_eq!(column(&db, "PRAGMA integrity_check"), ["ok"]);
    let ids = column(&db, "SELECT id FROM reports");
    let missing: Vec<_> = reports_before
        .iter()
        .filter(|id| !ids.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "reports committed before the backup but not in it: {missing:?}"
    );
    let fingerprints = column(&db, "SELECT fingerprint FROM alerts");
    let missing: Vec<_> = alerts_before
        .iter()
        .filter(|f| !fingerprints.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "alerts committed before the backup but not in it: {missing:?}"
    );
    let pending = column(
        &db,
        "SELECT key FROM notifications WHERE status = 'pending'",
    );
    assert!(
        !pending.is_empty(),
        "notifications were pending at the backup"
    );
    drop(db);

    // A service on the restored store has it all, and delivers what was pending.
    hook.set_mode(Mode::Accept);
    let restored_config = format!("{config}\n[storage]\npath = \"restored/assay.db\"\n");
    let second = Server::with_config(&env, &restored_config);
    let (status, v) = json(
        second
            .get(&format!("/v1/reports/{}", reports_before[0]))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{v}");
    let active: Vec<String> = second
        .alerts()
        .iter()
        .map(|a| a["alert"]["fingerprint"].as_str().unwrap().to_owned())
        .collect();
    assert!(alerts_before.iter().all(|f| active.contains(f)));
    eventually(90, "every pending notification delivered", || {
        let delivered: Vec<String> = hook
            .delivered("/ops")
            .iter()
            .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
            .collect();
        pending.iter().all(|k| delivered.contains(k)).then_some(())
    });
}

#[test]
fn scheduled_backups_rotate_to_keep_and_are_counted() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let config = "[storage.backup]\ndir = \"backups\"\ninterval = \"1s\"\nkeep = 2\n";
    let s = Server::with_config(&env, config);
    s.validate("?name=one", "{}");
    let dir = env.work_dir().join("backups");
    let list = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let metric = |name: &str| -> f64 {
        let text = s.get("/metrics").send().unwrap().text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .parse()
            .unwrap()
    };
    eventually(30, "four backups taken", || {
        (metric("assay_backup_last_success_timestamp_seconds") > 0.0 && {
            let t = s.log();
            t.matches("backup: wrote").count() >= 4
        })
        .then_some(())
    });
    let names = list();
    assert_eq!(names.len(), 2, "keep = 2: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("assay-") && n.ends_with(".db.gz")),
        "{names:?}"
    );
    assert!(metric("assay_backup_size_bytes") > 0.0);
    assert_eq!(metric("assay_backup_failures_total"), 0.0);
    // Each one restores.
    let newest = dir.join(names.last().unwrap());
    let run = env.run(&["restore", newest.to_str().unwrap(), "--db", "copy/assay.db"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("1 reports"), "{}", run.stderr);
}

#[test]
fn a_schedule_that_cannot_write_raises_backup_failing_then_stale() {
    let env = Env::new();
    env.subject("not-a-dir", "a file");
    let config = "[storage.backup]\ndir = \"not-a-dir/backups\"\ninterval = \"1s\"\n";
    let s = Server::with_config(&env, config);
    for name in ["BackupFailing", "BackupStale"] {
        eventually(30, name, || {
            s.alerts()
                .iter()
                .any(|a| a["alert"]["name"] == name)
                .then_some(())
        });
    }
    let text = s.get("/metrics").send().unwrap().text().unwrap();
    let failures: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("assay_backup_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failures >= 1.0, "{failures}");
}
