//! Prepared plugins (`prepare` in `wit/plugin.wit`): a prepare that loops,
//! traps or grabs memory is bounded and reported at load, naming the plugin
//! and the limit; what a call changes in the prepared state never reaches
//! the next call.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Env, shipped, test_plugin};
use crate::server::{Server, eventually, json};

#[test]
fn a_prepare_that_loops_traps_or_grabs_memory_is_a_load_error_naming_the_limit() {
    for (mode, says) in [
        ("loop", "prepare() did not finish within the load deadline"),
        ("trap", "prepare-hostile cannot prepare"),
        ("bomb", "memory limit of 16 MiB exceeded"),
        ("nonsense", "refuses its config: unknown mode"),
    ] {
        let env = Env::new();
        env.plugin(
            &test_plugin("prepare-hostile"),
            "prepare-hostile",
            Some(&format!(
                "memory_limit_mib = 16\n[config]\nmode = \"{mode}\"\n"
            )),
        );
        let f = env.subject("a.json", "{}");
        let t = Instant::now();
        let run = env.run(&["validate", f.to_str().unwrap()]);
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{mode}: {:?}",
            t.elapsed()
        );
        assert_eq!(run.code, 2, "{mode}: {}", run.stderr);
        assert!(
            run.stderr.contains("prepare-hostile") && run.stderr.contains(says),
            "{mode}: {}",
            run.stderr
        );
    }
}

/// The snapshot states of `plugin` in `/v1/plugins`.
fn snapshots(server: &Server, plugin: &str) -> Vec<Value> {
    let (_, p) = json(server.get(&format!("/v1/plugins/{plugin}")).send().unwrap());
    p["snapshots"].as_array().cloned().unwrap_or_default()
}

/// Waits until `plugin`'s snapshot for the config with `digest` (any, if
/// `None`) is ready, failing on a failed build.
fn await_snapshot(server: &Server, plugin: &str, digest: Option<&str>) {
    eventually(120, "the prepared snapshot", || {
        let states = snapshots(server, plugin);
        let mine = states
            .iter()
            .find(|s| digest.is_none_or(|d| s["config_digest"] == d))?;
        assert_ne!(mine["state"], "failed", "{states:?}\n{}", server.log());
        (mine["state"] == "ready").then_some(())
    });
}

/// (call number, ms between prepare and the call) from the counter's finding.
fn count(v: &Value) -> (u64, u64) {
    let msg = v["findings"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    let num = |after: &str| -> u64 {
        let rest = &msg[msg.find(after).unwrap_or_else(|| panic!("{msg}")) + after.len()..];
        rest.split(' ').next().unwrap().parse().unwrap()
    };
    (num("call number "), num(", prepared "))
}

#[test]
fn what_a_call_changes_in_the_prepared_state_never_reaches_the_next_call() {
    let env = Env::new();
    env.plugin(&test_plugin("prepare-hostile"), "counter", None);
    let server = Server::with_config(&env, "[validation.cache]\nenabled = false\n");
    // Before the snapshot is ready (or while it builds): each call prepares
    // for itself.
    let (status, v) = server.validate("?plugin=counter", "{}");
    assert_eq!(status, 200, "{v}");
    assert_eq!(count(&v).0, 1, "{v}");

    await_snapshot(&server, "counter", None);
    // The clock read in prepare is frozen into the snapshot: a call started
    // from it sees its state prepared at least this long ago.
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..5 {
        let (status, v) = server.validate("?plugin=counter", "{}");
        assert_eq!(status, 200, "{v}");
        let (n, age) = count(&v);
        assert_eq!(n, 1, "a call saw what an earlier one wrote: {v}");
        assert!(
            age >= 1000,
            "this call did not start from the snapshot: {v}"
        );
    }
}

/// A `prepare` that breaks the rules by writing to stdout holds a handle no
/// snapshot can keep: the host refuses to snapshot it, says why, and its
/// calls carry on, each preparing for itself.
#[test]
fn a_prepare_that_keeps_a_handle_open_gets_no_snapshot_and_its_calls_still_work() {
    let env = Env::new();
    env.plugin(
        &test_plugin("prepare-hostile"),
        "loud",
        Some("[config]\nmode = \"print\"\n"),
    );
    let server = Server::with_config(&env, "[validation.cache]\nenabled = false\n");
    let state = eventually(120, "the snapshot build to end", || {
        let states = snapshots(&server, "loud");
        let s = states.first()?.clone();
        (s["state"] != "building").then_some(s)
    });
    assert_eq!(state["state"], "failed", "{state}");
    assert!(
        state["error"].as_str().unwrap().contains("host resources"),
        "{state}"
    );
    for _ in 0..3 {
        let (status, v) = server.validate("?plugin=loud", "{}");
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["plugins"][0]["outcome"], "ok", "{v}");
        assert_eq!(count(&v).0, 1, "{v}");
    }
    assert!(
        server.log().contains("no prepared snapshot"),
        "{}",
        server.log()
    );
}

/// A sidecar change builds a new snapshot while the old one serves: no
/// request fails, the new config answers from the reload on, and its
/// snapshot takes over when ready. A restart then loads both from the cache.
#[test]
fn a_config_change_builds_a_new_snapshot_while_requests_keep_succeeding() {
    let env = Env::new();
    let sidecar = env.plugins_dir().join("json-schema.toml");
    let schema = |field: &str| {
        format!(
            "max_concurrency = 4\n[config]\nschema = {{ type = \"object\", required = [\"{field}\"], properties = {{ {field} = {{ type = \"integer\", minimum = 0 }} }} }}\n"
        )
    };
    env.plugin(&shipped("json-schema"), "json-schema", Some(&schema("a")));
    let mut server = Server::with_config(&env, "[validation.cache]\nenabled = false\n");
    await_snapshot(&server, "json-schema", None);

    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicU64::new(0), Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let (status, v) = server.validate("?plugin=json-schema", r#"{"a": 1}"#);
                    if status == 200 && v["plugins"][0]["outcome"] == "ok" {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.lock().unwrap().push(format!("{status} {v}"));
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&sidecar, schema("b")).unwrap();
        // The new config answers (`a` is no longer enough)...
        eventually(30, "the new config", || {
            let (_, v) = server.validate("?plugin=json-schema", r#"{"a": 1}"#);
            (v["verdict"] == "fail").then_some(())
        });
        // ...and its own snapshot takes over, built while requests ran.
        let new_digest = {
            let (_, p) = json(server.get("/v1/plugins/json-schema").send().unwrap());
            p["config_digest"].as_str().unwrap().to_owned()
        };
        await_snapshot(&server, "json-schema", Some(&new_digest));
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    let failed = failed.into_inner().unwrap();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok.into_inner() > 10);
    let (_, v) = server.validate("?plugin=json-schema", r#"{"b": -1}"#);
    assert_eq!(v["findings"][0]["path"], "/b", "{v}");

    // A restart finds the snapshot in the on-disk cache: nothing is built.
    server.signal_and_wait("TERM");
    let server = Server::with_config(&env, "[validation.cache]\nenabled = false\n");
    await_snapshot(&server, "json-schema", None);
    assert!(
        !server.log().contains("prepared snapshot ready: built"),
        "{}",
        server.log()
    );
}

/// `required-fields` checks its pointers in `prepare`: a bad one is refused
/// at load by the CLI (exit 2, naming the plugin), and in `assay serve` a
/// config change with one leaves the previous version serving.
#[test]
fn a_refused_config_is_a_load_error_and_a_refused_change_keeps_the_old_one() {
    let env = Env::new();
    let sidecar = env.plugins_dir().join("required-fields.toml");
    env.plugin(
        &shipped("required-fields"),
        "required-fields",
        Some("[config]\nfields = [{ pointer = \"id\" }]\n"),
    );
    let f = env.subject("a.json", "{}");
    let run = env.run(&["validate", f.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("required-fields")
            && run.stderr.contains("refuses its config")
            && run.stderr.contains("must be empty or start with '/'"),
        "{}",
        run.stderr
    );

    std::fs::write(&sidecar, "[config]\nfields = [{ pointer = \"/id\" }]\n").unwrap();
    let server = Server::with_config(&env, "[validation.cache]\nenabled = false\n");
    let (_, p) = json(server.get("/v1/plugins/required-fields").send().unwrap());
    assert_eq!(p["state"], "loaded", "{p}");
    assert_eq!(p["prepares"], true, "{p}");
    let verdict = |server: &Server| {
        let (status, v) = server.validate("?plugin=required-fields", "{}");
        assert_eq!(status, 200, "{v}");
        v["verdict"].as_str().unwrap().to_owned()
    };
    assert_eq!(verdict(&server), "fail");

    std::fs::write(&sidecar, "[config]\nfields = [{ pointer = \"id\" }]\n").unwrap();
    let p = eventually(20, "the refused config", || {
        let (_, p) = json(server.get("/v1/plugins/required-fields").send().unwrap());
        (p["state"] == "failed").then_some(p)
    });
    let err = p["last_error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}"));
    assert!(err.contains("refuses its config"), "{p}");
    // The previous rules still answer.
    assert_eq!(verdict(&server), "fail");

    std::fs::write(&sidecar, "[config]\nfields = []\n").unwrap();
    eventually(20, "the fixed config", || {
        let (_, p) = json(server.get("/v1/plugins/required-fields").send().unwrap());
        (p["state"] == "loaded").then_some(())
    });
    let (_, v) = server.validate("?plugin=required-fields", "{}");
    assert_eq!(v["plugins"][0]["outcome"], "not_applicable", "{v}");
}
