//! No secret leaks: every kind of secret gets a unique marker value, the
//! host is driven through failing and succeeding deliveries on every channel
//! type, config errors beside secrets, reloads, a rotated token file,
//! `assay alert test`, and every read endpoint as every role; then the whole
//! log (at debug and trace), every answer, `/metrics` and the CLI's output
//! are searched for the markers.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{Env, Run, test_plugin};
use crate::receivers::{Mode, Receiver, SmtpSink};
use crate::server::{FAST_ALERTING, Server, Start, eventually};
use crate::targets::closed_port;

/// One marker per secret, unique to this run.
struct Markers {
    all: Vec<(&'static str, String)>,
}

impl Markers {
    fn new() -> Markers {
        let salt = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_007;
        let kinds = [
            "tokadmin",
            "tokadmintwo",
            "tokoper",
            "tokview",
            "header",
            "hmac",
            "qok",
            "qecho",
            "pathdown",
            "qdown",
            "slackok",
            "slackdown",
            "ampwok",
            "ampwdown",
            "smtppw",
            "typo",
            "typosecret",
            "hmactwo",
        ];
        Markers {
            all: kinds
                .iter()
                .map(|k| (*k, format!("Mk{k}Z{salt:09}Q")))
                .collect(),
        }
    }

    fn get(&self, kind: &str) -> &str {
        &self.all.iter().find(|(k, _)| *k == kind).unwrap().1
    }

    /// Each marker found in `text`, with where.
    fn leaks(&self, place: &str, text: &str) -> Vec<String> {
        self.all
            .iter()
            .filter(|(_, m)| text.contains(m.as_str()))
            .map(|(k, m)| {
                let at = text.find(m.as_str()).unwrap();
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(120)
                    .map_or(0, |(i, _)| i);
                let context: String = text[from..].chars().take(240).collect();
                format!("{k} in {place}: …{context}…")
            })
            .collect()
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

fn config(m: &Markers, r: &Receiver, echo: &Receiver, smtp: &SmtpSink, token_hash: &str) -> String {
    let down = closed_port();
    format!(
        r#"{FAST_ALERTING}
max_attempts = 2
backoff_base = "100ms"
backoff_max = "200ms"

[[auth.tokens]]
name = "root"
token_file = "admin.token"
role = "admin"

[[auth.tokens]]
name = "ops"
token = "${{E2E_TOK_OPER}}"
role = "operator"

[[auth.tokens]]
name = "watcher"
token_sha256 = "{token_hash}"
role = "viewer"

[[channel]]
name = "hook-ok"
type = "webhook"
url = "{hook_ok}"
secret_file = "hmac.key"
headers = {{ Authorization = "Bearer ${{E2E_HDR}}" }}

[[channel]]
name = "hook-echo"
type = "webhook"
url = "{hook_echo}"
headers = {{ Authorization = "Bearer ${{E2E_HDR}}" }}

[[channel]]
name = "hook-down"
type = "webhook"
url = "http://127.0.0.1:{down}/hooks/{path_down}?token={q_down}"

[[channel]]
name = "slack-ok"
type = "slack"
url = "{slack_ok}"

[[channel]]
name = "slack-down"
type = "slack"
url = "http://127.0.0.1:{down}/services/T0000/B0000/{slack_down}"

[[channel]]
name = "am-ok"
type = "alertmanager"
url = "http://assay:{am_ok}@{r_addr}"

[[channel]]
name = "am-down"
type = "alertmanager"
url = "http://assay:{am_down}@127.0.0.1:{down}"

[[channel]]
name = "mail-ok"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_tls = "none"
from = "assay@example.com"
to = ["ops@example.com"]

[[channel]]
name = "mail-auth"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_tls = "none"
username = "assay"
password_file = "smtp.password"
from = "assay@example.com"
to = ["ops@example.com"]

[[channel]]
name = "log"
type = "log"

[[channel]]
name = "file-ok"
type = "file"
path = "notifications.jsonl"

[[channel]]
name = "file-down"
type = "file"
path = "/nonexistent-dir/notifications.jsonl"
"#,
        hook_ok = r.url(&format!("/hook-ok?token={}", m.get("qok"))),
        hook_echo = echo.url(&format!("/echo?token={}", m.get("qecho"))),
        path_down = m.get("pathdown"),
        q_down = m.get("qdown"),
        slack_ok = r.url(&format!("/services/T0000/B0000/{}", m.get("slackok"))),
        slack_down = m.get("slackdown"),
        am_ok = m.get("ampwok"),
        am_down = m.get("ampwdown"),
        r_addr = r.addr,
        smtp_port = smtp.port,
    )
}

struct Seen {
    places: Vec<(String, String)>,
}

impl Seen {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.places.push((place.into(), text.into()));
    }

    fn run(&mut self, place: &str, run: &Run) {
        self.add(format!("{place} (stdout)"), run.stdout.clone());
        self.add(format!("{place} (stderr)"), run.stderr.clone());
    }
}

fn cli(env: &Env, m: &Markers, args: &[&str]) -> Run {
    env.assay()
        .args(args)
        .env("E2E_TOK_OPER", m.get("tokoper"))
        .env("E2E_HDR", m.get("header"))
        .env("ASSAY_LOG", "debug")
        .output()
        .unwrap()
        .into()
}

fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = server.get(path);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn no_secret_reaches_a_log_line_an_answer_a_metric_or_the_cli() {
    let env = Env::new();
    env.plugin(&test_plugin("trivial"), "healthy", None);
    let m = Markers::new();
    let dir = env.work_dir();
    write(dir, "admin.token", &format!("{}\n", m.get("tokadmin")));
    write(dir, "hmac.key", m.get("hmac"));
    write(dir, "smtp.password", m.get("smtppw"));
    let view_hash = hex::encode(Sha256::digest(m.get("tokview").as_bytes()));

    let r = Receiver::start();
    let echo = Receiver::start();
    echo.set_mode(Mode::Echo(500));
    let smtp = SmtpSink::start(dir);
    let good = config(&m, &r, &echo, &smtp, &view_hash);
    let mut server = Server::start(
        &env,
        Start {
            config: &good,
            env: &[
                ("E2E_TOK_OPER", m.get("tokoper")),
                ("E2E_HDR", m.get("header")),
                ("ASSAY_LOG", "trace"),
            ],
            wait_ready: false,
            ..Start::default()
        },
    );
    let admin = m.get("tokadmin").to_owned();
    let oper = m.get("tokoper").to_owned();
    let view = m.get("tokview").to_owned();
    eventually(60, "ready", || {
        (get(&server, "/ready", None).0 == 200).then_some(())
    });
    let mut seen = Seen { places: Vec::new() };

    // An alert reaches every channel; a validation makes a report.
    let resp = server
        .post("/v1/alerts")
        .bearer_auth(&oper)
        .json(&json!({"alerts": [{"name": "DiskFull", "severity": "critical", "summary": "disk full", "labels": {"host": "db-1"}}]}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    seen.add("POST /v1/alerts", resp.text().unwrap());
    let resp = server
        .post("/v1/validate?plugin=healthy")
        .bearer_auth(&oper)
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    seen.add("POST /v1/validate", resp.text().unwrap());

    // Succeeding deliveries carried the secrets where they belong.
    let hook = eventually(30, "the webhook delivery", || {
        r.all()
            .into_iter()
            .find(|q| q.path.starts_with("/hook-ok") && q.delivered())
    });
    assert!(hook.path.contains(m.get("qok")));
    assert_eq!(
        hook.header("authorization").unwrap(),
        format!("Bearer {}", m.get("header"))
    );
    assert_eq!(
        hook.header("x-assay-signature").unwrap(),
        format!("sha256={}", hmac_hex(m.get("hmac"), &hook.body))
    );
    eventually(30, "the Slack and Alertmanager deliveries", || {
        let all = r.all();
        let slack = all
            .iter()
            .any(|q| q.path.contains(m.get("slackok")) && q.delivered());
        let am = all
            .iter()
            .any(|q| q.path == "/api/v2/alerts" && q.delivered());
        (slack && am).then_some(())
    });
    eventually(30, "the email", || {
        (!smtp.messages().is_empty()).then_some(())
    });
    eventually(30, "the file channel", || {
        dir.join("notifications.jsonl").exists().then_some(())
    });

    // Failing ones: refused connections, a receiver quoting the request
    // back (URL token and Authorization header), an SMTP server without AUTH.
    let failing = [
        "hook-echo",
        "hook-down",
        "file-down",
        "slack-down",
        "am-down",
        "mail-auth",
    ];
    let notes = eventually(60, "every failing channel's error recorded", || {
        let (status, text) = get(&server, "/v1/notifications?limit=500", Some(&view));
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let errs: Vec<(String, String)> = v["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| {
                Some((
                    n["channel"].as_str()?.to_owned(),
                    n["last_error"].as_str()?.to_owned(),
                ))
            })
            .collect();
        failing
            .iter()
            .all(|c| errs.iter().any(|(ch, _)| ch == c))
            .then_some(errs)
    });
    // The echo really did quote the secrets, and what is kept says so.
    let echoed = echo.all();
    assert!(!echoed.is_empty());
    let (_, echo_err) = notes.iter().find(|(c, _)| c == "hook-echo").unwrap();
    assert!(echo_err.contains("<redacted>"), "{echo_err}");
    assert!(echo_err.contains("500"), "{echo_err}");
    let (_, down_err) = notes.iter().find(|(c, _)| c == "hook-down").unwrap();
    assert!(!down_err.is_empty());

    // `assay alert test` on each kind of channel, as an operator would.
    let config_path = dir.join("assay.toml");
    let config_arg = config_path.to_str().unwrap();
    for channel in [
        "hook-ok",
        "hook-echo",
        "hook-down",
        "slack-down",
        "am-down",
        "mail-auth",
    ] {
        let run = cli(
            &env,
            &m,
            &[
                "--config",
                config_arg,
                "alert",
                "test",
                "--channel",
                channel,
            ],
        );
        let expect_ok = channel == "hook-ok";
        assert_eq!(
            run.code == 0,
            expect_ok,
            "{channel}: {} {}",
            run.stdout,
            run.stderr
        );
        seen.run(&format!("assay alert test --channel {channel}"), &run);
    }

    // Config errors beside secrets: a misspelt secret key, and an unknown key next to one.
    let typo = good.replace(
        "name = \"mail-auth\"",
        &format!(
            "name = \"mail-auth\"\nsmtp_password = \"{}\"",
            m.get("typo")
        ),
    );
    write(dir, "typo.toml", &typo);
    let run = cli(
        &env,
        &m,
        &["config", "check", dir.join("typo.toml").to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("smtp_password") && run.stderr.contains("line"),
        "{}",
        run.stderr
    );
    seen.run("assay config check typo.toml", &run);
    let beside = good.replace(
        "token_file = \"admin.token\"",
        &format!("token = \"{}\"\ntokne = \"x\"", m.get("typosecret")),
    );
    write(dir, "beside.toml", &beside);
    let run = cli(
        &env,
        &m,
        &["config", "check", dir.join("beside.toml").to_str().unwrap()],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("tokne"), "{}", run.stderr);
    seen.run("assay config check beside.toml", &run);
    // The same typo in the served file: the reload is refused, and logged.
    write(dir, "assay.toml", &typo);
    eventually(20, "the refused reload", || {
        server
            .log()
            .contains("keeping the current plugin settings")
            .then_some(())
    });
    write(dir, "assay.toml", &good);

    // A rotated token file and signing secret take effect without a restart.
    write(dir, "admin.token", m.get("tokadmintwo"));
    write(dir, "hmac.key", m.get("hmactwo"));
    let admin2 = m.get("tokadmintwo").to_owned();
    eventually(20, "the rotated admin token", || {
        (get(&server, "/v1/audit", Some(&admin2)).0 == 200).then_some(())
    });
    assert_eq!(get(&server, "/v1/audit", Some(&admin)).0, 401);
    eventually(20, "the channel's new secret", || {
        server
            .log()
            .contains("channels with new secrets: hook-ok")
            .then_some(())
    });
    let resp = server
        .post("/v1/alerts")
        .bearer_auth(&oper)
        .json(&json!({"alerts": [{"name": "AfterRotation", "severity": "critical", "summary": "after"}]}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    let signed = eventually(30, "a delivery signed with the new secret", || {
        r.all().into_iter().find(|q| {
            q.path.starts_with("/hook-ok")
                && q.delivered()
                && String::from_utf8_lossy(&q.body).contains("AfterRotation")
        })
    });
    assert_eq!(
        signed.header("x-assay-signature").unwrap(),
        format!("sha256={}", hmac_hex(m.get("hmactwo"), &signed.body))
    );

    // Every read endpoint, as every role, with no token and with a wrong one.
    let report_id = {
        let (_, text) = get(&server, "/v1/reports", Some(&view));
        let v: Value = serde_json::from_str(&text).unwrap();
        v["reports"][0]["id"].to_string()
    };
    let paths = [
        "/health".to_owned(),
        "/ready".into(),
        "/metrics".into(),
        "/v1/plugins".into(),
        "/v1/plugins/events".into(),
        "/v1/plugins/healthy".into(),
        "/v1/config".into(),
        "/v1/cache/stats".into(),
        "/v1/reports".into(),
        format!("/v1/reports/{report_id}"),
        "/v1/monitors".into(),
        "/v1/probes".into(),
        "/v1/audit".into(),
        "/v1/alerts".into(),
        "/v1/alerts/history".into(),
        "/v1/notifications?limit=500".into(),
        "/v1/silences".into(),
        "/v1/nothing-here".into(),
    ];
    let wrong = "not-a-valid-token-at-all-0000";
    for (role, token) in [
        ("admin", Some(admin2.as_str())),
        ("operator", Some(oper.as_str())),
        ("viewer", Some(view.as_str())),
        ("wrong token", Some(wrong)),
        ("no token", None),
    ] {
        for path in &paths {
            let (status, text) = get(&server, path, token);
            assert!(status < 500, "{path} as {role}: {status} {text}");
            seen.add(format!("GET {path} as {role} ({status})"), text);
        }
    }

    // Stopping writes the last lines; then the whole log is read.
    assert_eq!(server.signal_and_wait("TERM"), 0);
    let log = server.log();
    assert!(
        log.contains("DEBUG") && log.contains("TRACE"),
        "the log ran at debug and trace"
    );
    seen.add("the service log", log);

    let leaks: Vec<String> = seen
        .places
        .iter()
        .flat_map(|(place, text)| m.leaks(place, text))
        .collect();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    // And the places searched were not empty: this test can fail.
    let total: usize = seen.places.iter().map(|(_, t)| t.len()).sum();
    assert!(total > 50_000, "only {total} bytes searched");
    let _ = Duration::ZERO;
}
