//! Durable delivery: retries with backoff, dead letters (and the alert about
//! them), the admin retry, timeouts and the circuit breaker, kill -9 with
//! notifications pending, SIGTERM during alert traffic; and the host's own
//! alert sources (probes, monitors).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Env, shipped};
use crate::receivers::{Mode, Receiver};
use crate::server::{FAST_ALERTING, Server, Start, eventually, json};
use crate::targets::HttpTarget;

const ADMIN: &str = "admin-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

#[test]
fn retries_back_off_then_dead_letter_and_an_admin_retries() {
    let env = Env::new();
    let flaky = Receiver::start();
    let ops = Receiver::start();
    let config = format!(
        r#"{FAST_ALERTING}max_attempts = 3
backoff_base = "300ms"
backoff_max = "600ms"

[[auth.tokens]]
name = "ops"
token = "{ADMIN}"
role = "admin"

[[auth.tokens]]
name = "ci"
token = "{OPERATOR}"
role = "operator"

{}{}"#,
        flaky.channel("flaky", ""),
        ops.channel("ops", "")
    );
    let server = Server::with_config(&env, &config);
    let as_admin = |b: reqwest::blocking::RequestBuilder| b.bearer_auth(ADMIN);
    flaky.set_mode(Mode::Fail(503));
    let (status, v) = json(
        as_admin(server.post("/v1/alerts"))
            .json(&json!({"alerts": [{"name": "Unreachable", "severity": "error"}]}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 202, "{v}");

    // Three attempts, each later than the last by the backoff (50–100 % of
    // base·2^(n-1), capped), then dead.
    let dead = eventually(30, "the notification dead-lettered", || {
        let (_, v) = json(
            as_admin(server.get("/v1/notifications?status=dead"))
                .send()
                .unwrap(),
        );
        v["notifications"].as_array()?.first().cloned()
    });
    let key = dead["idempotency_key"].as_str().unwrap();
    // (The dead-letter alert's own notification goes to this channel too: count ours.)
    let attempts: Vec<_> = flaky
        .all()
        .into_iter()
        .filter(|a| a.header("idempotency-key") == Some(key))
        .collect();
    assert_eq!(attempts.len(), 3, "max_attempts");
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] >= Duration::from_millis(140),
        "first retry after {gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(290),
        "second retry after {gaps:?}"
    );
    assert_eq!(dead["attempts"], 3);
    assert!(
        dead["last_error"].as_str().unwrap().contains("503"),
        "{dead}"
    );

    // The dead letter raised an alert, delivered where it could be.
    let note = ops
        .wait_delivered("/ops", 2, 30)
        .into_iter()
        .map(|r| r.json())
        .find(|n| n["alerts"][0]["name"] == "NotificationDeadLettered")
        .expect("a NotificationDeadLettered notification");
    assert_eq!(note["alerts"][0]["labels"]["channel"], "flaky");

    // Retrying is for admins; once the receiver is back, it is delivered
    // with the key it always had.
    let id = dead["id"].as_i64().unwrap();
    let path = format!("/v1/notifications/{id}/retry");
    let resp = server.post(&path).bearer_auth(OPERATOR).send().unwrap();
    assert_eq!(resp.status(), 403);
    flaky.set_mode(Mode::Accept);
    let (status, v) = json(as_admin(server.post(&path)).send().unwrap());
    assert_eq!(status, 200, "{v}");
    eventually(
        20,
        "the retried notification delivered with its key",
        || {
            flaky
                .delivered("/flaky")
                .into_iter()
                .find(|r| r.header("idempotency-key") == Some(key))
        },
    );
    let (status, v) = json(
        as_admin(server.post("/v1/notifications/999999/retry"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 404, "{v}");
    // The channel delivers again: the dead-letter alert resolves.
    eventually(30, "the dead-letter alert resolved", || {
        ops.delivered("/ops").iter().map(|r| r.json()).find(|n| {
            n["alerts"][0]["name"] == "NotificationDeadLettered" && n["status"] == "resolved"
        })
    });
}

#[test]
fn a_hanging_receiver_times_out_and_its_circuit_opens() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        r#"{FAST_ALERTING}breaker_failures = 2
breaker_cooldown = "1500ms"
{}"#,
        r.channel("slow", "timeout = \"300ms\"\nconcurrency = 1")
    );
    let server = Server::with_config(&env, &config);
    r.set_mode(Mode::Hang);
    let six: Vec<Value> = (1..=6)
        .map(|i| json!({"name": format!("Hang{i}"), "severity": "warning"}))
        .collect();
    server.post_alerts(Value::Array(six));
    // Two timeouts open the circuit: the channel is left alone for the cooldown.
    eventually(20, "two attempts", || (r.all().len() >= 2).then_some(()));
    let metrics = eventually(10, "the circuit open", || {
        let m = server.get("/metrics").send().unwrap().text().unwrap();
        m.contains(r#"assay_channel_circuit_open{channel="slow"} 1"#)
            .then_some(m)
    });
    assert!(
        metrics.contains(r#"assay_outbox_depth{channel="slow"} 6"#),
        "{metrics}"
    );
    let during = r.all().len();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        r.all().len(),
        during,
        "no attempts while the circuit is open"
    );
    let pending = server.notifications("?status=pending");
    assert_eq!(pending.len(), 6);
    assert!(
        pending
            .iter()
            .filter_map(|n| n["last_error"].as_str())
            .any(|e| e.contains("timed out")),
        "{pending:?}"
    );
    // After the cooldown one trial goes; it succeeds and the rest follow.
    r.set_mode(Mode::Accept);
    let got = r.wait_delivered("/slow", 6, 30);
    let names: BTreeSet<String> = got
        .iter()
        .map(|x| x.json()["alerts"][0]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 6);
    eventually(10, "the circuit closed", || {
        let m = server.get("/metrics").send().unwrap().text().unwrap();
        m.contains(r#"assay_channel_circuit_open{channel="slow"} 0"#)
            .then_some(())
    });
}

/// SIGTERM while clients post alerts: the service stops cleanly (every
/// task joined before the store closes, nothing in the log about writes
/// that failed), and every alert it accepted is there after a restart and
/// reaches the receiver.
#[test]
fn sigterm_during_alert_traffic_joins_every_task_and_loses_nothing() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!("{FAST_ALERTING}{}", r.channel("hook", ""));
    let mut server = Server::with_config(&env, &config);
    let accepted: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (url, accepted, stop) = (server.url("/v1/alerts"), accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                for batch in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let alerts: Vec<Value> = (0..5)
                        .map(|i| json!({"name": format!("Traffic{c}x{batch}x{i}"), "severity": "warning"}))
                        .collect();
                    let posted = http.post(&url).json(&json!({ "alerts": alerts })).send();
                    // Refused or cut once the server stops: what was not answered 202 was not accepted.
                    let Ok(resp) = posted else { return };
                    if resp.status().as_u16() != 202 {
                        return;
                    }
                    let Ok(v) = resp.json::<Value>() else { return };
                    let mut acc = accepted.lock().unwrap();
                    for (a, sent) in v["accepted"].as_array().unwrap().iter().zip(&alerts) {
                        acc.insert(
                            a["fingerprint"].as_str().unwrap().to_owned(),
                            sent["name"].as_str().unwrap().to_owned(),
                        );
                    }
                }
            })
        })
        .collect();
    // Traffic flowing, and notifications going out.
    r.wait_delivered("/hook", 3, 30);
    assert_eq!(server.signal_and_wait("TERM"), 0, "{}", server.log());
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let log = server.log();
    assert!(
        log.contains("SIGTERM: stopping") && log.contains("stopped"),
        "{log}"
    );
    for bad in [
        "the store is closed",
        "did not stop within",
        "still running at shutdown",
        "raising an alert failed",
        "writing notifications to the outbox failed",
        "recording the outcome",
    ] {
        assert!(!log.contains(bad), "{bad:?} in the log:\n{log}");
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= 15,
        "too little traffic: {}",
        accepted.len()
    );

    // Every accepted alert is active after a restart...
    let server = Server::with_config(&env, &config);
    let active: BTreeSet<String> = (server.alerts().iter())
        .map(|a| a["alert"]["fingerprint"].as_str().unwrap().to_owned())
        .collect();
    let missing: Vec<&String> = accepted.keys().filter(|fp| !active.contains(*fp)).collect();
    assert!(missing.is_empty(), "accepted, then lost: {missing:?}");
    // ... and reaches the receiver (before the stop, or from the restored state).
    eventually(60, "every accepted alert delivered", || {
        let told: BTreeSet<String> = (r.delivered("/hook").iter())
            .flat_map(|x| {
                let n = x.json();
                (n["alerts"].as_array().unwrap().iter())
                    .map(|a| a["name"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        accepted
            .values()
            .all(|name| told.contains(name))
            .then_some(())
    });
}

/// kill -9 with notifications pending while the receiver is down, and again
/// right after alerts were accepted; restart; receiver back: everything
/// arrives, each notification with the key it was stored with.
#[test]
fn kill_9_with_notifications_pending_loses_nothing() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}backoff_base = \"100ms\"\nbackoff_max = \"400ms\"\nbreaker_cooldown = \"500ms\"\n{}",
        r.channel("hook", "")
    );
    let start = || Server::with_config(&env, &config);
    let (addr, log) = r.stop();
    let mut server = start();
    let batch: Vec<Value> = (1..=20)
        .map(|i| json!({"name": format!("Pending{i}"), "severity": "warning"}))
        .collect();
    server.post_alerts(Value::Array(batch));
    // All 20 in the outbox, failing against the closed port.
    let pending = eventually(30, "20 pending notifications, attempted", || {
        let p = server.notifications("?status=pending");
        (p.len() == 20 && p.iter().any(|n| n["attempts"].as_i64() >= Some(1))).then_some(p)
    });
    let stored: BTreeMap<String, String> = pending
        .iter()
        .map(|n| {
            (
                n["idempotency_key"].as_str().unwrap().to_owned(),
                n["notification"]["alerts"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    server.crash();

    // Again, this time killed right after the POST was answered (before
    // group_wait has passed: no notification exists yet, only the alerts).
    server = start();
    let batch: Vec<Value> = (1..=5)
        .map(|i| json!({"name": format!("JustAccepted{i}"), "severity": "warning"}))
        .collect();
    server.post_alerts(Value::Array(batch));
    server.crash();

    let r = Receiver::restart(addr, log);
    server = start();
    let got = eventually(60, "all 25 alerts delivered", || {
        let got = r.delivered("/hook");
        let names: BTreeSet<String> = got
            .iter()
            .map(|x| x.json()["alerts"][0]["name"].as_str().unwrap().to_owned())
            .collect();
        (names.len() == 25).then_some(got)
    });
    let mut arrived: BTreeMap<String, String> = BTreeMap::new();
    for x in &got {
        let n = x.json();
        let key = x.header("idempotency-key").unwrap().to_owned();
        assert_eq!(n["idempotency_key"], key.as_str());
        arrived.insert(key, n["alerts"][0]["name"].as_str().unwrap().to_owned());
    }
    // Every stored notification arrived under its original key.
    for (key, name) in &stored {
        assert_eq!(
            arrived.get(key),
            Some(name),
            "{name} ({key}) did not arrive"
        );
    }
    let names: BTreeSet<&String> = arrived.values().collect();
    for i in 1..=5 {
        assert!(names.contains(&format!("JustAccepted{i}")), "{names:?}");
    }
    eventually(20, "an empty outbox", || {
        server
            .notifications("?status=pending")
            .is_empty()
            .then_some(())
    });
}

#[test]
fn probes_and_monitors_raise_and_resolve_alerts() {
    let env = Env::new();
    env.plugin(&shipped("http"), "http", None).plugin(
        &shipped("required-fields"),
        "required-fields",
        Some("[config]\nfields = [{ pointer = \"/id\", type = \"string\" }]\n"),
    );
    let r = Receiver::start();
    let target = HttpTarget::start();
    target.set_status(500);
    let data = env.work_dir().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.json"), r#"{"name": "no id"}"#).unwrap();
    let config = format!(
        r#"{FAST_ALERTING}
{}
[[probe]]
name = "api"
plugin = "http"
interval = "200ms"
critical = true
allow_http = ["{addr}"]
config = '{{"url": "{url}"}}'

[[monitor]]
name = "records"
path = {data:?}
glob = "*.json"
interval_secs = 3600
"#,
        r.channel("hook", ""),
        addr = target.addr,
        url = target.url("/"),
    );
    // The failing critical probe keeps /ready at 503: do not wait for it.
    let server = Server::start(
        &env,
        Start {
            config: &config,
            wait_ready: false,
            ..Start::default()
        },
    );
    let firing = |name: &'static str| {
        eventually(30, name, || {
            r.delivered("/hook")
                .iter()
                .map(|x| x.json())
                .find(|n| n["alerts"][0]["name"] == name && n["status"] == "firing")
        })
    };
    let probe = firing("ProbeFailing");
    let a = &probe["alerts"][0];
    assert_eq!(a["severity"], "critical", "a critical probe");
    assert_eq!(a["labels"]["probe"], "api");
    assert_eq!(a["source"], "probe:api");
    let validation = firing("ValidationFailing");
    let a = &validation["alerts"][0];
    assert_eq!(a["severity"], "error");
    assert_eq!(a["labels"]["monitor"], "records");
    assert!(
        a["annotations"]["report_id"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );

    // Both recover: both resolve.
    target.set_status(200);
    std::fs::write(data.join(".a.tmp"), r#"{"id": "a"}"#).unwrap();
    std::fs::rename(data.join(".a.tmp"), data.join("a.json")).unwrap();
    for name in ["ProbeFailing", "ValidationFailing"] {
        eventually(30, name, || {
            r.delivered("/hook")
                .iter()
                .map(|x| x.json())
                .find(|n| n["alerts"][0]["name"] == name && n["status"] == "resolved")
        });
    }
    eventually(20, "no active alerts", || {
        server.alerts().is_empty().then_some(())
    });
}
