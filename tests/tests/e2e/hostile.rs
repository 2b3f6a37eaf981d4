//! Hostile plugins side by side with healthy ones in one `assay serve`: each gets
//! an outcome that names the limit it hit, the healthy plugins answer as before,
//! and no request hangs.
//!
//! The hostile plugins are in `tests/plugins/` (misbehave's `loop`, `bomb`, `spam`
//! and `recurse` modes; `info-loop`, `info-panic`, `info-huge`; `hostile-router`;
//! misbehave-probe's `sockets` mode).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Env, plugin_run, test_plugin};
use crate::receivers::Receiver;
use crate::server::{FAST_ALERTING, Server, Start, code, eventually, json};
use crate::targets::SilentTarget;

/// Installs the healthy validator and every hostile validator beside it.
fn hostile_env() -> Env {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "healthy", None);
    for (name, mode, extra) in [
        ("looper", "loop", "timeout_ms = 1000\n"),
        ("bomb", "bomb", ""),
        ("spammer", "spam", ""),
        ("chatty", "spam", ""),
        ("recurser", "recurse", ""),
    ] {
        // `chatty` prints 5,000 short lines: within the byte capture, over the line budget.
        let n = if name == "chatty" { "n = 5000\n" } else { "" };
        env.plugin(
            &test_plugin("misbehave"),
            name,
            Some(&format!("{extra}[config]\nmode = \"{mode}\"\n{n}")),
        );
    }
    env.plugin(&test_plugin("info-huge"), "info-huge", None)
        .plugin(&test_plugin("info-panic"), "info-panic", None);
    env
}

/// The healthy validator's answer: 200, pass, its one run `ok`.
#[track_caller]
fn healthy_ok(server: &Server) -> Duration {
    let t = Instant::now();
    let (status, report) = server.validate("?plugin=healthy&name=h.json", "{}");
    let took = t.elapsed();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "pass", "{report}");
    assert_eq!(plugin_run(&report, "healthy")["outcome"], "ok", "{report}");
    took
}

fn plugin(server: &Server, name: &str) -> Value {
    let (status, v) = json(server.get(&format!("/v1/plugins/{name}")).send().unwrap());
    assert_eq!(status, 200, "{v}");
    v
}

fn metric(server: &Server, line_start: &str) -> Option<f64> {
    let text = server.get("/metrics").send().unwrap().text().unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_looping_validator_under_concurrent_load_is_refused_and_quarantined_while_the_healthy_one_answers()
 {
    let env = hostile_env();
    let server = Server::with_config(&env, "");
    let base_latency = healthy_ok(&server);

    // 50 clients call the looping validator at once, again and again, until
    // it is quarantined (or 15 s have passed).
    let url = server.url("/v1/validate?plugin=looper&name=l.json");
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let c = reqwest::blocking::Client::new();
                let until = Instant::now() + Duration::from_secs(15);
                let mut answers = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let resp = c.post(&url).body("{}").send().unwrap();
                    let retry = resp.headers().get("retry-after").is_some();
                    let (status, v) = json(resp);
                    let done = status == 200 && v.to_string().contains("\"quarantined\"");
                    answers.push((status, v, retry, t.elapsed()));
                    if done {
                        break;
                    }
                    // Not a hot spin: the other tests share these two cores.
                    std::thread::sleep(Duration::from_millis(50));
                }
                answers
            })
        })
        .collect();
    // Meanwhile the healthy validator answers as it did, without waiting behind them.
    let mut healthy = Vec::new();
    for _ in 0..20 {
        healthy.push(healthy_ok(&server));
        std::thread::sleep(Duration::from_millis(50));
    }
    let answers: Vec<_> = clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    healthy.sort();
    let worst = *healthy.last().unwrap();
    assert!(
        worst < Duration::from_secs(1),
        "the healthy validator waited behind the looping one: {healthy:?} (alone: {base_latency:?})"
    );

    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (status, v, retry, took) in &answers {
        // No request hangs: a looping call ends at its 1 s deadline, a refusal at once.
        assert!(*took < Duration::from_secs(10), "{took:?}: {v}");
        let key = if *status == 503 {
            assert_eq!(code(v), "plugin_busy", "{v}");
            assert!(*retry, "a 503 without Retry-After: {v}");
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("max_concurrency"),
                "{v}"
            );
            "busy".to_owned()
        } else {
            assert_eq!(*status, 200, "{v}");
            let run = plugin_run(v, "looper");
            assert!(run["queue_us"].is_u64(), "{run}");
            run["outcome"].as_str().unwrap().to_owned()
        };
        *outcomes.entry(key).or_default() += 1;
    }
    assert!(outcomes.get("busy").is_some_and(|n| *n > 0), "{outcomes:?}");
    assert!(
        outcomes.get("timeout").is_some_and(|n| *n >= 5),
        "{outcomes:?}"
    );
    assert!(outcomes.contains_key("quarantined"), "{outcomes:?}");

    // Five timeouts in a row quarantined it: refused at once, shown everywhere.
    let p = plugin(&server, "looper");
    assert_eq!(p["quarantine"]["state"], "quarantined", "{p}");
    assert!(
        p["quarantine"]["reason"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{p}"
    );
    let t = Instant::now();
    let (status, v) = server.validate("?plugin=looper&name=l.json", "{}");
    assert_eq!(status, 200, "{v}");
    assert_eq!(plugin_run(&v, "looper")["outcome"], "quarantined", "{v}");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    let (_, health) = json(server.get("/health").send().unwrap());
    assert_eq!(health["status"], "warn", "{health}");
    assert_eq!(health["checks"]["plugins:quarantined"][0]["status"], "warn");
    assert_eq!(
        metric(&server, "assay_plugin_quarantined{plugin=\"looper\"}"),
        Some(1.0)
    );
    assert!(
        metric(
            &server,
            "assay_plugin_rejected_total{plugin=\"looper\",reason=\"share\"}"
        )
        .is_some_and(|n| n > 0.0)
    );
    // Every refusal is timed: the count matches the refusals of every reason.
    assert!(
        metric(
            &server,
            "assay_plugin_refusal_seconds_count{plugin=\"looper\"}"
        )
        .is_some_and(|n| n > 0.0)
    );
    eventually(10, "the PluginQuarantined alert", || {
        server
            .alerts()
            .into_iter()
            .find(|a| a["alert"]["name"] == "PluginQuarantined")
    });

    // An admin lifts it; the plugin runs (and loops) again.
    let (status, v) = json(server.post("/v1/plugins/looper/release").send().unwrap());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["released"], true, "{v}");
    assert_eq!(plugin(&server, "looper")["quarantine"]["state"], "closed");
    assert_eq!(
        metric(&server, "assay_plugin_quarantined{plugin=\"looper\"}"),
        Some(0.0)
    );
    let (_, audit) = json(server.get("/v1/audit").send().unwrap());
    assert!(audit.to_string().contains("plugins.release"), "{audit}");
    healthy_ok(&server);
}

#[test]
fn a_findings_bomb_is_cut_to_its_quota_and_the_stored_report_to_its_cap() {
    let env = hostile_env();
    let server = Server::with_config(&env, "");
    let (status, report) = server.validate("?plugin=bomb&name=b.json", "{}");
    assert_eq!(status, 200, "{report}");
    assert_eq!(plugin_run(&report, "bomb")["outcome"], "ok");
    // The worst finding was among those dropped: the verdict still says so.
    assert_eq!(report["verdict"], "fail", "{report}");
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1001);
    let marker = &findings[1000];
    assert_eq!(marker["code"], "assay.findings_truncated", "{marker}");
    assert!(
        marker["message"]
            .as_str()
            .unwrap()
            .starts_with("249000 more finding(s) were dropped"),
        "{marker}"
    );
    assert_eq!(marker["severity"], "error");
    healthy_ok(&server);
    drop(server);

    // With a small report cap, what is stored (and answered) is cut to it.
    let server = Server::with_config(&env, "[storage]\nmax_report_bytes = 65536\n");
    let (status, report) = server.validate("?plugin=bomb&name=b.json", "{}");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "fail", "{report}");
    // The stored report is within storage.max_report_bytes.
    let id = report["id"].as_i64().unwrap();
    let stored = server
        .get(&format!("/v1/reports/{id}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(stored.len() <= 65536 + 512, "{} bytes", stored.len());
    assert!(stored.contains("assay.report_truncated"));
    healthy_ok(&server);
}

#[test]
fn a_huge_or_panicking_info_is_refused_at_load_naming_the_cause() {
    let env = hostile_env();
    let server = Server::with_config(&env, "");
    let list = server.get("/v1/plugins").send().unwrap().text().unwrap();
    assert!(
        list.len() < 64 << 10,
        "GET /v1/plugins is {} bytes",
        list.len()
    );
    let huge = plugin(&server, "info-huge");
    assert_eq!(huge["state"], "failed", "{huge}");
    let why = huge["last_error"]["message"].as_str().unwrap();
    assert!(why.contains("info().version"), "{why}");
    let panicking = plugin(&server, "info-panic");
    let why = panicking["last_error"]["message"].as_str().unwrap();
    assert!(why.contains("info-panic cannot describe itself"), "{why}");
    healthy_ok(&server);
}

#[test]
fn stdout_spam_is_bounded_by_the_output_budget() {
    let env = hostile_env();
    let server = Server::with_config(&env, "");
    // 250,000 lines: past the 64 KiB capture, the call fails naming the limit.
    let (_, report) = server.validate("?plugin=spammer&name=s.json", "{}");
    let run = plugin_run(&report, "spammer");
    assert_eq!(run["outcome"], "output_limit", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("max_output_bytes"),
        "{run}"
    );
    // 5,000 lines within the capture: at most 1,000 reach the log, then one line says so.
    let (_, report) = server.validate("?plugin=chatty&name=c.json", "{}");
    assert_eq!(plugin_run(&report, "chatty")["outcome"], "ok", "{report}");
    let summary = eventually(10, "the output budget line", || {
        server
            .log()
            .lines()
            .find(|l| l.contains("output budget") && l.contains("chatty"))
            .map(str::to_owned)
    });
    assert!(summary.contains("4000 line(s)"), "{summary}");
    let logged = server
        .log()
        .lines()
        .filter(|l| l.contains("chatty") && l.contains("stdout") && !l.contains("output budget"))
        .count();
    assert!(logged <= 1000, "{logged} stdout lines logged");
    healthy_ok(&server);
}

#[test]
fn deep_recursion_with_big_frames_is_a_stack_overflow_by_name() {
    let env = hostile_env();
    let server = Server::with_config(&env, "");
    let (_, report) = server.validate("?plugin=recurser&name=r.json", "{}");
    let run = plugin_run(&report, "recurser");
    assert_eq!(run["outcome"], "error", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("stack overflow"),
        "{run}"
    );
    healthy_ok(&server);
}

#[test]
fn a_looping_info_at_start_up_does_not_hold_up_the_healthy_plugins() {
    let env = hostile_env();
    env.plugin(&test_plugin("info-loop"), "info-loop", None);
    let started = Instant::now();
    let server = Server::start(
        &env,
        Start {
            wait_ready: false,
            ..Start::default()
        },
    );
    server.wait_ready();
    let ready = started.elapsed();
    healthy_ok(&server);
    // Before: info() had the full 5 s call timeout and plugins loaded one by one.
    assert!(ready < Duration::from_secs(5), "/ready after {ready:?}");
    let p = plugin(&server, "info-loop");
    assert_eq!(p["state"], "failed", "{p}");
    let why = p["last_error"]["message"].as_str().unwrap();
    assert!(why.contains("load deadline of 500 ms"), "{why}");
}

#[test]
fn a_router_asking_for_1_ms_repeats_is_held_to_the_group_interval() {
    let env = Env::new();
    env.plugin(&test_plugin("hostile-router"), "tiny-repeat", None);
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}\nrepeat_interval = \"1h\"\n{}\n[[router]]\nplugin = \"tiny-repeat\"\n[router.config]\nmode = \"tiny-repeat\"\nchannel = \"hook\"\n",
        r.channel("hook", "")
    );
    let server = Server::with_config(&env, &config);
    server.post_alerts(json!([{"name": "Repeating", "severity": "warning"}]));
    r.wait_delivered("/hook", 1, 20);
    std::thread::sleep(Duration::from_secs(2));
    // group_interval is 400 ms and the engine ticks every 25 ms: at most ~6
    // in 2.3 s, where 1 ms repeats on every tick would be ~90.
    let n = r.delivered("/hook").len();
    assert!((2..=8).contains(&n), "{n} notifications in ~2.3 s");
}

#[test]
fn a_router_sending_to_unknown_channels_is_cut_and_logged_once_per_channel() {
    let env = Env::new();
    env.plugin(&test_plugin("hostile-router"), "nowhere", None);
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}\n{}\n[[router]]\nplugin = \"nowhere\"\n[router.config]\nmode = \"unknown-channels\"\nn = 100000\n",
        r.channel("hook", "")
    );
    let server = Server::with_config(&env, &config);
    for i in 0..3 {
        server.post_alerts(json!([{"name": format!("Lost{i}"), "severity": "warning"}]));
    }
    let dropped = eventually(10, "the drops counted", || {
        metric(
            &server,
            "assay_alert_routes_dropped_total{reason=\"unknown_channel\"}",
        )
        .filter(|n| *n >= 48.0)
    });
    // 16 deliveries kept of each 100,000 (max_deliveries), all to unknown channels.
    assert_eq!(dropped, 48.0);
    let lines = server
        .log()
        .lines()
        .filter(|l| l.contains("a router named a channel that does not exist"))
        .count();
    assert!(lines <= 3, "{lines} log lines for 3 unknown channels");
    assert!(server.log().contains("max_deliveries"));
}

#[test]
fn a_socket_hog_probe_is_held_to_max_sockets_and_the_host_keeps_its_descriptors() {
    let env = hostile_env();
    env.plugin(&test_plugin("misbehave-probe"), "hog", None);
    let target = SilentTarget::start();
    let config = format!(
        "[[probe]]\nname = \"hog\"\nplugin = \"hog\"\ninterval = \"1s\"\ntimeout = \"3s\"\nallow_tcp = [\"{a}\"]\nconfig = '{{\"mode\": \"sockets\", \"target\": \"{a}\", \"n\": 5000, \"hold_ms\": 1500}}'\n",
        a = target.addr
    );
    let server = Server::with_config(&env, &config);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        most = most.max(fds());
        let t = Instant::now();
        let resp = server.get("/health").send().unwrap();
        assert!(resp.status().as_u16() < 600);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "/health took {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(most < 200, "the host held {most} descriptors");
    let (_, p) = json(server.get("/v1/probes/hog").send().unwrap());
    let last = &p["recent_results"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let msg = last["message"].as_str().unwrap();
    assert!(msg.starts_with("held 16 of 5000"), "{last}");
    assert!(
        last["denied"].to_string().contains("max_sockets = 16"),
        "{last}"
    );
    assert!(
        metric(
            &server,
            "assay_plugin_rejected_total{plugin=\"hog\",reason=\"max_sockets\"}"
        )
        .is_some_and(|n| n > 0.0)
    );
    healthy_ok(&server);
}
