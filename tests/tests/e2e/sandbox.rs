//! The sandbox: trapping, looping, sleeping, memory-hungry and failing plugins end as
//! `error`/`timeout` for that plugin only, within their deadline plus one epoch tick,
//! and the host carries on.

use std::time::{Duration, Instant};

use crate::common::{Env, plugin_run, test_plugin};

/// The deadline given to the looping and sleeping plugins.
const DEADLINE_MS: u64 = 300;
/// The host's default epoch tick.
const TICK_MS: u64 = 10;
/// Scheduling noise on a loaded 2-core VM; the bound checked is deadline + tick + this.
const SLACK_MS: u64 = 40;

fn misbehaving(env: &Env, name: &str, mode: &str, extra: &str) {
    env.plugin(
        &test_plugin("misbehave"),
        name,
        Some(&format!("{extra}\n[config]\nmode = \"{mode}\"\n")),
    );
}

#[test]
fn misbehaving_plugins_end_as_errors_and_timeouts_and_the_host_goes_on() {
    let env = Env::new();
    misbehaving(&env, "trap", "trap", "");
    misbehaving(&env, "loop", "loop", &format!("timeout_ms = {DEADLINE_MS}"));
    misbehaving(
        &env,
        "sleep",
        "sleep",
        &format!("timeout_ms = {DEADLINE_MS}"),
    );
    misbehaving(&env, "hog", "hog", "memory_limit_mib = 32");
    misbehaving(&env, "fail", "fail", "");
    misbehaving(&env, "ok", "ok", "");
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let f = env.subject("s.json", "{}");

    let started = Instant::now();
    // Twice in one process: the host must still work after every kind of failure.
    let run = env.validate_json(&["--level", "full", f.to_str().unwrap(), f.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(20), "the host hung");
    assert_eq!(
        run.code, 1,
        "a plugin error fails the default --fail-on bar"
    );
    let reports = run.reports();
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report["verdict"], "error", "{report}");
        assert_eq!(report["cached"], false, "failed runs are not cached");

        let trap = plugin_run(report, "trap");
        assert_eq!(trap["outcome"], "error");
        assert!(
            trap["error"].as_str().unwrap().contains("trapped"),
            "{trap}"
        );

        for name in ["loop", "sleep"] {
            let r = plugin_run(report, name);
            assert_eq!(r["outcome"], "timeout", "{r}");
            assert_eq!(
                r["error"],
                format!("timed out after {DEADLINE_MS} ms (timeout_ms)")
            );
            let took_ms = r["duration_us"].as_u64().unwrap() / 1000;
            assert!(
                took_ms >= DEADLINE_MS - 1,
                "{name} stopped early: {took_ms} ms"
            );
            assert!(
                took_ms <= DEADLINE_MS + TICK_MS + SLACK_MS,
                "{name} overran its deadline: {took_ms} ms"
            );
        }

        let hog = plugin_run(report, "hog");
        assert_eq!(hog["outcome"], "error");
        assert_eq!(
            hog["error"],
            "memory limit of 32 MiB exceeded (memory_limit_mib)"
        );

        let fail = plugin_run(report, "fail");
        assert_eq!(fail["outcome"], "error");
        assert_eq!(fail["error"], "misbehave: failing on purpose");

        for name in ["ok", "trivial"] {
            assert_eq!(plugin_run(report, name)["outcome"], "ok");
        }
        assert_eq!(
            report["findings"].as_array().unwrap().len(),
            1,
            "only `ok` has a finding: {report}"
        );
    }
}

#[test]
fn guest_output_and_logs_reach_the_host_log_with_the_plugin_name() {
    let env = Env::new();
    misbehaving(&env, "chatty", "chatter", "");
    let f = env.subject("s.json", "{}");
    let run = env
        .assay()
        .env("ASSAY_LOG", "info")
        .args(["validate", f.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    for line in [
        "hello on stdout",
        "hello on stderr",
        "hello through the host log",
    ] {
        let hit = stderr
            .lines()
            .find(|l| l.contains(line))
            .unwrap_or_else(|| panic!("{line:?} not logged: {stderr}"));
        assert!(
            hit.contains("plugin=chatty") || hit.contains("plugin=\"chatty\""),
            "{hit}"
        );
    }
}

#[test]
fn every_call_gets_a_fresh_instance() {
    // `count` keeps a counter in a static (the instance's memory) and reports it:
    // a reused instance would say "call 2", "call 3", …
    let env = Env::new();
    misbehaving(&env, "count", "count", "");
    let files: Vec<String> = (0..5)
        .map(|i| {
            env.subject(&format!("{i}.json"), format!("[{i}]"))
                .display()
                .to_string()
        })
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let reports = env.validate_json(&args).reports();
    assert_eq!(reports.len(), 5);
    for r in reports {
        assert_eq!(r["cached"], false);
        assert_eq!(
            r["findings"][0]["message"], "call 1 of this instance",
            "{r}"
        );
    }
}
