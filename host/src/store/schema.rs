//! The schema, as numbered migrations applied in order; `PRAGMA user_version` records the last applied.
//!
//! Append a migration to change the schema; never edit one that has shipped.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: validation history and the audit log.
    "CREATE TABLE reports (
        id          INTEGER PRIMARY KEY,
        created_ms  INTEGER NOT NULL,
        source      TEXT    NOT NULL,
        actor       TEXT,
        subject     TEXT    NOT NULL,
        digest      TEXT    NOT NULL,
        level       TEXT    NOT NULL,
        verdict     TEXT    NOT NULL,
        findings    INTEGER NOT NULL,
        cached      INTEGER NOT NULL,
        duration_us INTEGER NOT NULL,
        body        TEXT    NOT NULL
    );
    CREATE INDEX reports_subject ON reports (subject, id);
    CREATE INDEX reports_created ON reports (created_ms);
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at_ms   INTEGER NOT NULL,
        actor   TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        target  TEXT    NOT NULL,
        result  TEXT    NOT NULL,
        detail  TEXT    NOT NULL
    );
    CREATE INDEX audit_at ON audit (at_ms);",
    // 2: probe results.
    "CREATE TABLE probe_results (
        id           INTEGER PRIMARY KEY,
        probe        TEXT    NOT NULL,
        at_ms        INTEGER NOT NULL,
        duration_us  INTEGER NOT NULL,
        status       TEXT    NOT NULL,
        state        TEXT    NOT NULL,
        message      TEXT    NOT NULL,
        observations TEXT    NOT NULL,
        denied       TEXT    NOT NULL,
        trigger      TEXT    NOT NULL
    );
    CREATE INDEX probe_results_probe ON probe_results (probe, id);
    CREATE INDEX probe_results_at ON probe_results (at_ms);",
    // 3: alerting. `alerts` holds the active alerts (the engine's state, so a
    // restart resumes it); `alert_history` every change; `notifications` is
    // the outbox; `silences` the operator's silences.
    "CREATE TABLE alerts (
        fingerprint TEXT    PRIMARY KEY,
        updated_ms  INTEGER NOT NULL,
        body        TEXT    NOT NULL
    );
    CREATE TABLE alert_history (
        id          INTEGER PRIMARY KEY,
        at_ms       INTEGER NOT NULL,
        fingerprint TEXT    NOT NULL,
        name        TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        severity    TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        detail      TEXT    NOT NULL,
        body        TEXT    NOT NULL
    );
    CREATE INDEX alert_history_at ON alert_history (at_ms);
    CREATE INDEX alert_history_fingerprint ON alert_history (fingerprint, id);
    CREATE TABLE notifications (
        id              INTEGER PRIMARY KEY,
        key             TEXT    NOT NULL UNIQUE,
        channel         TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        created_ms      INTEGER NOT NULL,
        status          TEXT    NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_at_ms      INTEGER NOT NULL,
        last_attempt_ms INTEGER,
        delivered_ms    INTEGER,
        last_error      TEXT,
        payload         TEXT    NOT NULL
    );
    CREATE INDEX notifications_due ON notifications (status, channel, next_at_ms);
    CREATE INDEX notifications_created ON notifications (created_ms);
    CREATE TABLE silences (
        id         TEXT    PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        starts_ms  INTEGER NOT NULL,
        ends_ms    INTEGER NOT NULL,
        created_by TEXT    NOT NULL,
        comment    TEXT    NOT NULL,
        matchers   TEXT    NOT NULL
    );",
];

/// Brings `conn` to the newest schema, in one transaction per migration.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            found: current,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!("store: applied migration {}", i + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_files() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: usize = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len());
        c.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrate(&mut c),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
