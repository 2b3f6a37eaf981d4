//! Alertmanager's API v2 on assay, driven by the real clients: Debian's
//! Prometheus 2.42 sends its alerts to assay with a bearer token, and
//! `amtool` (Debian's prometheus-alertmanager 0.25) queries alerts and
//! adds, lists and expires silences. What they send meets assay's routers,
//! silences and outbox like every other alert.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::common::Env;
use crate::receivers::{Receiver, wait_listening};
use crate::server::{FAST_ALERTING, Server, Start, eventually, json};
use crate::targets::closed_port;

const TOKEN: &str = "prometheus-token-0123456789abcdef";

/// Whether `bin` runs; says why a test is skipped when not.
fn installed(bin: &str, package: &str) -> bool {
    let ok = Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: {bin} is not installed (`apt-get install {package}`; cargo xtask test installs it)"
        );
    }
    ok
}

/// `amtool ARGS --alertmanager.url=URL`: its stdout, or a panic with its stderr.
fn amtool(s: &Server, args: &[&str]) -> String {
    let out = Command::new("amtool")
        .args(args)
        .arg(format!("--alertmanager.url={}", s.url("")))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The names of the alerts in what the receiver was told, with their status.
fn told(r: &Receiver) -> Vec<(String, String)> {
    r.delivered("/hook")
        .iter()
        .flat_map(|n| {
            let n = n.json();
            let status = n["status"].as_str().unwrap_or("").to_owned();
            (n["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter())
            .map(move |a| (a["name"].as_str().unwrap_or("").to_owned(), status.clone()))
        })
        .collect()
}

#[test]
fn amtool_queries_alerts_and_its_silence_mutes_the_next_notification() {
    if !installed("amtool", "prometheus-alertmanager") {
        return;
    }
    let env = Env::new();
    let r = Receiver::start();
    let s = Server::with_config(&env, &format!("{FAST_ALERTING}{}", r.channel("hook", "")));
    let post = |name: &str| {
        let alerts = json!([{"labels": {"alertname": name, "instance": "db-1"},
                              "annotations": {"summary": format!("{name} on db-1")}}]);
        let resp = s.post("/api/v2/alerts").json(&alerts).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().unwrap());
    };
    post("DiskFull");
    eventually(20, "DiskFull delivered", || {
        told(&r).iter().any(|(n, _)| n == "DiskFull").then_some(())
    });
    let listed = amtool(&s, &["alert", "query"]);
    assert!(
        listed.contains("DiskFull") && listed.contains("DiskFull on db-1"),
        "{listed}"
    );
    let filtered = amtool(&s, &["alert", "query", "instance=db-2"]);
    assert!(!filtered.contains("DiskFull"), "{filtered}");

    // A silence made with amtool mutes the next alert it matches.
    let id = amtool(
        &s,
        &[
            "silence",
            "add",
            "alertname=Maintenance",
            "instance=~db-.*",
            "--comment=patching",
            "--duration=1h",
        ],
    )
    .trim()
    .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id:?}");
    let ids = amtool(&s, &["silence", "query", "-q"]);
    assert_eq!(ids.trim(), id);
    let shown = amtool(&s, &["silence", "query"]);
    assert!(
        shown.contains("patching") && shown.contains(r#"instance=~"db-.*""#),
        "{shown}"
    );
    post("Maintenance");
    let (_, alerts) = json(s.get("/api/v2/alerts").send().unwrap());
    let muted = eventually(10, "Maintenance listed as silenced", || {
        let (_, alerts) = json(s.get("/api/v2/alerts?active=false").send().unwrap());
        alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == "Maintenance")
            .cloned()
    });
    assert_eq!(muted["status"]["state"], "suppressed", "{alerts}");
    assert_eq!(muted["status"]["silencedBy"], json!([id]));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        !told(&r).iter().any(|(n, _)| n == "Maintenance"),
        "a silenced alert is not delivered"
    );
    amtool(&s, &["silence", "expire", &id]);
    assert_eq!(amtool(&s, &["silence", "query", "-q"]).trim(), "");
    let expired = amtool(&s, &["silence", "query", "--expired", "-q"]);
    assert_eq!(expired.trim(), id);
    // Once the silence is gone the alert goes out.
    eventually(
        20,
        "Maintenance delivered after the silence expired",
        || {
            told(&r)
                .iter()
                .any(|(n, _)| n == "Maintenance")
                .then_some(())
        },
    );
}

/// A Prometheus of its own on loopback, evaluating `rules` every second and
/// sending to assay at `assay` with the bearer token.
struct Prometheus {
    child: Child,
}

impl Prometheus {
    fn start(dir: &Path, assay: &Server) -> Prometheus {
        let port = closed_port();
        let target = assay
            .url("")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  evaluation_interval: 1s\n  scrape_interval: 1s\n\
                 rule_files: ['{}']\n\
                 alerting:\n  alertmanagers:\n    - api_version: v2\n      authorization:\n        credentials: {TOKEN}\n      static_configs:\n        - targets: ['{target}']\n",
                dir.join("rules.yml").display()
            ),
        )
        .unwrap();
        let mut child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Alerts evaluated before Prometheus has found its Alertmanagers
            // (a few seconds) are dropped and re-sent only after this delay
            // (1 minute by default).
            .arg("--rules.alert.resend-delay=1s")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        wait_listening(port, "prometheus", &mut child);
        Prometheus { child }
    }

    /// Reloads its config and rules (SIGHUP).
    fn reload(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_alerts_reach_the_receiver_through_assay_and_resolve_when_the_rule_goes() {
    if !installed("prometheus", "prometheus") {
        return;
    }
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        "[[auth.tokens]]\nname = \"prometheus\"\ntoken = \"${{T_PROM}}\"\nrole = \"operator\"\n{FAST_ALERTING}{}",
        r.channel("hook", "")
    );
    let s = Server::start(
        &env,
        Start {
            config: &config,
            env: &[("T_PROM", TOKEN)],
            ..Start::default()
        },
    );
    // Without the token, posting is refused.
    let anonymous = s.post("/api/v2/alerts").json(&json!([])).send().unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let dir = env.work_dir().join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let rule = "groups:\n  - name: assay\n    rules:\n      - alert: AlwaysOn\n        expr: vector(1)\n        labels:\n          severity: critical\n        annotations:\n          summary: it is always on\n";
    std::fs::write(dir.join("rules.yml"), rule).unwrap();
    let prom = Prometheus::start(&dir, &s);
    let firing = eventually(60, "AlwaysOn from Prometheus delivered", || {
        r.delivered("/hook")
            .into_iter()
            .map(|n| n.json())
            .find(|n| n["status"] == "firing" && n["alerts"][0]["name"] == "AlwaysOn")
    });
    // amtool with the token in its HTTP config file (viewer would do for a query).
    let http = dir.join("amtool-http.yml");
    std::fs::write(&http, format!("authorization:\n  credentials: {TOKEN}\n")).unwrap();
    let http_flag = format!("--http.config.file={}", http.display());
    let listed = amtool(&s, &["alert", "query", &http_flag]);
    assert!(listed.contains("AlwaysOn"), "{listed}");
    let refused = Command::new("amtool")
        .args(["alert", "query"])
        .arg(format!("--alertmanager.url={}", s.url("")))
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "amtool without the token is refused"
    );
    let alert: &Value = &firing["alerts"][0];
    assert_eq!(alert["severity"], "critical", "{firing}");
    assert_eq!(alert["summary"], "it is always on");
    assert!(
        alert["source"]
            .as_str()
            .unwrap()
            .starts_with("api/v2:prometheus"),
        "{alert}"
    );
    // The rule goes: Prometheus sends the resolution, and it is delivered.
    std::fs::write(dir.join("rules.yml"), "groups: []\n").unwrap();
    prom.reload();
    eventually(60, "the resolution delivered", || {
        told(&r)
            .iter()
            .any(|(n, st)| n == "AlwaysOn" && st == "resolved")
            .then_some(())
    });
}
