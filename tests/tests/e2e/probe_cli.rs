//! `assay probe run`: every shipped probe's pass, warn and fail paths, every
//! grant refused when not given, timeouts, and the Nagios exit codes.

use std::path::Path;

use serde_json::Value;

use crate::common::{Env, Run, shipped, test_plugin};
use crate::targets::{HttpTarget, SilentTarget, closed_port};

/// `assay probe run --plugin FILE --format json --plugin-config CONFIG ARGS…`.
pub(crate) fn probe(plugin: &Path, config: &str, args: &[&str]) -> (Run, Value) {
    let env = Env::new();
    let mut all = vec![
        "probe",
        "run",
        "--plugin",
        plugin.to_str().unwrap(),
        "--format",
        "json",
        "--plugin-config",
        config,
    ];
    all.extend_from_slice(args);
    let run = env.run(&all);
    let v: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", run.stdout, run.stderr));
    (run, v)
}

/// Asserts the exit code and status, and that the message contains `needle`.
#[track_caller]
fn expect(result: &(Run, Value), code: i32, status: &str, needle: &str) {
    let (run, v) = result;
    assert_eq!(run.code, code, "{v}\nstderr: {}", run.stderr);
    assert_eq!(v["status"], status, "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

fn denied(v: &Value) -> String {
    v["denied"].to_string()
}

#[test]
fn http_pass_warn_fail_and_denied() {
    let t = HttpTarget::start();
    let http = shipped("http");
    let allow = t.addr.to_string();
    let a = ["--allow-http", allow.as_str()];
    let url = t.url("/health");
    let ok = probe(
        &http,
        &format!(r#"{{"url": "{url}", "json": {{"/status": "ok"}}}}"#),
        &a,
    );
    expect(&ok, 0, "pass", "200");
    let names: Vec<&str> = ok.1["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["latency_seconds", "status_code", "body_bytes"]);

    t.set_delay_ms(60);
    let slow = format!(r#"{{"url": "{url}", "warn_latency_ms": 20}}"#);
    expect(&probe(&http, &slow, &a), 1, "warn", "slower than 20 ms");
    t.set_delay_ms(0);

    t.set_status(503);
    expect(
        &probe(&http, &format!(r#"{{"url": "{url}"}}"#), &a),
        2,
        "fail",
        "status 503",
    );
    let accept = format!(r#"{{"url": "{url}", "expect_status": ["5xx"]}}"#);
    expect(&probe(&http, &accept, &a), 0, "pass", "503");
    t.set_status(200);
    t.set_body("{\"status\":\"degraded\"}");
    let json = format!(r#"{{"url": "{url}", "json": {{"/status": "ok"}}}}"#);
    expect(
        &probe(&http, &json, &a),
        2,
        "fail",
        "/status is \"degraded\"",
    );
    let re = format!(r#"{{"url": "{url}", "body_regex": "\"status\":\\s*\"ok\""}}"#);
    expect(&probe(&http, &re, &a), 2, "fail", "does not match");

    // Not granted: refused before any connection is made.
    let hits = t.hits();
    let r = probe(
        &http,
        &format!(r#"{{"url": "{url}"}}"#),
        &["--allow-http", "127.0.0.1:1"],
    );
    expect(&r, 2, "fail", "denied by the host");
    assert!(denied(&r.1).contains("not in allow_http"), "{}", r.1);
    assert_eq!(t.hits(), hits, "a denied request reached the target");
    // A granted name does not grant the same address under another name.
    let by_name = format!(r#"{{"url": "http://localhost:{}/"}}"#, t.addr.port());
    expect(&probe(&http, &by_name, &a), 2, "fail", "denied");
}

#[test]
fn timeouts_fail_with_the_time_taken() {
    let silent = SilentTarget::start();
    let allow = silent.addr.to_string();
    let url = format!("http://{allow}/");
    let started = std::time::Instant::now();
    let r = probe(
        &shipped("http"),
        &format!(r#"{{"url": "{url}"}}"#),
        &["--allow-http", &allow, "--timeout", "300ms"],
    );
    expect(&r, 2, "fail", "");
    let msg = r.1["message"].as_str().unwrap();
    assert!(
        msg.contains("timed out") || msg.contains("timeout after"),
        "{msg}"
    );
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );

    // A TCP probe whose expected banner never comes: the host's deadline ends it.
    let r = probe(
        &shipped("tcp"),
        &format!(r#"{{"address": "{allow}", "expect": "hello", "timeout_ms": 60000}}"#),
        &["--allow-tcp", &allow, "--timeout", "300ms"],
    );
    expect(&r, 2, "fail", "timeout after 300ms");
    // So do a plugin that spins and one that sleeps.
    let mis = test_plugin("misbehave-probe");
    expect(
        &probe(&mis, r#"{"mode": "loop"}"#, &["--timeout", "200ms"]),
        2,
        "fail",
        "timeout after 200ms",
    );
    expect(
        &probe(&mis, r#"{"mode": "sleep"}"#, &["--timeout", "200ms"]),
        2,
        "fail",
        "timeout after 200ms",
    );
}

#[test]
fn tcp_and_dns_grants_are_checked_after_resolution() {
    let t = HttpTarget::start();
    let port = t.addr.port();
    let tcp = shipped("tcp");
    let exchange = format!(
        r#"{{"address": "127.0.0.1:{port}", "send": "GET / HTTP/1.0\r\n\r\n", "expect": "HTTP/1.1 200"}}"#
    );
    let allow = format!("127.0.0.1:{port}");
    expect(
        &probe(&tcp, &exchange, &["--allow-tcp", &allow]),
        0,
        "pass",
        "connected",
    );
    let closed = format!(r#"{{"address": "127.0.0.1:{}"}}"#, closed_port());
    expect(
        &probe(&tcp, &closed, &["--allow-tcp", "127.0.0.1:*"]),
        2,
        "fail",
        "cannot connect",
    );
    // Not in allow_tcp.
    let r = probe(&tcp, &exchange, &["--allow-tcp", "127.0.0.1:1"]);
    expect(&r, 2, "fail", "cannot connect");
    assert!(denied(&r.1).contains("not in allow_tcp"), "{}", r.1);
    // A name that resolves to an address outside the grant is refused.
    let by_name = format!(r#"{{"address": "localhost:{port}"}}"#);
    let other = format!("127.0.0.2:{port}");
    let r = probe(&tcp, &by_name, &["--allow-dns", "--allow-tcp", &other]);
    expect(&r, 2, "fail", "cannot connect");
    assert!(denied(&r.1).contains("127.0.0.1"), "{}", r.1);
    // The name granted: the host resolves it too, and the address matches.
    let name = format!("localhost:{port}");
    expect(
        &probe(&tcp, &by_name, &["--allow-dns", "--allow-tcp", &name]),
        0,
        "pass",
        "",
    );
    // Without allow_dns, no lookup at all.
    expect(
        &probe(&tcp, &by_name, &["--allow-tcp", &name]),
        2,
        "fail",
        "cannot resolve",
    );

    let dns = shipped("dns");
    let want = r#"{"name": "localhost", "expect": ["127.0.0.1"]}"#;
    expect(&probe(&dns, want, &["--allow-dns"]), 0, "pass", "127.0.0.1");
    expect(&probe(&dns, want, &[]), 2, "fail", "allow_dns");
    let slow = r#"{"name": "localhost", "warn_latency_ms": 0}"#;
    expect(
        &probe(&dns, slow, &["--allow-dns"]),
        1,
        "warn",
        "slower than 0 ms",
    );
    let wrong = r#"{"name": "localhost", "expect": ["10.9.9.9"]}"#;
    expect(
        &probe(&dns, wrong, &["--allow-dns"]),
        2,
        "fail",
        "missing 10.9.9.9",
    );
    let many = r#"{"name": "localhost", "min_addresses": 50}"#;
    expect(
        &probe(&dns, many, &["--allow-dns"]),
        2,
        "fail",
        "at least 50",
    );
}

#[test]
fn files_and_system_statistics_need_their_grants() {
    let root = tempfile::tempdir().unwrap();
    let granted = root.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    let file = granted.join("backup.tar");
    std::fs::write(&file, vec![0u8; 2048]).unwrap();
    let secret = root.path().join("secret");
    std::fs::write(&secret, b"top secret").unwrap();
    let dir = granted.to_str().unwrap();
    let ff = shipped("file-freshness");
    let cfg = |path: &Path, extra: &str| {
        format!(
            r#"{{"path": "{}", "max_age_secs": 3600{extra}}}"#,
            path.display()
        )
    };
    expect(
        &probe(&ff, &cfg(&file, ""), &["--allow-read", dir]),
        0,
        "pass",
        "2048 bytes",
    );
    expect(
        &probe(
            &ff,
            &cfg(&file, r#", "min_size_bytes": 4096"#),
            &["--allow-read", dir],
        ),
        2,
        "fail",
        "smaller than 4096",
    );
    // Make the file old: warn, then fail.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let warn_only = format!(r#"{{"path": "{}", "warn_age_secs": 60}}"#, file.display());
    expect(
        &probe(&ff, &warn_only, &["--allow-read", dir]),
        1,
        "warn",
        "older than 60 s",
    );
    expect(
        &probe(&ff, &cfg(&file, ""), &["--allow-read", dir]),
        2,
        "fail",
        "older than 3600 s",
    );
    // Outside allow_read, or with no grant: invisible.
    expect(
        &probe(&ff, &cfg(&secret, ""), &["--allow-read", dir]),
        2,
        "fail",
        "cannot read",
    );
    expect(&probe(&ff, &cfg(&file, ""), &[]), 2, "fail", "cannot read");
    let mis = test_plugin("misbehave-probe");
    let read = format!(r#"{{"mode": "file", "path": "{}/../secret"}}"#, dir);
    expect(
        &probe(&mis, &read, &["--allow-read", dir]),
        2,
        "fail",
        "cannot read",
    );
    // The environment of the host is not the probe's.
    expect(
        &probe(&mis, r#"{"mode": "env"}"#, &[]),
        0,
        "pass",
        "0 environment variables",
    );

    let disk = shipped("disk-space");
    let path = format!(r#"{{"path": "{dir}", "fail_free_percent": 0.0001}}"#);
    let r = probe(&disk, &path, &["--allow-system", "--allow-read", dir]);
    expect(&r, 0, "pass", "free of");
    let full = format!(r#"{{"path": "{dir}", "warn_free_percent": 100.1}}"#);
    expect(
        &probe(&disk, &full, &["--allow-system", "--allow-read", dir]),
        1,
        "warn",
        "free",
    );
    let full = format!(r#"{{"path": "{dir}", "fail_free_percent": 100.1}}"#);
    expect(
        &probe(&disk, &full, &["--allow-system", "--allow-read", dir]),
        2,
        "fail",
        "free",
    );
    let r = probe(&disk, &path, &["--allow-read", dir]);
    expect(&r, 2, "fail", "not granted");
    assert!(denied(&r.1).contains("allow_system"), "{}", r.1);
    let outside = format!(r#"{{"path": "{}"}}"#, root.path().display());
    expect(
        &probe(&disk, &outside, &["--allow-system", "--allow-read", dir]),
        2,
        "fail",
        "allow_read",
    );

    let mem = shipped("memory");
    expect(
        &probe(
            &mem,
            r#"{"fail_available_percent": 0.0001}"#,
            &["--allow-system"],
        ),
        0,
        "pass",
        "MiB available",
    );
    expect(
        &probe(
            &mem,
            r#"{"warn_available_percent": 100.1}"#,
            &["--allow-system"],
        ),
        1,
        "warn",
        "MiB available",
    );
    expect(
        &probe(
            &mem,
            r#"{"fail_available_bytes": 18446744073709551615}"#,
            &["--allow-system"],
        ),
        2,
        "fail",
        "MiB",
    );
    expect(&probe(&mem, "{}", &[]), 2, "fail", "not granted");
}

#[test]
fn exit_codes_follow_the_nagios_convention() {
    let mis = test_plugin("misbehave-probe");
    expect(&probe(&mis, r#"{"mode": "pass"}"#, &[]), 0, "pass", "fine");
    expect(&probe(&mis, r#"{"mode": "warn"}"#, &[]), 1, "warn", "meh");
    expect(
        &probe(&mis, r#"{"mode": "fail"}"#, &[]),
        2,
        "fail",
        "broken",
    );
    expect(
        &probe(&mis, r#"{"mode": "error"}"#, &[]),
        3,
        "unknown",
        "cannot do this",
    );
    expect(
        &probe(&mis, r#"{"mode": "trap"}"#, &[]),
        3,
        "unknown",
        "trapped",
    );
    // A bad grant or a missing file: unknown, with the reason.
    expect(
        &probe(&mis, "{}", &["--allow-http", "nohost"]),
        3,
        "unknown",
        "no port",
    );
    let env = Env::new();
    let run = env.run(&["probe", "run", "--plugin", "/nonexistent.wasm"]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run.stdout.starts_with("UNKNOWN - "), "{}", run.stdout);
    let run = env.run(&["probe", "run", "--no-such-flag"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    // Text output is a Nagios status line with performance data.
    let run = env.run(&[
        "probe",
        "run",
        "--plugin",
        mis.to_str().unwrap(),
        "--plugin-config",
        r#"{"mode": "warn"}"#,
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .starts_with("WARNING - misbehave-probe: meh | duration_seconds="),
        "{}",
        run.stdout
    );
}

#[test]
fn configured_instances_run_by_name() {
    let t = HttpTarget::start();
    let env = Env::new();
    env.plugin(&shipped("http"), "http", Some(&format!(
        "[[probe]]\nname = \"from-sidecar\"\nallow_http = [\"{}\"]\nconfig = '{{\"url\": \"{}\"}}'\n",
        t.addr, t.url("/")
    )));
    let config = env.subject("assay.toml", format!(
        "[[probe]]\nname = \"from-config\"\nplugin = \"http\"\nallow_http = [\"{}\"]\n[probe.config]\nurl = \"{}\"\n",
        t.addr, t.url("/x")
    ));
    let c = config.to_str().unwrap();
    for name in ["from-sidecar", "from-config"] {
        let run = env.run(&["--config", c, "probe", "run", name]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.starts_with(&format!("OK - {name}: 200")),
            "{}",
            run.stdout
        );
    }
    let run = env.run(&["--config", c, "probe", "run", "nope"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stdout.contains("no probe instance named \"nope\""),
        "{}",
        run.stdout
    );
}
