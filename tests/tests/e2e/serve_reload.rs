//! Hot reload of the plugin directory under `assay serve`: every way a file
//! arrives, bad files, sidecar changes, the cache/digest rule, and a churn
//! test with concurrent clients.
//!
//! Two versions of plugin `v`, told apart by their findings: the `trivial`
//! test plugin (no findings) and the `misbehave` test plugin in `ok` mode
//! (one `misbehave.done` finding). Both read the same sidecar `v.toml`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Env, test_plugin};
use crate::server::{Server, Start, eventually, json};

const SIDECAR: &str = "[config]\nmode = \"ok\"\n";

/// Which version of `v` produced this report: `Some("A")` for trivial,
/// `Some("B")` for misbehave; `None` when the report is not wholly either.
fn version_of(report: &Value) -> Option<&'static str> {
    let runs = report["plugins"].as_array()?;
    let run = runs.iter().find(|r| r["name"] == "v")?;
    if run["outcome"] != "ok" {
        return None;
    }
    let codes: Vec<&str> = report["findings"]
        .as_array()?
        .iter()
        .filter(|f| f["plugin"] == "v")
        .filter_map(|f| f["code"].as_str())
        .collect();
    match codes.as_slice() {
        [] => Some("A"),
        ["misbehave.done"] => Some("B"),
        _ => None,
    }
}

fn a() -> std::path::PathBuf {
    test_plugin("trivial")
}

fn b() -> std::path::PathBuf {
    test_plugin("misbehave")
}

/// Deploys `src` as `name.wasm` the safe way: write a hidden file, rename it over.
fn deploy(dir: &Path, src: &Path, name: &str) {
    let tmp = dir.join(format!(".{name}.wasm.tmp"));
    std::fs::copy(src, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join(format!("{name}.wasm"))).unwrap();
}

fn serving(s: &Server) -> Option<&'static str> {
    let (status, r) = s.validate("?plugin=v", r#"{"id": 1}"#);
    (status == 200).then(|| version_of(&r)).flatten()
}

fn wait_for(s: &Server, version: &'static str, what: &str) {
    eventually(30, what, || (serving(s) == Some(version)).then_some(()));
}

fn events(s: &Server) -> Vec<Value> {
    let (status, v) = json(s.get("/v1/plugins/events").send().unwrap());
    assert_eq!(status, 200, "{v}");
    v["events"].as_array().unwrap().clone()
}

fn start(env: &Env) -> Server {
    Server::start(
        env,
        Start {
            // Only file events (and SIGHUP / the API) trigger rescans here.
            config: "[plugins]\nrescan_secs = 0\n",
            ..Start::default()
        },
    )
}

#[test]
fn every_way_a_file_arrives_is_picked_up() {
    let env = Env::new();
    let dir = env.plugins_dir();
    env.plugin(&a(), "v", Some(SIDECAR));
    let s = start(&env);
    assert_eq!(serving(&s), Some("A"));

    // Write in place (truncate and write).
    std::fs::write(dir.join("v.wasm"), std::fs::read(b()).unwrap()).unwrap();
    wait_for(&s, "B", "a write in place");
    // Write, then rename over (the documented safe way).
    deploy(dir, &a(), "v");
    wait_for(&s, "A", "write-then-rename");
    // A plain copy.
    std::fs::copy(b(), dir.join("v.wasm")).unwrap();
    wait_for(&s, "B", "a copy");
    // mv from another file system (/dev/shm when it is one): copy, then unlink.
    let shm = Path::new("/dev/shm");
    let staging = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    std::fs::copy(a(), staging.path().join("v.wasm")).unwrap();
    let mv = std::process::Command::new("mv")
        .arg(staging.path().join("v.wasm"))
        .arg(dir.join("v.wasm"))
        .status()
        .unwrap();
    assert!(mv.success());
    wait_for(&s, "A", "mv from elsewhere");

    // Editors' temporaries and other files are ignored.
    std::fs::write(dir.join(".v.wasm.swp"), b"junk").unwrap();
    std::fs::write(dir.join("v.wasm~"), b"junk").unwrap();
    std::fs::write(dir.join("notes.txt"), b"junk").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(serving(&s), Some("A"));
    let ev = events(&s);
    assert!(
        ev.iter().all(|e| e["plugin"] == "v"),
        "junk files made events: {ev:?}"
    );

    // Rename: v goes, w comes (with its own sidecar).
    std::fs::write(dir.join("w.toml"), SIDECAR).unwrap();
    std::fs::rename(dir.join("v.wasm"), dir.join("w.wasm")).unwrap();
    eventually(30, "the rename", || {
        let (status, _) = s.validate("?plugin=w", "{}");
        let (gone, _) = s.validate("?plugin=v", "{}");
        (status == 200 && gone == 400).then_some(())
    });
    // Delete: w is unloaded.
    std::fs::remove_file(dir.join("w.wasm")).unwrap();
    eventually(30, "the delete", || {
        let (status, _) = json(s.get("/v1/plugins/w").send().unwrap());
        (status == 404).then_some(())
    });
    // A symlink is followed.
    std::os::unix::fs::symlink(b(), dir.join("v.wasm")).unwrap();
    wait_for(&s, "B", "a symlink");

    let ev = events(&s);
    let actions: Vec<&str> = ev.iter().filter_map(|e| e["action"].as_str()).collect();
    for want in ["added", "changed", "removed"] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    let changed = ev.iter().find(|e| e["action"] == "changed").unwrap();
    assert!(
        changed["old_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_ne!(changed["old_digest"], changed["new_digest"]);
    assert!(changed["compile_ms"].as_f64().is_some(), "{changed}");
    let metrics = s.get("/metrics").send().unwrap().text().unwrap();
    assert!(
        metrics.contains("assay_plugin_reloads_total{outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("assay_plugin_compile_seconds_bucket"));
}

#[test]
fn a_bad_file_keeps_the_previous_version_serving() {
    let env = Env::new();
    let dir = env.plugins_dir();
    env.plugin(&a(), "v", Some(SIDECAR));
    let s = start(&env);
    assert_eq!(serving(&s), Some("A"));

    let bytes = std::fs::read(b()).unwrap();
    let bad: [(&str, Vec<u8>); 3] = [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("not a component", b"\0asm\x01\0\0\0".to_vec()),
        (
            "another kind",
            std::fs::read(test_plugin("severity-router")).unwrap(),
        ),
    ];
    for (n, (what, content)) in bad.iter().enumerate() {
        std::fs::write(dir.join("v.wasm"), content).unwrap();
        let failure = eventually(30, what, || {
            let (_, p) = json(s.get("/v1/plugins/v").send().unwrap());
            (p["state"] == "failed"
                && events(&s)
                    .iter()
                    .filter(|e| e["outcome"] == "failed")
                    .count()
                    > n)
                .then_some(p)
        });
        assert!(
            failure["last_error"]["message"].as_str().is_some(),
            "{failure}"
        );
        assert_eq!(failure["serving"]["kind"], "validator", "{failure}");
        assert_eq!(serving(&s), Some("A"), "after a {what} file");
        // The log is read from the server's stderr by another thread: it may trail the API.
        eventually(10, "the failure in the log", || {
            s.log()
                .contains("the previous version keeps serving")
                .then_some(())
        });
    }
    let ev = events(&s);
    let last = &ev[0];
    assert_eq!(last["action"], "failed");
    assert!(
        last["error"].as_str().unwrap().contains("validator"),
        "{last}"
    );
    let metrics = s.get("/metrics").send().unwrap().text().unwrap();
    assert!(
        metrics.contains("assay_plugin_reloads_total{outcome=\"failed\"} 3"),
        "{metrics}"
    );
    let (_, health) = json(s.get("/health").send().unwrap());
    assert_eq!(health["status"], "warn", "{health}");

    // A good file again: it serves, and the failure is cleared.
    deploy(dir, &b(), "v");
    wait_for(&s, "B", "the fixed file");
    let (_, p) = json(s.get("/v1/plugins/v").send().unwrap());
    assert_eq!(p["state"], "loaded", "{p}");
}

#[test]
fn sidecar_changes_apply_without_recompiling_and_sighup_or_the_api_rescan() {
    let env = Env::new();
    let dir = env.plugins_dir();
    env.plugin(&b(), "v", Some(SIDECAR));
    let mut s = start(&env);
    assert_eq!(serving(&s), Some("B"));

    std::fs::write(dir.join("v.toml"), "[config]\nmode = \"fail\"\n").unwrap();
    eventually(30, "the sidecar change", || {
        let (_, r) = s.validate("?plugin=v", "{}");
        (r["plugins"][0]["outcome"] == "error").then_some(())
    });
    let ev = events(&s);
    assert_eq!(ev[0]["action"], "settings", "{ev:?}");
    assert_eq!(ev[0]["old_digest"], ev[0]["new_digest"]);
    assert!(ev[0]["compile_ms"].is_null(), "no recompile: {:?}", ev[0]);
    // A broken sidecar: the previous settings keep serving.
    std::fs::write(dir.join("v.toml"), "[config\n").unwrap();
    eventually(30, "the broken sidecar", || {
        let (_, p) = json(s.get("/v1/plugins/v").send().unwrap());
        (p["state"] == "failed").then_some(())
    });
    std::fs::write(dir.join("v.toml"), SIDECAR).unwrap();
    wait_for(&s, "B", "the mended sidecar");

    // With watching off for a moment (a file changed behind its back is
    // still the same stamp for us only if size and mtime are kept), force a
    // rescan: the API answers what changed, as admin.
    let (status, v) = json(s.post("/v1/plugins/reload").send().unwrap());
    assert_eq!(status, 200, "{v}");
    assert!(
        v["events"].as_array().unwrap().is_empty(),
        "nothing changed: {v}"
    );
    let (_, audit) = json(s.get("/v1/audit").send().unwrap());
    assert!(audit.to_string().contains("plugins.reload"), "{audit}");
    // SIGHUP rescans too and the server keeps running.
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    eventually(10, "the SIGHUP rescan", || {
        s.log().contains("SIGHUP: rescanning").then_some(())
    });
    assert_eq!(serving(&s), Some("B"));
    assert_eq!(s.signal_and_wait("TERM"), 0);
}

#[test]
fn the_cache_never_answers_for_a_version_that_is_gone() {
    let env = Env::new();
    let dir = env.plugins_dir();
    env.plugin(&a(), "v", Some(SIDECAR));
    let s = start(&env);
    let body = r#"{"same": "subject"}"#;
    let (_, first) = s.validate("?plugin=v", body);
    let (_, second) = s.validate("?plugin=v", body);
    assert_eq!(
        second["cached"], true,
        "the cache is on by default: {second}"
    );
    assert_eq!(version_of(&first), Some("A"));
    deploy(dir, &b(), "v");
    eventually(30, "the new version, not the cached answer", || {
        let (_, r) = s.validate("?plugin=v", body);
        (version_of(&r) == Some("B")).then_some(r)
    });
    let (_, r) = s.validate("?plugin=v", body);
    assert_eq!(version_of(&r), Some("B"));
    assert_eq!(
        r["cached"], true,
        "and the new version's answer is cached in turn"
    );
}

/// The issue's acceptance test: ≥ 4 clients for ≥ 20 s while `v` is
/// replaced ≥ 50 times, bad files are written, and another plugin is deleted
/// and re-added. No request may fail, each answer must be wholly one version,
/// each good write must serve within 1 s plus its compile time, and each bad
/// write (truncated, not wasm, a component of another world) must leave the
/// old version serving.
#[test]
fn churn_under_load_fails_no_request() {
    let env = Env::new();
    let dir = env.plugins_dir().to_owned();
    env.plugin(&a(), "v", Some(SIDECAR));
    env.plugin(&a(), "extra", None);
    let s = Arc::new(start(&env));
    assert_eq!(serving(&s), Some("A"));

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (s, stop, done) = (s.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (status, r) = s.validate("", r#"{"id": 1}"#);
                    if status != 200 || version_of(&r).is_none() {
                        bad.push(format!("{status}: {r}"));
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                bad
            })
        })
        .collect();

    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let mut swaps = 0;
    let bytes = std::fs::read(b()).unwrap();
    let router = std::fs::read(test_plugin("severity-router")).unwrap();
    while swaps < 50 || started.elapsed() < Duration::from_secs(20) {
        let (src, want) = if swaps % 2 == 0 {
            (b(), "B")
        } else {
            (a(), "A")
        };
        let t = Instant::now();
        deploy(&dir, &src, "v");
        wait_for(&s, want, "a swap under load");
        let took = t.elapsed();
        let compile = events(&s)
            .iter()
            .find(|e| e["plugin"] == "v" && e["outcome"] == "ok")
            .and_then(|e| e["compile_ms"].as_f64())
            .unwrap_or(0.0);
        // Serving within 1 s plus the compile time (the time measured here
        // also includes this test's own polling).
        let allowed = Duration::from_secs(1) + Duration::from_secs_f64(compile / 1e3);
        assert!(
            took <= allowed,
            "swap {swaps} took {took:?}, compile {compile} ms"
        );
        worst = worst.max(took);
        swaps += 1;
        match swaps % 10 {
            3 => std::fs::write(dir.join("v.wasm"), &bytes[..bytes.len() / 3]).unwrap(),
            4 => std::fs::write(dir.join("v.wasm"), &router).unwrap(),
            5 => std::fs::write(dir.join("v.wasm"), b"not wasm at all").unwrap(),
            7 => std::fs::remove_file(dir.join("extra.wasm")).unwrap(),
            8 => deploy(&dir, &a(), "extra"),
            _ => continue,
        }
        std::thread::sleep(Duration::from_millis(400));
        if matches!(swaps % 10, 3..=5) {
            // The old version still serves after a bad write.
            assert_eq!(serving(&s), Some(want), "after bad write {swaps}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let bad: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let n = done.load(Ordering::Relaxed);
    assert!(
        bad.is_empty(),
        "{} of {n} requests failed; first: {:?}",
        bad.len(),
        bad.first()
    );
    assert!(swaps >= 50 && n > 100, "{swaps} swaps, {n} requests");
    eprintln!("churn: {swaps} swaps, {n} requests, slowest swap {worst:?}");
}

#[test]
fn validator_settings_in_the_config_file_reload_too() {
    let env = Env::new();
    env.plugin(&b(), "v", None);
    let config = |mode: &str| {
        format!(
            "[plugins]\nrescan_secs = 0\n\n[[validator]]\nname = \"v\"\n[validator.config]\nmode = \"{mode}\"\n"
        )
    };
    let s = Server::start(
        &env,
        Start {
            config: &config("ok"),
            ..Start::default()
        },
    );
    assert_eq!(serving(&s), Some("B"));
    let file = env.work_dir().join("assay.toml");
    // An editor's save: write a temporary file, rename it over.
    std::fs::write(env.work_dir().join(".assay.toml.swp"), config("fail")).unwrap();
    std::fs::rename(env.work_dir().join(".assay.toml.swp"), &file).unwrap();
    eventually(30, "the config file change", || {
        let (_, r) = s.validate("?plugin=v", "{}");
        (r["plugins"][0]["outcome"] == "error").then_some(())
    });
    let ev = events(&s);
    assert_eq!(ev[0]["action"], "settings", "{ev:?}");
    assert_eq!(ev[0]["trigger"], "config");
    // A config file with an error changes nothing.
    std::fs::write(&file, "[[validator]\n").unwrap();
    eventually(30, "the bad config to be read", || {
        s.log()
            .contains("keeping the current plugin settings")
            .then_some(())
    });
    let (_, r) = s.validate("?plugin=v", "{}");
    assert_eq!(r["plugins"][0]["outcome"], "error", "{r}");
    std::fs::write(&file, config("ok")).unwrap();
    wait_for(&s, "B", "the mended config");
}
