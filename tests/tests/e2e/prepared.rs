//! Prepared plugins (`prepare` in `wit/plugin.wit`): a prepare that loops,
//! traps or grabs memory is bounded and reported at load, naming the plugin
//! and the limit; what a call changes in the prepared state never reaches
//! the next call.

use std::time::{Duration, Instant};

use crate::common::{Env, test_plugin};
use crate::server::Server;

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
