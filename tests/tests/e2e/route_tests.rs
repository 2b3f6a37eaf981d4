//! Routing tests: `assay alert route-test` on the shipped example (both
//! shipped routers, inhibition, silences, time of day), and the
//! `[alerting] route_tests` gate refusing routing changes under load.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Env, root, shipped};
use crate::receivers::Receiver;
use crate::server::{Server, eventually};

fn example(name: &str) -> PathBuf {
    root().join("deploy/examples").join(name)
}

fn route_test(env: &Env, config: &Path, args: &[&str]) -> crate::common::Run {
    let mut all = vec!["--config", config.to_str().unwrap(), "alert", "route-test"];
    all.extend_from_slice(args);
    env.run(&all)
}

fn with_shipped_routers() -> Env {
    let env = Env::new();
    env.plugin(&shipped("severity-routes"), "severity-routes", None)
        .plugin(&shipped("business-hours"), "business-hours", None);
    env
}

#[test]
fn the_shipped_example_passes_and_a_wrong_expectation_is_a_diff() {
    let env = with_shipped_routers();
    let config = example("routing.toml");
    let run = route_test(&env, &config, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.ends_with(": 9 passed, 0 failed\n"),
        "{}",
        run.stdout
    );

    // Verbose: every alert, and what it came to.
    let run = route_test(&env, &config, &["--verbose"]);
    for line in [
        "pager (routed by business-hours)",
        "db-oncall, team-chat (routed by business-hours, severity-routes)",
        "inhibited by ProbeFailing",
        "silenced by silence 1 \"planned failover\"",
        "suppressed: severity-routes: the watchdog proves the pipeline works; it pages no one",
        "no channel",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }

    // The business-hours case expects the pager: it fails, as a diff.
    let cases = std::fs::read_to_string(example("route-tests.toml")).unwrap();
    let wrong = cases.replacen("expect = [\"team-chat\"]", "expect = [\"pager\"]", 1);
    let file = env.subject("wrong.toml", wrong);
    let run = route_test(&env, &config, &[file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "FAIL  a warning in business hours goes to the team chat\n      DiskFilling{service=\"web\", severity=\"warning\"} at 2026-11-23T09:00:00.000Z\n      - pager\n      + team-chat (routed by business-hours)\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(": 8 passed, 1 failed\n"),
        "{}",
        run.stdout
    );

    // JSON: the whole report.
    let run = route_test(&env, &config, &[file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(8), Some(1))
    );
    let failed = &report["cases"][0]["alerts"][0];
    assert_eq!(failed["expected"], json!({"delivered": ["pager"]}));
    assert_eq!(failed["got"]["channels"], json!(["team-chat"]));

    // Bad input is exit 2, naming the problem.
    for (text, needle) in [
        (
            "[[case]]\nname = \"x\"\n[[case.alert]]\nname = \"A\"\nexpect = [\"pagr\"]\n",
            "expects channel \"pagr\"",
        ),
        (
            "[[case]]\nname = \"x\"\n[[case.alert]]\nname = \"A\"\nexpect = \"muted\"\n",
            "expect \"muted\"",
        ),
        (
            "[[case]]\nname = \"x\"\nat = \"noon\"\n[[case.alert]]\nname = \"A\"\nexpect = []\n",
            "\"noon\" is not an RFC 3339 time",
        ),
        ("case = 1\n", "routing tests"),
    ] {
        let bad = env.subject("bad.toml", text);
        let run = route_test(&env, &config, &[bad.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{text}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(needle), "{needle:?} in {}", run.stderr);
    }
    let run = route_test(&env, &config, &["/nonexistent/cases.toml"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot read the routing tests /nonexistent/cases.toml"),
        "{}",
        run.stderr
    );
}

/// The example's routing with webhook channels to `r`, and the example's cases.
fn gated_config(r: &Receiver, routing: &str) -> String {
    format!(
        r#"[alerting]
group_wait = "100ms"
group_interval = "400ms"
tick = "25ms"
route_tests = "{cases}"
{pager}{chat}{db}
{routing}"#,
        cases = example("route-tests.toml").display(),
        pager = r.channel("pager", "min_severity = \"warning\""),
        chat = r.channel("team-chat", ""),
        db = r.channel("db-oncall", ""),
    )
}

/// The example's `[[router]]`s and `[[inhibit_rule]]`, with `db` as the
/// channels of database errors (the cases want `["db-oncall"]`) and
/// `extra` rules first.
fn routing(db: &str, extra: &str) -> String {
    let example = std::fs::read_to_string(example("routing.toml")).unwrap();
    let from = example.find("\n[[router]]").unwrap();
    let routing =
        example[from..].replace("channels = [\"db-oncall\"]", &format!("channels = {db}"));
    routing.replacen("[router.config]\n", &format!("[router.config]\n{extra}"), 1)
}

/// Replaces the config file the way editors do: a new file renamed over.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn events(s: &Server) -> Vec<Value> {
    let v: Value = s.get("/v1/plugins/events").send().unwrap().json().unwrap();
    v["events"].as_array().unwrap().clone()
}

/// The first reload event of `plugin` (`routing`: the config file's) with `outcome`.
fn reload_event(s: &Server, plugin: &str, outcome: &str) -> Value {
    eventually(
        30,
        &format!("a reload event of {plugin}: {outcome}"),
        || {
            events(s)
                .into_iter()
                .find(|e| e["plugin"] == plugin && e["outcome"] == outcome)
        },
    )
}

fn channels_of(s: &Server, name: &str) -> BTreeSet<String> {
    let a = eventually(10, name, || {
        s.alerts().into_iter().find(|a| a["alert"]["name"] == name)
    });
    a["routing"]["deliver"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|r| r["channel"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn metric(s: &Server, series: &str) -> f64 {
    let text = s.get("/metrics").send().unwrap().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in /metrics"))
}

fn route_tests_alert(s: &Server) -> Option<Value> {
    s.alerts()
        .into_iter()
        .find(|a| a["alert"]["name"] == "RouteTestsFailing")
}

/// Clients that keep raising alerts and reading the API until stopped;
/// every answer that is not a success is counted.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(base: &str, clients: usize) -> Load {
        let (stop, ok, failed) = (Arc::default(), Arc::default(), Arc::default());
        let threads = (0..clients)
            .map(|c| {
                let (stop, ok, failed): (Arc<AtomicBool>, Arc<AtomicU64>, Arc<AtomicU64>) =
                    (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
                let base = base.to_owned();
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let r = if i.is_multiple_of(2) {
                            client
                                .post(format!("{base}/v1/alerts"))
                                .json(&json!({"alerts": [{
                                    "name": "LoadAlert",
                                    "severity": "warning",
                                    "labels": {"client": c.to_string(), "n": (i % 20).to_string()},
                                }]}))
                                .send()
                        } else {
                            client.get(format!("{base}/v1/alerts")).send()
                        };
                        match r {
                            Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Stops the clients: (successes, failures).
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn the_gate_refuses_routing_changes_that_fail_the_tests_under_load() {
    let env = with_shipped_routers();
    let r = Receiver::start();
    let good = gated_config(&r, &routing("[\"db-oncall\"]", ""));
    let server = Server::with_config(&env, &good);
    let config = env.work_dir().join("assay.toml");
    // They ran once the plugins loaded, and passed.
    eventually(10, "the start-up run", || {
        (metric(&server, "assay_route_tests_total{result=\"passed\"}") == 1.0).then_some(())
    });
    assert!(route_tests_alert(&server).is_none());

    let load = Load::start(&server.base, 4);
    std::thread::sleep(Duration::from_millis(500));

    // 1. A config whose database rule lost its channel: refused.
    replace(&config, &gated_config(&r, &routing("[\"team-chat\"]", "")));
    let refused = reload_event(&server, "routing", "refused");
    assert_eq!(refused["action"], "routing");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("refused by the routing tests: 1 of 9 routing test case(s) failed: database errors also reach the database team"),
        "{error}"
    );
    assert_eq!(
        metric(&server, "assay_route_tests_total{result=\"failed\"}"),
        1.0
    );
    assert_eq!(
        metric(&server, "assay_plugin_reloads_total{outcome=\"refused\"}"),
        1.0
    );
    let alert = eventually(10, "RouteTestsFailing", || route_tests_alert(&server));
    assert_eq!(alert["alert"]["status"], "firing");
    assert!(
        alert["alert"]["description"]
            .as_str()
            .unwrap()
            .contains("- db-oncall, team-chat"),
        "{alert}"
    );
    assert!(
        server
            .log()
            .contains("is refused; the routing in force keeps serving")
    );
    // The old chain keeps serving: database errors still reach the database team.
    server.post_alerts(
        json!([{"name": "ReplicationLag", "severity": "error", "labels": {"team": "db"}}]),
    );
    assert!(channels_of(&server, "ReplicationLag").contains("db-oncall"));

    // 2. A router plugin file that breaks routing (business-hours replaced by
    //    severity-routes, which refuses business-hours' config): refused, and
    //    the old business-hours keeps serving.
    let digest = |s: &Server| -> String {
        let v: Value = s.get("/v1/plugins").send().unwrap().json().unwrap();
        v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "business-hours")
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = digest(&server);
    let tmp = env.plugins_dir().join(".business-hours.wasm.tmp");
    std::fs::copy(shipped("severity-routes"), &tmp).unwrap();
    std::fs::rename(&tmp, env.plugins_dir().join("business-hours.wasm")).unwrap();
    let refused = reload_event(&server, "business-hours", "refused");
    assert_eq!(refused["action"], "changed");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("refused by the routing tests"),
        "{refused}"
    );
    assert_eq!(digest(&server), before);
    std::fs::copy(shipped("business-hours"), &tmp).unwrap();
    std::fs::rename(&tmp, env.plugins_dir().join("business-hours.wasm")).unwrap();

    // 3. A change that passes: in force, and the alert resolves.
    replace(
        &config,
        &gated_config(
            &r,
            &routing(
                "[\"db-oncall\"]",
                "[[router.config.rules]]\nmatchers = ['alertname=\"Noise\"']\nsuppress = \"noise\"\n",
            ),
        ),
    );
    let applied = reload_event(&server, "routing", "ok");
    assert_eq!(applied["action"], "routing");
    server.post_alerts(json!([{"name": "Noise", "severity": "critical"}]));
    let noise = eventually(10, "Noise", || {
        server
            .alerts()
            .into_iter()
            .find(|a| a["alert"]["name"] == "Noise")
    });
    assert_eq!(noise["state"], "suppressed", "{noise}");
    eventually(10, "RouteTestsFailing resolved", || {
        route_tests_alert(&server)
            .is_none_or(|a| a["alert"]["status"] == "resolved")
            .then_some(())
    });

    // One reload per edit: reading the config is not a change (it once was,
    // and every reload caused the next).
    std::thread::sleep(Duration::from_millis(600));
    let routing: Vec<Value> = events(&server)
        .into_iter()
        .filter(|e| e["plugin"] == "routing")
        .collect();
    assert_eq!(routing.len(), 2, "{routing:?}");

    let (ok, failed) = load.stop();
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during the reloads",
        ok + failed
    );
    assert!(ok > 20, "the load made only {ok} requests");
}

/// A change whose router traps on every case is refused, and its trial calls
/// count toward nothing: the router in force is not quarantined (its share
/// and quarantine are for live traffic), and keeps routing.
#[test]
fn a_trapping_trial_does_not_quarantine_the_router_in_force() {
    let env = Env::new();
    env.plugin(
        &crate::common::test_plugin("hostile-router"),
        "hostile-router",
        None,
    );
    let r = Receiver::start();
    // Seven cases: more than the five consecutive failures that quarantine.
    let cases: String = (0..7)
        .map(|i| {
            format!(
                "[[case]]\nname = \"c{i}\"\n[[case.alert]]\nname = \"A{i}\"\nexpect = [\"hook\"]\n"
            )
        })
        .collect();
    let cases_file = env.subject("cases.toml", cases);
    let config = |mode: &str| {
        format!(
            "[alerting]\ngroup_wait = \"100ms\"\ntick = \"25ms\"\nroute_tests = \"{}\"\n{}{}\n[[router]]\nplugin = \"hostile-router\"\n[router.config]\nmode = \"{mode}\"\nchannel = \"hook\"\n",
            cases_file.display(),
            r.channel("hook", ""),
            r.channel("other", ""),
        )
    };
    let server = Server::with_config(&env, &config("tiny-repeat"));
    eventually(10, "the start-up run", || {
        (metric(&server, "assay_route_tests_total{result=\"passed\"}") == 1.0).then_some(())
    });
    replace(&env.work_dir().join("assay.toml"), &config("trap"));
    let refused = reload_event(&server, "routing", "refused");
    assert!(
        refused["error"].as_str().unwrap().contains("7 of 7"),
        "{refused}"
    );
    let v: Value = server
        .get("/v1/plugins/hostile-router")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["quarantine"]["state"], "closed", "{v}");
    assert_eq!(
        metric(
            &server,
            "assay_plugin_quarantined{plugin=\"hostile-router\"}"
        ),
        0.0
    );
    // Live alerts still go where the router in force sends them.
    server.post_alerts(json!([{"name": "Live", "severity": "error"}]));
    assert_eq!(
        channels_of(&server, "Live"),
        BTreeSet::from(["hook".to_owned()])
    );
}
