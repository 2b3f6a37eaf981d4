//! Routing through the shipped router plugins, chained: `severity-routes`
//! (severity, label matchers with regex and negation, `continue`, per-rule
//! repeat interval, suppression) then `business-hours`.

use std::collections::BTreeSet;

use serde_json::json;

use crate::common::{Env, shipped};
use crate::receivers::Receiver;
use crate::server::{FAST_ALERTING, Server, eventually};

fn channels(names: &[&str], r: &Receiver) -> String {
    names.iter().map(|n| r.channel(n, "")).collect()
}

/// Today's date in UTC, `YYYY-MM-DD` (civil-from-days, Howard Hinnant's algorithm).
fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn routed(server: &Server, name: &str) -> serde_json::Value {
    server
        .alerts()
        .into_iter()
        .find(|a| a["alert"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not active"))
}

#[test]
fn severity_routes_then_business_hours_with_continue() {
    let env = Env::new();
    env.plugin(&shipped("severity-routes"), "severity-routes", None)
        .plugin(&shipped("business-hours"), "business-hours", None);
    let r = Receiver::start();
    let config = format!(
        r#"{FAST_ALERTING}
{channels}
[[router]]
plugin = "severity-routes"
[router.config]
[[router.config.rules]]
matchers = ['alertname="ProbeFlapping"']
suppress = "flapping goes to the dashboard"
[[router.config.rules]]
min_severity = "critical"
channels = ["pager"]
continue = true
repeat_interval = "1h"
title = "PAGE {{alertname}} on {{labels.host}}"
[[router.config.rules]]
matchers = ['team="db"', 'env!~"dev|test"']
channels = ["db"]

[[router]]
plugin = "business-hours"
[router.config]
timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "23:59:59"
daytime = ["chat"]
on_call = ["oncall"]
"#,
        channels = channels(&["pager", "db", "chat", "oncall"], &r),
    );
    let server = Server::with_config(&env, &config);
    server.post_alerts(json!([
        {"name": "HostDown", "severity": "critical", "labels": {"host": "h1"}},
        {"name": "SlowQueries", "severity": "warning", "labels": {"team": "db", "env": "prod"}},
        {"name": "DevDbSlow", "severity": "warning", "labels": {"team": "db", "env": "dev"}},
        {"name": "ProbeFlapping", "severity": "warning", "labels": {"probe": "api"}},
    ]));

    // Critical: the pager rule matched with `continue`, so business-hours
    // decided as well, and sends critical alerts to both of its channels.
    let host_down = routed(&server, "HostDown");
    let targets: BTreeSet<&str> = host_down["routing"]["deliver"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(targets, BTreeSet::from(["pager", "chat", "oncall"]));
    let routers: BTreeSet<&str> = host_down["routing"]["deliver"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["router"].as_str().unwrap())
        .collect();
    assert_eq!(
        routers,
        BTreeSet::from(["severity-routes", "business-hours"])
    );
    // The db rule (no `continue`) ends the chain; a dev db alert matches no
    // rule, so business-hours (in hours) sends it to the daytime channel.
    assert_eq!(
        routed(&server, "SlowQueries")["routing"]["deliver"],
        json!([{"channel": "db", "router": "severity-routes"}])
    );
    assert_eq!(
        routed(&server, "DevDbSlow")["routing"]["deliver"],
        json!([{"channel": "chat", "router": "business-hours"}])
    );
    let flapping = routed(&server, "ProbeFlapping");
    assert_eq!(flapping["state"], "suppressed");
    assert_eq!(
        flapping["routing"]["suppressed"],
        "severity-routes: flapping goes to the dashboard"
    );

    // And that is where the notifications went.
    let page = &r.wait_delivered("/pager", 1, 20)[0].json();
    assert_eq!(page["title"], "PAGE HostDown on h1");
    assert_eq!(page["alerts"][0]["name"], "HostDown");
    let db = r.wait_delivered("/db", 1, 20);
    assert_eq!(db[0].json()["alerts"][0]["name"], "SlowQueries");
    let chat = r.wait_delivered("/chat", 2, 20);
    let chat_alerts: BTreeSet<String> = chat
        .iter()
        .map(|c| c.json()["alerts"][0]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        chat_alerts,
        BTreeSet::from(["HostDown".to_owned(), "DevDbSlow".to_owned()])
    );
    let oncall = r.wait_delivered("/oncall", 1, 20);
    assert_eq!(oncall[0].json()["alerts"][0]["name"], "HostDown");
    // All four alerts reached the engine in one turn, so their groups
    // flushed in one tick: the outbox holds every notification there is.
    let queued = server.notifications("");
    assert_eq!(queued.len(), 5, "nothing else was sent: {queued:?}");
    let all = r.all();
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(
        all.iter()
            .all(|x| !String::from_utf8_lossy(&x.body).contains("ProbeFlapping"))
    );
    let metrics = server.get("/metrics").send().unwrap().text().unwrap();
    assert!(
        metrics.contains(r#"assay_router_calls_total{outcome="ok",router="severity-routes"} 4"#),
        "{metrics}"
    );
}

#[test]
fn business_hours_out_of_hours_goes_on_call() {
    let env = Env::new();
    env.plugin(&shipped("business-hours"), "business-hours", None);
    let r = Receiver::start();
    // Today is a holiday: out of hours all day.
    let config = format!(
        r#"{FAST_ALERTING}
{channels}
[[router]]
plugin = "business-hours"
[router.config]
timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "23:59:59"
holidays = ["{today}"]
daytime = ["chat"]
on_call = ["oncall"]
critical_to_both = false
"#,
        channels = channels(&["chat", "oncall"], &r),
        today = today_utc(),
    );
    let server = Server::with_config(&env, &config);
    server.post_alerts(json!([{"name": "DiskFilling", "severity": "warning"}]));
    let got = r.wait_delivered("/oncall", 1, 20);
    assert_eq!(got[0].json()["alerts"][0]["name"], "DiskFilling");
    assert!(r.delivered("/chat").is_empty());
}

#[test]
fn a_failing_router_falls_back_to_the_default_routing() {
    let env = Env::new();
    env.plugin(&shipped("business-hours"), "business-hours", None);
    let r = Receiver::start();
    // start after end: the router refuses; the host routes by min_severity.
    let config = format!(
        r#"{FAST_ALERTING}
{channels}
[[channel]]
name = "pager"
type = "webhook"
url = "{pager}"
min_severity = "critical"

[[router]]
plugin = "business-hours"
[router.config]
timezone = "UTC"
start = "18:00"
end = "09:00"
daytime = ["chat"]
on_call = ["pager"]
"#,
        channels = channels(&["chat"], &r),
        pager = r.url("/pager"),
    );
    let server = Server::with_config(&env, &config);
    server.post_alerts(json!([{"name": "Minor", "severity": "warning"}]));
    r.wait_delivered("/chat", 1, 20);
    let v = eventually(10, "the router failure logged", || {
        server
            .log()
            .lines()
            .find(|l| l.contains("using the default routing") && l.contains("must be before end"))
            .map(str::to_owned)
    });
    assert!(v.contains("business-hours"), "{v}");
    // The default routing took over, and a warning is below the pager's min_severity.
    assert_eq!(
        routed(&server, "Minor")["routing"]["deliver"],
        json!([{"channel": "chat", "router": "default"}])
    );
    assert!(r.delivered("/pager").is_empty());
}
