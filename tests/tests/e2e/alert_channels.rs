//! Every channel's payload, delivered to local receivers: webhook (assay and
//! Alertmanager v4 formats, custom `${ENV}` headers, HMAC signature), Slack,
//! file, log, email (a real SMTP sink), and Alertmanager's API (a real
//! Alertmanager, whose own webhook output is the reference for our v4 format).

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::Env;
use crate::receivers::{Alertmanager, Receiver, SmtpSink};
use crate::server::{FAST_ALERTING, Server, Start, eventually, json};

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

#[test]
fn webhook_slack_file_and_log_payloads() {
    let env = Env::new();
    let r = Receiver::start();
    let out = env.work_dir().join("alerts.jsonl");
    let config = format!(
        r#"{FAST_ALERTING}
[[channel]]
name = "hook"
type = "webhook"
url = "{hook}"
secret = "${{E2E_HOOK_SECRET}}"
headers = {{ "X-Token" = "${{E2E_HOOK_TOKEN}}" }}

[[channel]]
name = "amhook"
type = "webhook"
format = "alertmanager"
url = "{am}"

[[channel]]
name = "slack"
type = "slack"
url = "{slack}"

[[channel]]
name = "file"
type = "file"
path = "{out}"

[[channel]]
name = "log"
type = "log"
"#,
        hook = r.url("/hook"),
        am = r.url("/am"),
        slack = r.url("/slack"),
        out = out.display(),
    );
    let server = Server::start(
        &env,
        Start {
            config: &config,
            env: &[
                ("E2E_HOOK_SECRET", "s3cret-signing-key"),
                ("E2E_HOOK_TOKEN", "tok-123"),
            ],
            ..Start::default()
        },
    );
    let accepted = server.post_alerts(json!([{
        "name": "DiskFull", "severity": "critical", "summary": "disk / is 99% full",
        "description": "df says so", "labels": {"host": "db-1"}, "annotations": {"runbook": "https://runbooks/disk"}
    }]));
    assert_eq!(accepted[0]["outcome"], "new");
    let fingerprint = accepted[0]["fingerprint"].as_str().unwrap().to_owned();

    // Webhook, assay format: the notification, its key in the header, signed.
    let hook = &r.wait_delivered("/hook", 1, 20)[0];
    let body = hook.json();
    let key = body["idempotency_key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(hook.header("idempotency-key"), Some(key));
    assert_eq!(hook.header("x-token"), Some("tok-123"));
    assert_eq!(hook.header("content-type"), Some("application/json"));
    assert_eq!(
        hook.header("x-assay-signature").unwrap(),
        format!("sha256={}", hmac_hex("s3cret-signing-key", &hook.body))
    );
    assert_eq!(body["channel"], "hook");
    assert_eq!(body["kind"], "alerts");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["severity"], "critical");
    let alert = &body["alerts"][0];
    assert_eq!(alert["fingerprint"], fingerprint.as_str());
    assert_eq!(alert["labels"]["host"], "db-1");
    assert_eq!(alert["labels"]["alertname"], "DiskFull");
    assert_eq!(alert["annotations"]["runbook"], "https://runbooks/disk");
    assert_eq!(alert["summary"], "disk / is 99% full");

    // Webhook, Alertmanager format: version 4, camelCase, its own key.
    let am = &r.wait_delivered("/am", 1, 20)[0];
    let v = am.json();
    assert_eq!(v["version"], "4");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["receiver"], "amhook");
    assert_eq!(v["groupLabels"], json!({"alertname": "DiskFull"}));
    assert_eq!(v["commonLabels"]["host"], "db-1");
    assert_eq!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        v["alerts"][0]["annotations"]["summary"],
        "disk / is 99% full"
    );
    assert_eq!(v["alerts"][0]["annotations"]["description"], "df says so");
    assert_eq!(v["idempotencyKey"], am.header("idempotency-key").unwrap());
    assert_ne!(
        v["idempotencyKey"].as_str(),
        Some(key),
        "one key per notification"
    );
    assert!(
        am.header("x-assay-signature").is_none(),
        "no secret, no signature"
    );

    // Slack: text, an attachment coloured by severity, blocks.
    let slack = r.wait_delivered("/slack", 1, 20)[0].json();
    assert!(
        slack["text"].as_str().unwrap().contains("DiskFull"),
        "{slack}"
    );
    let att = &slack["attachments"][0];
    assert_eq!(att["color"], "#a30200", "critical is dark red");
    let types: Vec<&str> = att["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["header", "section", "context"]);

    // File: one JSON line per notification, the same payload as the webhook's.
    let line = eventually(20, "the file channel's line", || {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|t| t.ends_with('\n'))
    });
    let lines: Vec<Value> = line
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["alerts"][0]["fingerprint"], fingerprint.as_str());
    assert_eq!(lines[0]["channel"], "file");

    // Log: a warning line with the title and the key.
    eventually(20, "the log channel's line", || {
        let log = server.log();
        log.lines()
            .find(|l| l.contains("channel=log") && l.contains("[FIRING] DiskFull"))
            .map(|_| ())
    });

    // Every one is delivered in the outbox, with one attempt.
    let delivered = eventually(20, "five delivered notifications", || {
        let n = server.notifications("?status=delivered");
        (n.len() == 5).then_some(n)
    });
    let channels: BTreeSet<&str> = delivered
        .iter()
        .map(|n| n["channel"].as_str().unwrap())
        .collect();
    assert_eq!(
        channels,
        BTreeSet::from(["hook", "amhook", "slack", "file", "log"])
    );
    assert!(delivered.iter().all(|n| n["attempts"] == 1));

    // Resolving it sends a resolution to every channel told it fired.
    let resolved = server.post_alerts(json!([{
        "name": "DiskFull", "severity": "critical", "labels": {"host": "db-1"}, "status": "resolved"
    }]));
    assert_eq!(resolved[0]["outcome"], "resolved");
    let am = r.wait_delivered("/am", 2, 20);
    let v = am[1].json();
    assert_eq!(v["status"], "resolved");
    assert_ne!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let slack = r.wait_delivered("/slack", 2, 20)[1].json();
    assert_eq!(
        slack["attachments"][0]["color"], "#2eb886",
        "resolved is green"
    );
    eventually(20, "the alert to be gone", || {
        server.alerts().is_empty().then_some(())
    });

    // The metrics count them.
    r.wait_delivered("/hook", 2, 20);
    let metrics = eventually(20, "the delivery counted", || {
        let m = server.get("/metrics").send().unwrap().text().unwrap();
        m.contains(r#"assay_notifications_total{channel="hook",outcome="delivered"} 2"#)
            .then_some(m)
    });
    assert!(metrics.contains("assay_notification_delivery_seconds_bucket"));
    assert!(metrics.contains("assay_alerts_firing{severity=\"critical\"} 0"));
}

#[test]
fn email_through_a_local_smtp_sink_and_alert_test() {
    let env = Env::new();
    let sink = SmtpSink::start(env.work_dir());
    let config = format!(
        r#"{FAST_ALERTING}
[[channel]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {port}
smtp_tls = "none"
from = "assay <assay@example.test>"
to = ["oncall@example.test", "lead@example.test"]

[[channel]]
name = "nowhere"
type = "webhook"
url = "http://127.0.0.1:{closed}/hook"
timeout = "2s"
"#,
        port = sink.port,
        closed = crate::targets::closed_port(),
    );
    let server = Server::with_config(&env, &config);
    server.post_alerts(json!([{
        "name": "BackupLate", "severity": "error", "summary": "the nightly backup is <late>",
        "labels": {"job": "backup"}
    }]));
    let msg = eventually(30, "an email in the sink", || sink.messages().pop());
    let lower = msg.to_ascii_lowercase();
    assert!(msg.contains("Subject: [FIRING] BackupLate"), "{msg}");
    assert!(
        lower.contains("to: oncall@example.test, lead@example.test"),
        "{msg}"
    );
    assert!(
        lower.contains("content-type: multipart/alternative"),
        "{msg}"
    );
    assert!(lower.contains("content-type: text/plain"), "{msg}");
    assert!(lower.contains("content-type: text/html"), "{msg}");
    assert!(msg.contains("&lt;late&gt;"), "HTML is escaped: {msg}");
    let key = msg
        .lines()
        .find_map(|l| l.strip_prefix("Idempotency-Key: "))
        .unwrap_or_else(|| panic!("no Idempotency-Key header: {msg}"))
        .trim()
        .to_owned();
    assert!(msg.contains(&format!("Message-ID: <{key}@assay>")), "{msg}");
    // The sink has the message before the host has recorded the server's answer.
    let n = eventually(10, "the email recorded as delivered", || {
        let n = server.notifications("?channel=mail&status=delivered");
        (!n.is_empty()).then_some(n)
    });
    assert_eq!(n[0]["idempotency_key"], key.as_str());
    drop(server);

    // `assay alert test`: 0 delivered, 1 failed, 2 unknown channel.
    let config_path = env.work_dir().join("assay.toml");
    let args = |ch: &str| {
        vec![
            "--config".to_owned(),
            config_path.display().to_string(),
            "alert".into(),
            "test".into(),
            "--channel".into(),
            ch.into(),
        ]
    };
    let run = env.run(&args("mail").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("sent a test notification to mail"));
    eventually(30, "the test email, naming the test alert", || {
        sink.messages()
            .into_iter()
            .find(|m| m.contains("AssayTestNotification"))
    });
    let run = env.run(
        &args("nowhere")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("delivering to nowhere failed"),
        "{}",
        run.stderr
    );
    let run = env.run(&args("pager").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("configured: mail, nowhere"),
        "{}",
        run.stderr
    );
}

/// The structure of a JSON value: object keys (recursively) and value types.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().take(1).map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// The `alertmanager` channel posts to a real Alertmanager, which takes the
/// alert (it shows in its API) and sends its own webhook; our `format =
/// "alertmanager"` webhook must have exactly that payload's structure.
#[test]
fn alertmanager_channel_and_v4_payload_match_a_real_alertmanager() {
    let env = Env::new();
    let r = Receiver::start();
    let Some(am) = Alertmanager::start(env.work_dir(), &r.url("/from-alertmanager")) else {
        return;
    };
    let config = format!(
        r#"{FAST_ALERTING}
[[channel]]
name = "am"
type = "alertmanager"
url = "{am}"

[[channel]]
name = "v4"
type = "webhook"
format = "alertmanager"
url = "{v4}"
"#,
        am = am.url(),
        v4 = r.url("/ours"),
    );
    let server = Server::with_config(&env, &config);
    server.post_alerts(json!([{
        "name": "QueueStuck", "severity": "warning", "summary": "queue is stuck",
        "labels": {"queue": "emails"}, "annotations": {"runbook": "https://runbooks/queue"}
    }]));
    // Alertmanager took it: its API lists the alert with our labels.
    let client = reqwest::blocking::Client::new();
    let listed = eventually(30, "the alert in Alertmanager", || {
        let (status, v) = json(
            client
                .get(format!("{}/api/v2/alerts", am.url()))
                .send()
                .ok()?,
        );
        assert_eq!(status, 200);
        v.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "QueueStuck")
            .cloned()
    });
    assert_eq!(listed["labels"]["queue"], "emails");
    assert_eq!(listed["labels"]["severity"], "warning");
    assert_eq!(listed["annotations"]["summary"], "queue is stuck");
    assert_eq!(listed["annotations"]["runbook"], "https://runbooks/queue");
    assert_eq!(listed["status"]["state"], "active");

    // Alertmanager's own webhook (version 4) and ours: the same structure.
    let theirs = r.wait_delivered("/from-alertmanager", 1, 30)[0].json();
    let ours = r.wait_delivered("/ours", 1, 30)[0].json();
    assert_eq!(theirs["version"], "4");
    let mut ours_shape = shape(&ours);
    // Our one addition, which receivers that do not know it ignore.
    ours_shape.as_object_mut().unwrap().remove("idempotencyKey");
    assert_eq!(
        ours_shape,
        shape(&theirs),
        "ours: {ours:#}\nAlertmanager's: {theirs:#}"
    );
    assert_eq!(ours["alerts"][0]["labels"], theirs["alerts"][0]["labels"]);
    assert_eq!(
        ours["alerts"][0]["annotations"],
        theirs["alerts"][0]["annotations"]
    );
    assert_eq!(ours["commonLabels"], theirs["commonLabels"]);
    assert_eq!(ours["groupLabels"], theirs["groupLabels"]);
    assert_eq!(ours["status"], theirs["status"]);

    // Resolving it ends it in Alertmanager too.
    server.post_alerts(json!([{
        "name": "QueueStuck", "severity": "warning", "labels": {"queue": "emails"}, "status": "resolved"
    }]));
    let resolved = r
        .wait_delivered("/from-alertmanager", 2, 30)
        .into_iter()
        .map(|x| x.json())
        .find(|v| v["status"] == "resolved");
    let resolved = match resolved {
        Some(v) => v,
        None => eventually(30, "Alertmanager's resolution", || {
            r.delivered("/from-alertmanager")
                .into_iter()
                .map(|x| x.json())
                .find(|v| v["status"] == "resolved")
        }),
    };
    assert_eq!(resolved["alerts"][0]["labels"]["queue"], "emails");
}

/// A webhook with a shipped `body_template` (ntfy's JSON) posts the rendered
/// body; a template that does not compile is a config error.
#[test]
fn a_body_template_renders_the_webhook_body_and_a_broken_one_is_a_config_error() {
    let env = Env::new();
    let r = Receiver::start();
    let template =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/templates/ntfy.json.j2");
    let extra = format!("body_template_file = {:?}", template.display().to_string());
    let config = format!("{FAST_ALERTING}{}", r.channel("ntfy", &extra));
    let s = Server::with_config(&env, &config);
    s.post_alerts(
        json!([{"name": "DiskFull", "severity": "critical", "summary": "disk / is 97% full"}]),
    );
    let got = r.wait_delivered("/ntfy", 1, 20);
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let body = got[0].json();
    assert_eq!(body["topic"], "assay-alerts");
    assert_eq!(body["message"], "disk / is 97% full");
    assert_eq!(
        (body["priority"].as_i64(), body["tags"][0].as_str()),
        (Some(5), Some("rotating_light"))
    );
    assert!(
        body["title"].as_str().unwrap().contains("DiskFull"),
        "{body}"
    );

    let broken = env.work_dir().join("broken.toml");
    let bad = format!("{}body_template = \"{{{{ title \"\n", r.channel("chat", ""));
    std::fs::write(&broken, bad).unwrap();
    let out = env
        .assay()
        .args(["config", "check", broken.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("channel \"chat\": body_template: syntax error"),
        "{stderr}"
    );
}

/// PagerDuty's Events API v2, against a local receiver: a firing alert
/// triggers, an ack in assay acknowledges, the resolution resolves; all
/// three carry the alert's fingerprint as `dedup_key`.
#[test]
fn pagerduty_trigger_acknowledge_and_resolve_by_fingerprint() {
    let env = Env::new();
    let r = Receiver::start();
    let config = format!(
        "{FAST_ALERTING}[[channel]]\nname = \"pd\"\ntype = \"pagerduty\"\nurl = \"{}\"\nrouting_key = \"${{PD_KEY}}\"\n",
        r.url("/v2/enqueue")
    );
    let s = Server::start(
        &env,
        Start {
            config: &config,
            env: &[("PD_KEY", "R0UT1NGKEY0123456789abcdef012345")],
            ..Start::default()
        },
    );
    let fp = s.post_alerts(
        json!([{"name": "DbDown", "severity": "critical", "summary": "db-1 is down",
                                   "labels": {"instance": "db-1:5432"}}]),
    )[0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = |n: usize| -> Vec<Value> {
        r.wait_delivered("/v2/enqueue", n, 20)
            .iter()
            .map(|x| x.json())
            .collect()
    };
    let trigger = &events(1)[0];
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY0123456789abcdef012345");
    assert_eq!(trigger["dedup_key"], fp.as_str());
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "db-1:5432");
    assert_eq!(trigger["payload"]["summary"], "DbDown: db-1 is down");
    let (status, v) = json(
        s.post(&format!("/v1/alerts/{fp}/ack"))
            .json(&json!({"comment": "on it"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{v}");
    let ack = &events(2)[1];
    assert_eq!(
        (ack["event_action"].as_str(), ack["dedup_key"].as_str()),
        (Some("acknowledge"), Some(fp.as_str()))
    );
    s.post_alerts(json!([{"name": "DbDown", "severity": "critical", "labels": {"instance": "db-1:5432"}, "status": "resolved"}]));
    let resolve = &events(3)[2];
    assert_eq!(
        (
            resolve["event_action"].as_str(),
            resolve["dedup_key"].as_str()
        ),
        (Some("resolve"), Some(fp.as_str()))
    );
    // The routing key is a secret: the notifications API does not show it.
    let (_, listed) = json(s.get("/v1/notifications").send().unwrap());
    assert!(!listed.to_string().contains("R0UT1NGKEY"), "{listed}");
}
