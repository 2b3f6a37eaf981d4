//! Prepared plugins (`prepare` in `wit/plugin.wit`): a prepare that loops,
//! traps or grabs memory is bounded and reported at load, naming the plugin
//! and the limit; what a call changes in the prepared state never reaches
//! the next call.

use std::time::{Duration, Instant};

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

#[test]
fn what_a_call_changes_in_the_prepared_state_never_reaches_the_next_call() {
    let env = Env::new();
    env.plugin(&test_plugin("prepare-hostile"), "counter", None);
    let server = Server::with_config(&env, "[validation.cache]\nenabled = false\n");
    for _ in 0..5 {
        let (status, v) = server.validate("?plugin=counter", "{}");
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["findings"][0]["message"], "call number 1 on this prepared state",
            "{v}"
        );
    }
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
