//! The host-side alert semantics, end to end: dedupe, grouping, repeat,
//! acknowledgement, cooldown, silences, inhibition, rate limits and escalation.
//!
//! These check the wiring (API → router → engine → outbox → receiver) and
//! what the API shows. What must *not* happen, and when exactly things
//! happen, is unit-tested on a fake clock (`host/src/alerts/engine/tests.rs`),
//! so nothing here sleeps to prove an absence.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Env, shipped};
use crate::receivers::{Mode, Receiver};
use crate::server::{FAST_ALERTING, Server, code, eventually, json};

fn names(n: &Value) -> Vec<String> {
    let mut v: Vec<String> = n["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["labels"]["host"].as_str().unwrap_or("-"),
                a["status"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

fn view<'a>(alerts: &'a [Value], fp: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| a["alert"]["fingerprint"] == fp)
        .unwrap_or_else(|| panic!("{fp} is not active: {alerts:?}"))
}

#[test]
fn dedupe_grouping_repeat_ack_and_cooldown() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}repeat_interval = \"1s\"\nresolve_cooldown = \"3s\"\n{}",
        r.channel("hook", "")
    );
    let server = Server::with_config(&env, &config);
    // Two alerts sharing `alertname` (the default group_by): one notification.
    let acc = server.post_alerts(json!([
        {"name": "CertExpiring", "severity": "warning", "labels": {"host": "a"}},
        {"name": "CertExpiring", "severity": "warning", "labels": {"host": "b"}},
    ]));
    let (fa, fb) = (
        acc[0]["fingerprint"].as_str().unwrap().to_owned(),
        acc[1]["fingerprint"].as_str().unwrap().to_owned(),
    );
    assert_ne!(fa, fb);
    // The same alert again is the same alert.
    let again = server.post_alerts(json!([
        {"name": "CertExpiring", "severity": "warning", "labels": {"host": "a"}, "summary": "refreshed text"}
    ]));
    assert_eq!(again[0]["outcome"], "deduplicated");
    assert_eq!(again[0]["fingerprint"], fa.as_str());
    let first = r.wait_delivered("/hook", 1, 20)[0].json();
    assert_eq!(names(&first), ["a:firing", "b:firing"]);
    assert_eq!(first["group_labels"], json!({"alertname": "CertExpiring"}));

    // While firing and unacknowledged, the group repeats every repeat_interval.
    let repeats = r.wait_delivered("/hook", 2, 20);
    let second = repeats[1].json();
    assert_eq!(names(&second), ["a:firing", "b:firing"]);
    assert_ne!(second["idempotency_key"], first["idempotency_key"]);
    let gap = repeats[1].at - repeats[0].at;
    assert!(gap >= Duration::from_millis(900), "repeated after {gap:?}");

    // Acknowledged alerts are not repeated.
    for fp in [&fa, &fb] {
        let (status, v) = json(
            server
                .post(&format!("/v1/alerts/{fp}/ack"))
                .json(&json!({"comment": "on it"}))
                .send()
                .unwrap(),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["alert"]["state"], "acknowledged");
        assert_eq!(v["alert"]["acknowledged"]["comment"], "on it");
    }
    let (status, v) = json(server.post("/v1/alerts/0000/ack").send().unwrap());
    assert_eq!((status, code(&v)), (404, "unknown_alert"));

    // Resolving one tells the channel (after group_interval).
    server.post_alerts(json!([
        {"name": "CertExpiring", "severity": "warning", "labels": {"host": "a"}, "status": "resolved"}
    ]));
    let (told, resolution) = eventually(20, "the resolution", || {
        let all = r.delivered("/hook");
        (all.iter().enumerate())
            .map(|(i, x)| (i, x.json()))
            .find(|(_, n)| names(n) == ["a:resolved", "b:firing"])
    });
    assert_eq!(resolution["status"], "firing", "b still fires");

    // Cooldown: firing again within resolve_cooldown is held, then sent.
    let refire = server.post_alerts(json!([
        {"name": "CertExpiring", "severity": "warning", "labels": {"host": "a"}}
    ]));
    assert_eq!(refire[0]["outcome"], "held");
    assert_eq!(view(&server.alerts(), &fa)["state"], "held");
    // Once the cooldown ends, the channel hears that a fires again.
    let refired = eventually(20, "a firing again after its cooldown", || {
        (r.delivered("/hook").iter().skip(told + 1))
            .map(|x| x.json())
            .find(|n| names(n) == ["a:firing", "b:firing"])
    });
    assert_eq!(refired["status"], "firing");

    // The history tells the story of `a`, newest first (repeats of a firing
    // alert refresh it without a row each).
    let (status, h) = json(
        server
            .get(&format!("/v1/alerts/history?fingerprint={fa}"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    let details: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details, ["held", "resolved", "acknowledged", "new"], "{h}");
}

#[test]
fn default_routing_honours_min_severity() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}{}{}",
        r.channel("all", ""),
        r.channel("pager", "min_severity = \"critical\"")
    );
    let server = Server::with_config(&env, &config);
    server.post_alerts(json!([
        {"name": "Low", "severity": "info"},
        {"name": "High", "severity": "critical"},
    ]));
    assert_eq!(r.wait_delivered("/all", 2, 20).len(), 2);
    let pager = r.wait_delivered("/pager", 1, 20);
    assert_eq!(pager[0].json()["alerts"][0]["name"], "High");
    // The routing each alert got, as the API shows it: Low never goes to the pager.
    let alerts = server.alerts();
    let channels = |name: &str| -> Vec<String> {
        let a = (alerts.iter())
            .find(|a| a["alert"]["name"] == name)
            .unwrap();
        (a["routing"]["deliver"].as_array().unwrap().iter())
            .map(|r| r["channel"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(channels("Low"), ["all"]);
    assert_eq!(channels("High"), ["all", "pager"]);
}

#[test]
fn silences_and_inhibition_mute_and_release() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        r#"{FAST_ALERTING}{}
[[inhibit_rule]]
source_matchers = ['alertname="HostDown"']
target_matchers = ['severity=~"warning|error"']
equal = ["host"]
"#,
        r.channel("hook", "")
    );
    let server = Server::with_config(&env, &config);
    // A silence for host a.
    let (status, v) = json(
        server
            .post("/v1/silences")
            .json(&json!({"matchers": ["host=\"a\""], "comment": "maintenance", "duration": "1h"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{v}");
    let silence = v["silence"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["silence"]["state"], "active");
    assert_eq!(v["silence"]["created_by"], "anonymous");
    let (status, v) = json(
        server
            .post("/v1/silences")
            .json(&json!({"matchers": ["host"], "comment": "x", "duration": "1h"}))
            .send()
            .unwrap(),
    );
    assert_eq!((status, code(&v)), (400, "bad_silence"), "{v}");
    let (_, v) = json(server.get("/v1/silences").send().unwrap());
    assert_eq!(v["silences"][0]["matchers"], json!(["host=\"a\""]));

    let acc = server.post_alerts(json!([
        {"name": "DiskFull", "severity": "warning", "labels": {"host": "a"}},
        {"name": "HostDown", "severity": "critical", "labels": {"host": "b"}},
        {"name": "DiskFull", "severity": "warning", "labels": {"host": "b"}},
    ]));
    let (disk_a, disk_b) = (
        acc[0]["fingerprint"].as_str().unwrap(),
        acc[2]["fingerprint"].as_str().unwrap(),
    );
    // HostDown goes out; the disk alerts are silenced and inhibited.
    let down = r.wait_delivered("/hook", 1, 20)[0].json();
    assert_eq!(down["alerts"][0]["name"], "HostDown");
    let alerts = server.alerts();
    assert_eq!(view(&alerts, disk_a)["state"], "silenced");
    assert_eq!(view(&alerts, disk_a)["silenced_by"], json!([silence]));
    assert_eq!(view(&alerts, disk_b)["state"], "inhibited");

    // Expiring the silence releases host a's alert (b's is still inhibited).
    let resp = server
        .delete(&format!("/v1/silences/{silence}"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = server
        .delete(&format!("/v1/silences/{silence}"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404, "already expired");
    let disk = eventually(20, "host a's disk alert, released", || {
        (r.delivered("/hook").iter())
            .map(|x| x.json())
            .find(|n| n["alerts"][0]["name"] == "DiskFull")
    });
    assert_eq!(names(&disk), ["a:firing"], "b's is still inhibited");

    // HostDown resolving ends the inhibition.
    server.post_alerts(json!([
        {"name": "HostDown", "severity": "critical", "labels": {"host": "b"}, "status": "resolved"}
    ]));
    let got = eventually(20, "host b's disk alert", || {
        r.delivered("/hook")
            .iter()
            .map(|x| x.json())
            .find(|n| n["alerts"][0]["name"] == "DiskFull" && names(n) == ["a:firing", "b:firing"])
    });
    assert_eq!(got["status"], "firing");
}

#[test]
fn rate_limits_count_and_summarise() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}rate_window = \"2s\"\n{}",
        r.channel("hook", "max_per_hour = 2")
    );
    let server = Server::with_config(&env, &config);
    let five: Vec<Value> = (1..=5)
        .map(|i| json!({"name": format!("Burst{i}"), "severity": "warning"}))
        .collect();
    server.post_alerts(Value::Array(five));
    // The five flush in one tick: two go, three are counted.
    r.wait_delivered("/hook", 2, 20);
    let metrics = server.get("/metrics").send().unwrap().text().unwrap();
    assert!(
        metrics.contains(r#"assay_notifications_total{channel="hook",outcome="rate_limited"} 3"#),
        "{metrics}"
    );
    // Once the window has room, a summary says what was held back.
    let summary = eventually(20, "the rate-limit summary", || {
        r.delivered("/hook")
            .iter()
            .map(|x| x.json())
            .find(|n| n["kind"] == "rate_limit_summary")
    });
    assert!(
        summary["title"]
            .as_str()
            .unwrap()
            .contains("3 notification(s)"),
        "{summary}"
    );
}

#[test]
fn unacknowledged_critical_alerts_escalate() {
    let env = Env::new();
    env.plugin(&shipped("severity-routes"), "severity-routes", None);
    let r = Receiver::start();
    let config = format!(
        r#"{FAST_ALERTING}escalate_after = "1s"
escalation_channels = ["boss"]
{}{}
[[router]]
plugin = "severity-routes"
[router.config]
default = ["team"]
"#,
        r.channel("team", ""),
        r.channel("boss", "")
    );
    let server = Server::with_config(&env, &config);
    let posted = std::time::Instant::now();
    let acc = server.post_alerts(json!([
        {"name": "PaymentsDown", "severity": "critical"},
        {"name": "LoginDown", "severity": "critical"},
        {"name": "SlowPage", "severity": "warning"},
    ]));
    let (payments, login) = (
        acc[0]["fingerprint"].as_str().unwrap().to_owned(),
        acc[1]["fingerprint"].as_str().unwrap(),
    );
    let (status, _) = json(
        server
            .post(&format!("/v1/alerts/{login}/ack"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    let boss = r.wait_delivered("/boss", 1, 20);
    let n = boss[0].json();
    assert_eq!(n["kind"], "escalation");
    assert_eq!(n["alerts"][0]["name"], "PaymentsDown");
    let waited = boss[0].at - posted;
    assert!(
        waited >= Duration::from_millis(900),
        "escalated after {waited:?}, before escalate_after"
    );
    let alerts = server.alerts();
    assert_eq!(view(&alerts, &payments)["escalated"], true);
    assert_eq!(view(&alerts, login)["escalated"], false);
    assert_eq!(view(&alerts, login)["state"], "acknowledged");
    assert_eq!(r.wait_delivered("/team", 3, 20).len(), 3);
    assert_eq!(r.delivered("/boss").len(), 1, "only PaymentsDown escalated");
}

/// A `[[alert_rule]]` on `cache_hit_rate` fires from the cache's own
/// numbers, with nothing ever scraping `/metrics` (it used to read counters
/// that only a scrape brought up to date, and so never fired).
#[test]
fn a_cache_hit_rate_rule_fires_without_any_metrics_scrape() {
    let env = Env::new();
    env.plugin(&shipped("hash-chain"), "hash-chain", None);
    let config = format!(
        "{FAST_ALERTING}rule_interval = \"100ms\"\n\
         [[alert_rule]]\nname = \"CacheHitRateLow\"\nmetric = \"cache_hit_rate\"\n\
         below = 0.5\nwindow = \"30s\"\nmin_events = 10\n"
    );
    let server = Server::with_config(&env, &config);
    // Twenty different subjects: twenty misses, no hit.
    for i in 0..20 {
        let (status, v) = server.validate("?plugin=hash-chain", format!("{{\"n\": {i}}}"));
        assert_eq!(status, 200, "{v}");
    }
    let alert = eventually(20, "CacheHitRateLow to fire", || {
        server
            .alerts()
            .into_iter()
            .find(|a| a["alert"]["name"] == "CacheHitRateLow")
    });
    assert_eq!(alert["alert"]["status"], "firing", "{alert}");
    assert_eq!(alert["alert"]["source"], "rule:CacheHitRateLow", "{alert}");
}

/// `GET /v1/alerts/{fp}/trail` for an alert that was routed, silenced, then
/// resolved: its source and every change, how each router decided, the
/// silence that muted it, and each notification with every delivery attempt.
#[test]
fn the_trail_says_why_an_alert_was_and_was_not_paged() {
    let env = Env::new();
    env.plugin(&shipped("severity-routes"), "severity-routes", None);
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}backoff_base = \"200ms\"\n{}\n[[router]]\nplugin = \"severity-routes\"\n[router.config]\n[[router.config.rules]]\nmin_severity = \"error\"\nchannels = [\"hook\", \"gone\"]\n",
        r.channel("hook", ""),
    );
    let s = Server::with_config(&env, &config);
    // The first attempt fails; the retry is delivered.
    r.set_mode(Mode::Fail(503));
    let alert = json!([{"name": "Traced", "severity": "error", "summary": "traced", "labels": {"host": "t1"}}]);
    let fp = s.post_alerts(alert.clone())[0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(20, "a failed attempt", || {
        (!r.all().is_empty()).then_some(())
    });
    r.set_mode(Mode::Accept);
    r.wait_delivered("/hook", 1, 20);
    let (status, v) = json(
        s.post("/v1/silences")
            .json(&json!({"matchers": ["host=\"t1\""], "comment": "maintenance of t1", "duration": "1h"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{v}");
    let trail = eventually(10, "the alert silenced", || {
        let (_, t) = json(s.get(&format!("/v1/alerts/{fp}/trail")).send().unwrap());
        (t["now"]["state"] == "silenced").then_some(t)
    });
    assert_eq!(
        trail["now"]["silenced_by"][0]["comment"], "maintenance of t1",
        "{trail}"
    );
    assert_eq!(
        trail["now"]["routing"]["deliver"][0]["channel"], "hook",
        "{trail}"
    );
    assert_eq!(trail["now"]["told"]["hook"], "firing", "{trail}");
    let first = &trail["notifications"][0];
    assert_eq!(
        (first["channel"].as_str(), first["status"].as_str()),
        (Some("hook"), Some("delivered")),
        "{trail}"
    );
    assert_eq!(first["attempts"], 2, "{trail}");
    let log = first["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{trail}");
    assert_eq!(
        (log[0]["attempt"].as_i64(), log[0]["outcome"].as_str()),
        (Some(1), Some("failed"))
    );
    assert!(log[0]["error"].as_str().unwrap().contains("503"), "{trail}");
    assert_eq!(
        (log[1]["attempt"].as_i64(), log[1]["outcome"].as_str()),
        (Some(2), Some("delivered"))
    );
    assert!(log[1]["duration_ms"].is_i64(), "{trail}");
    assert!(
        trail["history"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("api:"),
        "{trail}"
    );
    // How the chain decided: the router's choice, and the host's drop of a
    // channel that does not exist.
    assert_eq!(
        trail["history"][0]["detail"],
        "new; routing: severity-routes: deliver to hook, gone; ends the chain; host: dropped gone: no such [[channel]]",
        "{trail}"
    );

    let mut resolved = alert.clone();
    resolved[0]["status"] = "resolved".into();
    s.post_alerts(resolved);
    let trail = eventually(10, "the resolution in the trail", || {
        let (_, t) = json(s.get(&format!("/v1/alerts/{fp}/trail")).send().unwrap());
        t["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["detail"] == "resolved")
            .then_some(t)
    });
    let details: Vec<&str> = trail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["detail"].as_str().unwrap())
        .collect();
    assert!(details[0].starts_with("new; routing: "), "{details:?}");
    let (status, _) = json(s.get("/v1/alerts/0000000000000000/trail").send().unwrap());
    assert_eq!(status, 404);
}
