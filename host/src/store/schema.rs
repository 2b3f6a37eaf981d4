//! The schema, as numbered migrations applied in order, one list per backend.
//!
//! SQLite records the last applied in `PRAGMA user_version`; PostgreSQL in
//! the table `assay_schema`, under an advisory lock so that replicas starting
//! together apply each migration once ([`super::postgres`]). Migration N
//! makes the same tables in both lists. Append a migration to change the
//! schema; never edit one that has shipped.

use rusqlite::Connection;

use super::StoreError;

pub(super) const SQLITE: &[&str] = &[
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
    // 4: replicas sharing one database: who is alive, who holds which
    // lease (with fencing tokens that only grow: a released lease keeps its
    // row), the outbox's claims, the inbox of alert work for the replica
    // that decides alert state, and each probe's latest state for the
    // replicas that do not run it.
    "CREATE TABLE cluster_nodes (
        node         TEXT    PRIMARY KEY,
        started_ms   INTEGER NOT NULL,
        heartbeat_ms INTEGER NOT NULL,
        version      TEXT    NOT NULL
    );
    CREATE TABLE leases (
        name       TEXT    PRIMARY KEY,
        holder     TEXT    NOT NULL,
        token      INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    ALTER TABLE notifications ADD COLUMN claimed_by TEXT;
    ALTER TABLE notifications ADD COLUMN claim_until_ms INTEGER;
    CREATE TABLE alert_inbox (
        id    INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        kind  TEXT    NOT NULL,
        body  TEXT    NOT NULL
    );
    CREATE TABLE probe_state (
        probe    TEXT    PRIMARY KEY,
        state    TEXT    NOT NULL,
        since_ms INTEGER NOT NULL,
        result   TEXT    NOT NULL
    );",
    // 5: state every replica shares: each channel's circuit breaker, and
    // the live settings (`PUT /v1/config`; one row, `id = 1`) with the
    // config file's settings they were made against (`base`).
    "CREATE TABLE channel_breakers (
        channel        TEXT    PRIMARY KEY,
        failures       INTEGER NOT NULL,
        open_until_ms  INTEGER,
        cooldown_ms    INTEGER NOT NULL,
        trial_until_ms INTEGER
    );
    CREATE TABLE live_settings (
        id         INTEGER PRIMARY KEY,
        revision   INTEGER NOT NULL,
        base       TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        changed_ms INTEGER NOT NULL,
        change_id  TEXT    NOT NULL
    );",
    // 6: every delivery attempt of a notification and how it ended (an
    // alert's trail shows them); kept as long as the notification.
    "CREATE TABLE notification_attempts (
        id           INTEGER PRIMARY KEY,
        notification INTEGER NOT NULL,
        attempt      INTEGER NOT NULL,
        at_ms        INTEGER NOT NULL,
        duration_ms  INTEGER,
        outcome      TEXT    NOT NULL,
        error        TEXT,
        node         TEXT
    );
    CREATE INDEX notification_attempts_of ON notification_attempts (notification, id);",
    // 7: each probe's results counted per hour and per UTC day (`span_ms`),
    // written with each result, so uptime over 30 days reads 30 rows, not
    // thousands of results.
    "CREATE TABLE probe_uptime (
        probe       TEXT    NOT NULL,
        span_ms     INTEGER NOT NULL,
        bucket_ms   INTEGER NOT NULL,
        up          INTEGER NOT NULL,
        total       INTEGER NOT NULL,
        duration_us INTEGER NOT NULL,
        PRIMARY KEY (probe, span_ms, bucket_ms)
    );
    CREATE INDEX probe_uptime_bucket ON probe_uptime (span_ms, bucket_ms);",
];

/// The same tables in PostgreSQL's types: `BIGINT` for every integer (times
/// in ms, ids from an identity), `TEXT` for text and JSON.
pub(super) const POSTGRES: &[&str] = &[
    // 1: validation history and the audit log.
    "CREATE TABLE reports (
        id          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        created_ms  BIGINT  NOT NULL,
        source      TEXT    NOT NULL,
        actor       TEXT,
        subject     TEXT    NOT NULL,
        digest      TEXT    NOT NULL,
        level       TEXT    NOT NULL,
        verdict     TEXT    NOT NULL,
        findings    BIGINT  NOT NULL,
        cached      BIGINT  NOT NULL,
        duration_us BIGINT  NOT NULL,
        body        TEXT    NOT NULL
    );
    CREATE INDEX reports_subject ON reports (subject, id);
    CREATE INDEX reports_created ON reports (created_ms);
    CREATE TABLE audit (
        id      BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at_ms   BIGINT  NOT NULL,
        actor   TEXT    NOT NULL,
        action  TEXT    NOT NULL,
        target  TEXT    NOT NULL,
        result  TEXT    NOT NULL,
        detail  TEXT    NOT NULL
    );
    CREATE INDEX audit_at ON audit (at_ms);",
    // 2: probe results.
    "CREATE TABLE probe_results (
        id           BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        probe        TEXT    NOT NULL,
        at_ms        BIGINT  NOT NULL,
        duration_us  BIGINT  NOT NULL,
        status       TEXT    NOT NULL,
        state        TEXT    NOT NULL,
        message      TEXT    NOT NULL,
        observations TEXT    NOT NULL,
        denied       TEXT    NOT NULL,
        trigger      TEXT    NOT NULL
    );
    CREATE INDEX probe_results_probe ON probe_results (probe, id);
    CREATE INDEX probe_results_at ON probe_results (at_ms);",
    // 3: alerting.
    "CREATE TABLE alerts (
        fingerprint TEXT    PRIMARY KEY,
        updated_ms  BIGINT  NOT NULL,
        body        TEXT    NOT NULL
    );
    CREATE TABLE alert_history (
        id          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at_ms       BIGINT  NOT NULL,
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
        id              BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        key             TEXT    NOT NULL UNIQUE,
        channel         TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        created_ms      BIGINT  NOT NULL,
        status          TEXT    NOT NULL,
        attempts        BIGINT  NOT NULL DEFAULT 0,
        next_at_ms      BIGINT  NOT NULL,
        last_attempt_ms BIGINT,
        delivered_ms    BIGINT,
        last_error      TEXT,
        payload         TEXT    NOT NULL
    );
    CREATE INDEX notifications_due ON notifications (status, channel, next_at_ms);
    CREATE INDEX notifications_created ON notifications (created_ms);
    CREATE TABLE silences (
        id         TEXT    PRIMARY KEY,
        created_ms BIGINT  NOT NULL,
        starts_ms  BIGINT  NOT NULL,
        ends_ms    BIGINT  NOT NULL,
        created_by TEXT    NOT NULL,
        comment    TEXT    NOT NULL,
        matchers   TEXT    NOT NULL
    );",
    // 4: replicas sharing one database.
    "CREATE TABLE cluster_nodes (
        node         TEXT    PRIMARY KEY,
        started_ms   BIGINT  NOT NULL,
        heartbeat_ms BIGINT  NOT NULL,
        version      TEXT    NOT NULL
    );
    CREATE TABLE leases (
        name       TEXT    PRIMARY KEY,
        holder     TEXT    NOT NULL,
        token      BIGINT  NOT NULL,
        expires_ms BIGINT  NOT NULL
    );
    ALTER TABLE notifications ADD COLUMN claimed_by TEXT, ADD COLUMN claim_until_ms BIGINT;
    CREATE TABLE alert_inbox (
        id    BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at_ms BIGINT  NOT NULL,
        kind  TEXT    NOT NULL,
        body  TEXT    NOT NULL
    );
    CREATE TABLE probe_state (
        probe    TEXT    PRIMARY KEY,
        state    TEXT    NOT NULL,
        since_ms BIGINT  NOT NULL,
        result   TEXT    NOT NULL
    );",
    // 5: shared state, and `assay_fence`: the first statement of a write
    // that must come from the current holder of a lease. It locks the
    // lease row for the transaction (so a new holder's takeover, and what
    // it reads after, wait for the write) and fails it otherwise.
    "CREATE TABLE channel_breakers (
        channel        TEXT    PRIMARY KEY,
        failures       BIGINT  NOT NULL,
        open_until_ms  BIGINT,
        cooldown_ms    BIGINT  NOT NULL,
        trial_until_ms BIGINT
    );
    CREATE TABLE live_settings (
        id         BIGINT  PRIMARY KEY,
        revision   BIGINT  NOT NULL,
        base       TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        changed_ms BIGINT  NOT NULL,
        change_id  TEXT    NOT NULL
    );
    CREATE FUNCTION assay_fence(lease TEXT, node TEXT, fence_token BIGINT) RETURNS BIGINT
    LANGUAGE plpgsql AS $fence$
    BEGIN
        PERFORM 1 FROM leases l
          WHERE l.name = lease AND l.holder = node AND l.token = fence_token FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'fenced off: % no longer holds lease % (token %)', node, lease, fence_token
              USING ERRCODE = 'P0001';
        END IF;
        RETURN fence_token;
    END
    $fence$",
    // 6: delivery attempts.
    "CREATE TABLE notification_attempts (
        id           BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        notification BIGINT  NOT NULL,
        attempt      BIGINT  NOT NULL,
        at_ms        BIGINT  NOT NULL,
        duration_ms  BIGINT,
        outcome      TEXT    NOT NULL,
        error        TEXT,
        node         TEXT
    );
    CREATE INDEX notification_attempts_of ON notification_attempts (notification, id);",
    // 7: probe results per hour and per day.
    "CREATE TABLE probe_uptime (
        probe       TEXT    NOT NULL,
        span_ms     BIGINT  NOT NULL,
        bucket_ms   BIGINT  NOT NULL,
        up          BIGINT  NOT NULL,
        total       BIGINT  NOT NULL,
        duration_us BIGINT  NOT NULL,
        PRIMARY KEY (probe, span_ms, bucket_ms)
    );
    CREATE INDEX probe_uptime_bucket ON probe_uptime (span_ms, bucket_ms);",
];

/// Refuses a database a newer assay has migrated past what this one knows.
pub(super) fn check_version(found: usize, known: usize) -> Result<(), StoreError> {
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    Ok(())
}

/// Brings `conn` to the newest schema, in one transaction per migration.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_version(current, SQLITE.len())?;
    for (i, sql) in SQLITE.iter().enumerate().skip(current) {
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
        assert_eq!(v, SQLITE.len());
        assert_eq!(POSTGRES.len(), SQLITE.len());
        c.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrate(&mut c),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
