//! Probes inside `assay serve`: thresholds, flapping, `/health` and `/ready`,
//! the API, metrics, sidecar instances, and misbehaving probes that must not
//! stall the others.

use serde_json::Value;

use crate::common::{Env, shipped, test_plugin};
use crate::server::{Server, Start, eventually, json};
use crate::targets::HttpTarget;

fn probe_state(s: &Server, name: &str) -> Value {
    let (code, v) = json(s.get(&format!("/v1/probes/{name}")).send().unwrap());
    assert_eq!(code, 200, "{v}");
    v
}

/// Waits until `name` exists and is in `state`.
fn wait_state(s: &Server, name: &str, state: &str, secs: u64) -> Value {
    eventually(secs, &format!("{name} to be {state}"), || {
        let (_, v) = json(s.get(&format!("/v1/probes/{name}")).send().unwrap());
        (v["state"] == state).then_some(v)
    })
}

fn http_probe(name: &str, t: &HttpTarget, extra: &str) -> String {
    format!(
        "[[probe]]\nname = \"{name}\"\nplugin = \"http\"\ninterval = \"200ms\"\nallow_http = [\"{}\"]\n{extra}\nconfig = '{{\"url\": \"{}\"}}'\n",
        t.addr,
        t.url("/")
    )
}

#[test]
fn thresholds_flapping_health_and_ready() {
    let env = Env::new();
    env.plugin(&shipped("http"), "http", None);
    let crit = HttpTarget::start();
    let other = HttpTarget::start();
    let flappy = HttpTarget::start();
    let config = [
        http_probe(
            "crit",
            &crit,
            "critical = true\nfailure_threshold = 3\nsuccess_threshold = 2",
        ),
        http_probe("other", &other, "failure_threshold = 1"),
        http_probe(
            "flappy",
            &flappy,
            "failure_threshold = 1\nsuccess_threshold = 1",
        ),
        "[probes]\nflap_window = \"1m\"\nflap_threshold = 3\n".into(),
    ]
    .join("\n");
    let s = Server::start(
        &env,
        Start {
            config: &config,
            ..Start::default()
        },
    );
    for p in ["crit", "other", "flappy"] {
        wait_state(&s, p, "passing", 20);
    }
    let (code, health) = json(s.get("/health").send().unwrap());
    assert_eq!(
        (code, health["status"].as_str()),
        (200, Some("pass")),
        "{health}"
    );
    assert_eq!(
        health["checks"]["probe:crit"][0]["observedValue"],
        "passing"
    );

    // A non-critical probe failing: /health warns, /ready stays up.
    other.set_status(500);
    wait_state(&s, "other", "failing", 10);
    let (code, health) = json(s.get("/health").send().unwrap());
    assert_eq!(
        (code, health["status"].as_str()),
        (200, Some("warn")),
        "{health}"
    );
    assert_eq!(s.get("/ready").send().unwrap().status(), 200);

    // The critical one: three failures in a row before it turns failing.
    crit.set_status(500);
    let v = wait_state(&s, "crit", "failing", 10);
    let recent = v["recent_results"].as_array().unwrap();
    let fails_before = recent.iter().take_while(|r| r["status"] == "fail").count();
    assert!(
        fails_before >= 3,
        "failing after {fails_before} failures: {v}"
    );
    let (code, health) = json(s.get("/health").send().unwrap());
    assert_eq!(
        (code, health["status"].as_str()),
        (503, Some("fail")),
        "{health}"
    );
    let (code, ready) = json(s.get("/ready").send().unwrap());
    assert_eq!(code, 503);
    assert!(
        ready["output"].as_str().unwrap().contains("crit"),
        "{ready}"
    );
    // Validation goes on while a probe fails.
    assert_eq!(s.get("/v1/plugins").send().unwrap().status(), 200);
    crit.set_status(200);
    wait_state(&s, "crit", "passing", 10);
    assert_eq!(s.get("/ready").send().unwrap().status(), 200);

    // Flapping: every change counts; the fourth within the window is flapping.
    for i in 0..12 {
        flappy.set_status(if i % 2 == 0 { 500 } else { 200 });
        std::thread::sleep(std::time::Duration::from_millis(450));
    }
    let v = wait_state(&s, "flappy", "flapping", 10);
    assert_eq!(v["state"], "flapping", "{v}");
    let log = s.log();
    assert_eq!(log.matches("→ flapping").count(), 1, "{log}");
    let (_, health) = json(s.get("/health").send().unwrap());
    assert_eq!(health["checks"]["probe:flappy"][0]["status"], "warn");

    let metrics = s.get("/metrics").send().unwrap().text().unwrap();
    for line in [
        "assay_probe_state{probe=\"flappy\",state=\"flapping\"} 1",
        "assay_probe_success{probe=\"crit\"} 1",
        "assay_probe_observation{name=\"status_code\",probe=\"crit\"} 200",
    ] {
        assert!(metrics.contains(line), "{line} missing");
    }
    assert!(metrics.contains("assay_probe_scheduler_lag_seconds_count"));
    assert!(metrics.contains("assay_probe_duration_seconds{probe=\"other\"}"));
}

#[test]
fn misbehaving_probes_do_not_stall_the_others() {
    let env = Env::new();
    env.plugin(&shipped("http"), "http", None);
    env.plugin(&test_plugin("misbehave-probe"), "misbehave-probe", None);
    let t = HttpTarget::start();
    let mut config = http_probe("steady", &t, "");
    for mode in ["loop", "sleep", "trap"] {
        // More of them than there are probe slots, so a stall would show.
        for i in 0..3 {
            config.push_str(&format!(
                "[[probe]]\nname = \"{mode}-{i}\"\nplugin = \"misbehave-probe\"\ninterval = \"200ms\"\ntimeout = \"1s\"\nconfig = '{{\"mode\": \"{mode}\"}}'\n"
            ));
        }
    }
    config.push_str("[probes]\nmax_concurrency = 4\n");
    let s = Server::start(
        &env,
        Start {
            config: &config,
            ..Start::default()
        },
    );
    wait_state(&s, "steady", "passing", 20);
    std::thread::sleep(std::time::Duration::from_secs(4));
    let v = probe_state(&s, "steady");
    assert!(
        v["runs"].as_u64().unwrap() >= 8,
        "steady ran only {}: {v}",
        v["runs"]
    );
    let v = wait_state(&s, "loop-0", "failing", 10);
    assert!(
        v["last_result"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout after 1s"),
        "{v}"
    );
    let v = wait_state(&s, "sleep-0", "failing", 10);
    assert!(
        v["last_result"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout after 1s"),
        "{v}"
    );
    let v = wait_state(&s, "trap-0", "failing", 10);
    assert_eq!(v["last_result"]["status"], "unknown", "{v}");
    // A run that overruns its interval skips slots instead of piling up.
    assert!(probe_state(&s, "loop-0")["skipped_runs"].as_u64().unwrap() > 0);
    assert_eq!(s.get("/health").send().unwrap().status(), 200);
}

#[test]
fn api_sidecar_instances_and_reload() {
    let env = Env::new();
    let t = HttpTarget::start();
    let sidecar = |names: &[&str]| {
        names
            .iter()
            .map(|n| {
                format!(
                    "[[probe]]\nname = \"{n}\"\ninterval = \"1h\"\nlabels = {{ team = \"core\" }}\nallow_http = [\"{}\"]\nconfig = '{{\"url\": \"{}\"}}'\n",
                    t.addr,
                    t.url("/")
                )
            })
            .collect::<String>()
    };
    env.plugin(&shipped("http"), "http", Some(&sidecar(&["a"])));
    let s = Server::start(&env, Start::default());
    let (_, list) = json(s.get("/v1/probes").send().unwrap());
    assert_eq!(list["probes"][0]["name"], "a", "{list}");
    assert_eq!(list["probes"][0]["labels"]["team"], "core");

    // Run now: recorded like a scheduled run, and stored.
    let (code, run) = json(s.post("/v1/probes/a/run").send().unwrap());
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["result"]["status"], "pass");
    assert_eq!(run["result"]["trigger"], "manual");
    assert_eq!(run["state"], "passing");
    let v = eventually(10, "the stored result", || {
        let v = probe_state(&s, "a");
        (v["history"].as_array().is_some_and(|h| !h.is_empty())).then_some(v)
    });
    assert_eq!(v["history"][0]["status"], "pass");
    assert_eq!(v["grants"]["allow_http"][0], t.addr.to_string());
    let (code, e) = json(s.get("/v1/probes/nope").send().unwrap());
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (404, Some("unknown_probe"))
    );
    let (code, _) = json(s.post("/v1/probes/nope/run").send().unwrap());
    assert_eq!(code, 404);

    // Editing the sidecar adds and removes instances without a restart.
    std::fs::write(env.plugins_dir().join("http.toml"), sidecar(&["b", "c"])).unwrap();
    eventually(20, "b and c instead of a", || {
        let (_, list) = json(s.get("/v1/probes").send().unwrap());
        let names: Vec<&str> = list["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        (names == ["b", "c"]).then_some(())
    });
    // A broken [[probe]] entry fails the sidecar; the last good one keeps running.
    std::fs::write(
        env.plugins_dir().join("http.toml"),
        "[[probe]]\nname = \"d\"\ninterval = \"soon\"\n",
    )
    .unwrap();
    eventually(20, "the failure to show", || {
        let (_, p) = json(s.get("/v1/plugins/http").send().unwrap());
        (p["state"] == "failed").then_some(())
    });
    let (_, p) = json(s.get("/v1/plugins/http").send().unwrap());
    assert!(
        p["last_error"]
            .to_string()
            .contains("probe \\\"d\\\": interval"),
        "{p}"
    );
    assert_eq!(s.get("/v1/probes/b").send().unwrap().status(), 200);
}

#[test]
fn config_file_probes_follow_the_file() {
    let env = Env::new();
    env.plugin(&shipped("http"), "http", None);
    let t = HttpTarget::start();
    let s = Server::start(
        &env,
        Start {
            config: &http_probe("one", &t, ""),
            ..Start::default()
        },
    );
    wait_state(&s, "one", "passing", 20);
    // The server watches its config file: [[probe]] entries re-apply.
    std::fs::write(
        env.work_dir().join("assay.toml"),
        http_probe("two", &t, "critical = true"),
    )
    .unwrap();
    wait_state(&s, "two", "passing", 20);
    assert_eq!(s.get("/v1/probes/one").send().unwrap().status(), 404);
    // A bad entry changes nothing.
    std::fs::write(
        env.work_dir().join("assay.toml"),
        "[[probe]]\nname = \"three\"\nplugin = \"http\"\nallow_http = [\"nope\"]\n",
    )
    .unwrap();
    eventually(20, "the refusal in the log", || {
        s.log().contains("allow_http").then_some(())
    });
    assert_eq!(probe_state(&s, "two")["critical"], true);
    assert_eq!(s.get("/v1/probes/three").send().unwrap().status(), 404);
}
