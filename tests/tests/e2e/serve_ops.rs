//! `assay serve` operations: monitors, restarts and crashes, graceful shutdown,
//! Prometheus conformance, the deploy/ files and `assay config check`.

use std::time::Duration;

use serde_json::Value;

use crate::common::{Env, bin, root, shipped, test_plugin};
use crate::server::{Server, Start, eventually, json};

fn reports(s: &Server, query: &str) -> Vec<Value> {
    let (_, v) = json(s.get(&format!("/v1/reports{query}")).send().unwrap());
    v["reports"].as_array().unwrap().clone()
}

#[test]
fn a_monitor_revalidates_when_its_files_change() {
    let env = Env::new();
    env.plugin(
        &shipped("required-fields"),
        "required-fields",
        Some("[config]\nfields = [{ pointer = \"/id\", type = \"string\" }]\n"),
    );
    let data = env.work_dir().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.json"), r#"{"id": "a"}"#).unwrap();
    std::fs::write(data.join("notes.txt"), "not matched").unwrap();
    let config = format!(
        "[[monitor]]\nname = \"records\"\npath = {:?}\nglob = \"*.json\"\nlevel = \"minimal\"\ninterval_secs = 3600\n",
        data
    );
    let s = Server::start(
        &env,
        Start {
            config: &config,
            ..Start::default()
        },
    );
    // A run's status is updated after all its files: then every report of it is in.
    eventually(30, "the first monitor run", || {
        let (_, m) = json(s.get("/v1/monitors").send().unwrap());
        (m["monitors"][0]["runs"] == 1).then_some(())
    });
    let first = reports(&s, "?source=monitor:records");
    assert_eq!(first.len(), 1, "only *.json: {first:?}");
    assert_eq!(first[0]["verdict"], "pass");

    // Replace the file the safe way (write, then rename over) with a failing one.
    std::fs::write(data.join(".a.json.tmp"), r#"{"name": "no id"}"#).unwrap();
    std::fs::rename(data.join(".a.json.tmp"), data.join("a.json")).unwrap();
    let latest = eventually(15, "a re-validation after the change", || {
        let r = reports(&s, "?source=monitor:records&limit=1");
        (r[0]["verdict"] == "fail").then(|| r[0].clone())
    });
    assert!(latest["subject"].as_str().unwrap().ends_with("a.json"));
    let (_, monitors) = json(s.get("/v1/monitors").send().unwrap());
    let m = &monitors["monitors"][0];
    assert_eq!(m["last_trigger"], "change", "{m}");
    assert_eq!(m["last_verdict"], "fail");
    let metrics = s.get("/metrics").send().unwrap().text().unwrap();
    assert!(
        metrics.contains("assay_monitor_last_verdict{monitor=\"records\",verdict=\"fail\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("assay_monitor_last_run_timestamp_seconds{monitor=\"records\"}"));

    // A live interval change is applied to the running monitor.
    let (st, _) = json(
        s.put("/v1/config")
            .body(r#"{"monitors": {"records": {"interval_secs": 1}}}"#)
            .send()
            .unwrap(),
    );
    assert_eq!(st, 200);
    eventually(15, "a run on the new 1 s interval", || {
        let (_, monitors) = json(s.get("/v1/monitors").send().unwrap());
        (monitors["monitors"][0]["last_trigger"] == "interval").then_some(())
    });
}

#[test]
fn history_survives_a_restart_and_a_kill_9() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    let mut s = Server::start(&env, Start::default());
    let mut ids = Vec::new();
    for i in 0..3 {
        let (st, r) = s.validate(&format!("?name=s{i}"), "{}");
        assert_eq!(st, 200);
        ids.push(r["id"].as_i64().unwrap());
    }
    s.crash();
    let mut s = Server::start(&env, Start::default());
    let kept = reports(&s, "");
    assert_eq!(kept.len(), 3, "every answered report survives kill -9");
    for id in &ids {
        let (st, r) = json(s.get(&format!("/v1/reports/{id}")).send().unwrap());
        assert_eq!((st, r["id"].as_i64()), (200, Some(*id)));
    }
    let (_, r) = s.validate("?name=s3", "{}");
    assert!(r["id"].as_i64().unwrap() > ids[2]);
    assert_eq!(s.signal_and_wait("TERM"), 0);
    let s = Server::start(&env, Start::default());
    assert_eq!(reports(&s, "").len(), 4);
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let env = Env::new();
    env.plugin(
        &test_plugin("misbehave"),
        "sleepy",
        // All four requests in flight at once: the whole pool, not the default half.
        Some("timeout_ms = 20000\nmax_concurrency = 4\n[config]\nmode = \"sleep\"\nsleep_ms = 2000\n"),
    );
    let mut s = Server::start(&env, Start::default());
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let url = s.url(&format!("/v1/validate?name=r{i}"));
            std::thread::spawn(move || {
                let resp = reqwest::blocking::Client::new()
                    .post(url)
                    .body("x")
                    .send()
                    .unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().unwrap();
                (status, body)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let started = std::time::Instant::now();
    assert_eq!(s.signal_and_wait("TERM"), 0, "{}", s.log());
    for c in clients {
        let (status, body) = c.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["plugins"][0]["outcome"], "ok", "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    let log = s.log();
    assert!(
        log.contains("SIGTERM: stopping")
            && log.contains("all requests finished")
            && log.contains("stopped"),
        "{log}"
    );
    // The four reports were stored before the answers went out.
    let s = Server::start(&env, Start::default());
    assert_eq!(reports(&s, "").len(), 4);
}

fn promtool() -> Option<&'static str> {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok();
    if !found && std::env::var_os("ASSAY_SKIP_PROMTOOL").is_none() {
        panic!(
            "promtool is not installed (apt-get install prometheus), or set ASSAY_SKIP_PROMTOOL=1"
        );
    }
    found.then_some("promtool")
}

#[test]
fn metrics_pass_promtool_and_deploy_files_name_real_metrics() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "trivial", None);
    env.plugin(&test_plugin("misbehave-probe"), "misbehave-probe", None);
    let watched = env.subject("watched.json", "{}");
    let config = format!(
        "[[monitor]]\nname = \"m\"\npath = {watched:?}\n\
         [[probe]]\nname = \"p\"\nplugin = \"misbehave-probe\"\ninterval = \"200ms\"\nconfig = '{{\"mode\": \"pass\"}}'\n"
    );
    let s = Server::start(
        &env,
        Start {
            config: &config,
            ..Start::default()
        },
    );
    s.validate("", "{}");
    eventually(30, "the monitor's first run", || {
        let (_, m) = json(s.get("/v1/monitors").send().unwrap());
        (m["monitors"][0]["runs"] == 1).then_some(())
    });
    eventually(30, "the probe's first result", || {
        let (_, p) = json(s.get("/v1/probes/p").send().unwrap());
        (p["state"] == "passing").then_some(())
    });
    let metrics = s.get("/metrics").send().unwrap().text().unwrap();
    let deploy = root().join("deploy");
    if let Some(promtool) = promtool() {
        let out = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .output_with_stdin(metrics.as_bytes())
            .expect("running promtool");
        assert!(
            out.status.success(),
            "promtool check metrics:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = std::process::Command::new(promtool)
            .args(["check", "rules"])
            .arg(deploy.join("prometheus/assay-rules.yml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check rules:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every assay_ metric the rules and the dashboard use is one the server exports.
    let exported: std::collections::BTreeSet<String> = metrics
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .flat_map(|l| {
            let name = l.split_whitespace().nth(2).unwrap().to_owned();
            let histogram = l.ends_with(" histogram");
            let mut names = vec![name.clone()];
            if histogram {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.push(format!("{name}{suffix}"));
                }
            }
            names
        })
        .collect();
    for file in ["prometheus/assay-rules.yml", "grafana/assay-dashboard.json"] {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap();
        if file.ends_with(".json") {
            serde_json::from_str::<Value>(&text).expect("the dashboard is JSON");
        }
        let mut used = 0;
        for (i, _) in text.match_indices("assay_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                exported.contains(&name),
                "{file} uses {name}, which /metrics does not export"
            );
            used += 1;
        }
        assert!(used > 3, "{file} uses no assay metrics");
    }
}

/// `Command::output` with bytes on stdin.
trait OutputWithStdin {
    fn output_with_stdin(&mut self, input: &[u8]) -> Option<std::process::Output>;
}

impl OutputWithStdin for std::process::Command {
    fn output_with_stdin(&mut self, input: &[u8]) -> Option<std::process::Output> {
        use std::io::Write;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(input).ok()?;
        child.wait_with_output().ok()
    }
}

/// Asserts a command exited 0, showing what it printed if not.
fn assert_passes(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `assay.toml` of `deploy/kubernetes/assay.yaml` (its ConfigMap) is a valid config,
/// with the database URL read from the mounted secret.
#[test]
fn the_kubernetes_example_config_checks() {
    let env = Env::new();
    let yaml = std::fs::read_to_string(root().join("deploy/kubernetes/assay.yaml")).unwrap();
    let mut lines = yaml
        .lines()
        .skip_while(|l| l.trim() != "assay.toml: |")
        .skip(1);
    let toml: Vec<&str> = lines
        .by_ref()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let secret = env.subject("url", "postgres://assay:pw@db.example:5432/assay\n");
    let toml = toml.join("\n").replace(
        "/var/run/secrets/assay-database/url",
        secret.to_str().unwrap(),
    );
    assert!(
        toml.contains("[cluster]") && toml.contains("url_file"),
        "{toml}"
    );
    let config = env.subject("k8s.toml", toml);
    let out = env
        .assay()
        .env_remove("ASSAY_STORAGE__URL")
        .env("ASSAY_PLUGINS__DIR", env.plugins_dir())
        .args(["config", "check", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_passes(&out);
    for needed in [
        "kind: Deployment",
        "kind: Service",
        "kind: PodDisruptionBudget",
        "path: /ready",
        "path: /health",
    ] {
        assert!(yaml.contains(needed), "the example lacks {needed:?}");
    }
}

#[test]
fn config_check_accepts_the_sample_and_names_what_is_wrong() {
    let env = Env::new();
    let sample = root().join("deploy/assay.toml");
    let out = env
        .assay()
        .args(["config", "check", sample.to_str().unwrap()])
        .env("ASSAY_PLUGINS__DIR", env.plugins_dir())
        .env("ASSAY_ADMIN_TOKEN", "admin-0123456789abcdef")
        .env("ASSAY_CI_TOKEN", "ci-0123456789abcdef01")
        .env("ASSAY_DASHBOARD_TOKEN", "dash-0123456789abcdef")
        .output()
        .unwrap();
    assert_passes(&out);

    let bad = env.subject(
        "bad.toml",
        "[server]\nlisten = \"127.0.0.1:8080\"\n\n[validation]\ndefault_levle = \"full\"\n",
    );
    let run = env.run(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("line 5") && run.stderr.contains("unknown field `default_levle`"),
        "{}",
        run.stderr
    );

    let open = env.subject(
        "open.toml",
        format!(
            "[server]\nlisten = \"0.0.0.0:8080\"\n[plugins]\ndir = {:?}\n",
            env.plugins_dir()
        ),
    );
    let run = env.run(&["config", "check", open.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no [[auth.tokens]]"), "{}", run.stderr);
}

/// `deploy/Containerfile` (no image can be built here: no base image): each
/// COPY names what the build makes, the binary needs no library that
/// distroless's `cc` image lacks and no glibc newer than its 2.36, and the
/// image's settings (its ENV, ENTRYPOINT and CMD, paths moved under a
/// temporary root) serve the shipped plugins.
#[test]
fn the_containerfile_names_real_files_and_its_settings_serve() {
    use std::io::BufRead;
    let text = std::fs::read_to_string(root().join("deploy/Containerfile")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.contains(&"FROM gcr.io/distroless/cc-debian12:nonroot"));
    for l in lines.iter().filter(|l| l.starts_with("COPY ")) {
        let src = l.split_whitespace().nth(1).unwrap();
        let path = if src == "target/release/assay" {
            bin()
        } else {
            root().join(src)
        };
        assert!(path.exists(), "{l}: {} is not there", path.display());
    }
    let readelf = std::process::Command::new("readelf")
        .arg("-dW")
        .arg(bin())
        .output()
        .unwrap();
    let needed: Vec<String> = String::from_utf8_lossy(&readelf.stdout)
        .lines()
        .filter_map(|l| l.split("Shared library: [").nth(1))
        .map(|l| l.trim_end_matches(']').to_owned())
        .collect();
    let base = [
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "ld-linux-x86-64.so.2",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
    ];
    assert!(
        !needed.is_empty() && needed.iter().all(|n| base.contains(&n.as_str())),
        "{needed:?}"
    );
    let symbols = std::process::Command::new("objdump")
        .arg("-T")
        .arg(bin())
        .output()
        .unwrap();
    let newest = String::from_utf8_lossy(&symbols.stdout)
        .split("GLIBC_")
        .skip(1)
        .filter_map(|v| {
            let v: String = v
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let (major, minor) = v.split_once('.')?;
            Some((
                major.parse::<u32>().ok()?,
                minor.split('.').next()?.parse::<u32>().ok()?,
            ))
        })
        .max()
        .unwrap();
    assert!(
        newest <= (2, 36),
        "the binary needs glibc {newest:?}, newer than Debian 12's 2.36"
    );

    // ENV KEY=VALUE \ … ; ENTRYPOINT [...]; CMD [...]
    let joined = text.replace("\\\n", " ");
    let env_line = joined.lines().find(|l| l.starts_with("ENV ")).unwrap();
    let words =
        |l: &str| -> Vec<String> { serde_json::from_str(l.split_once(' ').unwrap().1).unwrap() };
    let entry = words(
        joined
            .lines()
            .find(|l| l.starts_with("ENTRYPOINT "))
            .unwrap(),
    );
    let cmd = words(joined.lines().find(|l| l.starts_with("CMD ")).unwrap());
    let env = Env::new();
    let fs_root = env.work_dir().join("image");
    let plugins = fs_root.join("usr/share/assay/plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    for e in std::fs::read_dir(root().join("plugins.d"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(e.path(), plugins.join(e.file_name())).unwrap();
    }
    let mut c = std::process::Command::new(bin());
    c.env_remove("ASSAY_CONFIG")
        .env_remove("ASSAY_PLUGINS_DIR")
        .env_remove("ASSAY_STORAGE__URL");
    for kv in env_line.split_whitespace().skip(1) {
        let (k, v) = kv.split_once('=').unwrap();
        let v = match k {
            // The compiled plugins the other tests share.
            "ASSAY_CACHE_DIR" => root().join("target/e2e-cache").display().to_string(),
            _ if v.starts_with('/') => fs_root.join(&v[1..]).display().to_string(),
            _ => v.to_owned(),
        };
        c.env(k, v);
    }
    c.env("ASSAY_SERVER__LISTEN", "127.0.0.1:0")
        .args(&entry[1..])
        .args(&cmd)
        .current_dir(env.work_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut base_url = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("--log-format json wrote a line that is not JSON ({e}): {line}")
        });
        let msg = v["message"].as_str().unwrap_or_default().to_owned();
        if let Some(addr) = msg.split("listening on http://").nth(1) {
            base_url = Some(format!("http://{}", addr.trim()));
            break;
        }
        seen.push(line);
        assert!(seen.len() < 200, "{seen:#?}");
    }
    let base_url = base_url.unwrap_or_else(|| panic!("it never listened: {seen:#?}"));
    let client = reqwest::blocking::Client::new();
    let listed = eventually(120, "the shipped plugins loaded", || {
        let ready = client.get(format!("{base_url}/ready")).send().ok()?;
        (ready.status() == 200).then_some(())?;
        let (_, v) = json(client.get(format!("{base_url}/v1/plugins")).send().unwrap());
        Some(v["plugins"].as_array()?.len())
    });
    let _ = child.kill();
    let _ = child.wait();
    let shipped = std::fs::read_dir(root().join("plugins.d")).unwrap().count();
    assert_eq!(listed, shipped);
    assert!(
        fs_root.join("var/lib/assay/assay.db").exists(),
        "the store is on the volume"
    );
}
