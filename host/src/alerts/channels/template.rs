//! A webhook's `body_template`: the request body rendered with minijinja
//! (Jinja2's syntax) over the notification, so a chat tool's own JSON
//! (Teams, Discord, Mattermost, ntfy, …) needs no translating proxy.
//!
//! The template sees the notification as assay's webhook JSON has it:
//! `idempotency_key`, `channel`, `kind`, `status`, `severity`, `group_key`,
//! `group_labels`, `title`, `body`, `labels`, `created_ms`, `external_url`
//! and `alerts` (each with `name`, `status`, `severity`, `summary`,
//! `description`, `labels`, `annotations`, `source`, `fingerprint`,
//! `starts_ms`, `ends_ms`, `generator_url`). Filters beyond Jinja's own:
//! `tojson` (a value as JSON, strings quoted and escaped: use it for every
//! text placed in a JSON body) and `rfc3339` (ms since the epoch as a time).
//!
//! A template is checked when the channel is built: it must compile, render
//! a sample notification, and, with a JSON `content_type`, render JSON. A
//! broken template stops the start or the reload, never a delivery.

use std::collections::BTreeMap;

use assay_contract::Severity;
use minijinja::{Environment, Value};

use crate::alerts::notification::{Kind, Notification};
use crate::alerts::{Alert, AlertStatus};

/// Most rendering steps one body may take (a runaway loop fails the attempt).
const FUEL: u64 = 1_000_000;

pub(super) struct BodyTemplate {
    env: Environment<'static>,
    pub(super) content_type: String,
}

impl BodyTemplate {
    /// Compiles `source` and renders a sample notification with it.
    pub(super) fn new(source: &str, content_type: Option<&str>) -> Result<BodyTemplate, String> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.add_filter("rfc3339", |ms: i64| crate::clock::rfc3339(ms));
        env.add_template_owned("body", source.to_owned())
            .map_err(|e| format!("body_template: {}", describe(&e)))?;
        let t = BodyTemplate {
            env,
            content_type: content_type.unwrap_or("application/json").to_owned(),
        };
        t.render(&sample())
            .map_err(|e| format!("body_template, rendering a sample notification: {e}"))?;
        Ok(t)
    }

    fn is_json(&self) -> bool {
        let ct = self.content_type.to_ascii_lowercase();
        ct.starts_with("application/json") || ct.contains("+json")
    }

    /// The body for `n`.
    pub(super) fn render(&self, n: &Notification) -> Result<Vec<u8>, String> {
        let template = self.env.get_template("body").map_err(|e| describe(&e))?;
        let text = template
            .render(Value::from_serialize(n))
            .map_err(|e| describe(&e))?;
        if self.is_json()
            && let Err(e) = serde_json::from_str::<serde_json::Value>(&text)
        {
            let start: String = text.chars().take(200).collect();
            return Err(format!(
                "the rendered body is not JSON ({e}); it begins: {start}"
            ));
        }
        Ok(text.into_bytes())
    }
}

/// minijinja's error with where it happened.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// A notification with one firing alert and every field set, to try a template on.
pub(crate) fn sample() -> Notification {
    let labels = BTreeMap::from([("instance".to_owned(), "db-1:9100".to_owned())]);
    let alert = Alert::firing(
        "DiskFull",
        Severity::Critical,
        "probe:disk",
        labels,
        "disk / is 97% full",
    )
    .with_description("The root filesystem of db-1 has 3% left.")
    .annotate("runbook_url", "https://runbooks.example/disk-full");
    Notification {
        idempotency_key: "0123456789abcdef0123456789abcdef".into(),
        channel: "sample".into(),
        kind: Kind::Alerts,
        status: AlertStatus::Firing,
        severity: Severity::Critical,
        group_key: "{alertname=\"DiskFull\"}".into(),
        group_labels: BTreeMap::from([("alertname".to_owned(), "DiskFull".to_owned())]),
        title: "[FIRING] DiskFull: disk / is 97% full".into(),
        body: "disk / is 97% full".into(),
        labels: BTreeMap::new(),
        alerts: vec![alert],
        created_ms: 1_700_000_000_000,
        external_url: Some("https://assay.example".into()),
        traceparent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_renders_the_notification_and_errors_at_load() {
        let t = BodyTemplate::new(
            r#"{"text": {{ (title ~ " (" ~ alerts | length ~ ")") | tojson }}, "key": {{ idempotency_key | tojson }}, "at": {{ created_ms | rfc3339 | tojson }}}"#,
            None,
        )
        .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&t.render(&sample()).unwrap()).unwrap();
        assert_eq!(body["text"], "[FIRING] DiskFull: disk / is 97% full (1)");
        assert_eq!(body["at"], "2023-11-14T22:13:20.000Z");
        let e = BodyTemplate::new("{{ unclosed", None).err().unwrap();
        assert!(e.starts_with("body_template: syntax error"), "{e}");
        let e = BodyTemplate::new(r#"{"text": {{ title }}}"#, None)
            .err()
            .unwrap();
        assert!(e.contains("the rendered body is not JSON"), "{e}");
        // Plain text when the content type says so.
        let t = BodyTemplate::new("{{ title }}", Some("text/plain")).unwrap();
        assert_eq!(
            t.render(&sample()).unwrap(),
            b"[FIRING] DiskFull: disk / is 97% full"
        );
        let e = BodyTemplate::new(
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            Some("text/plain"),
        )
        .err()
        .unwrap();
        assert!(e.contains("fuel"), "{e}");
    }
}

#[cfg(test)]
mod shipped {
    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Where `rendered` lacks a key of `example` or has it with another JSON type.
    fn differences(example: &Value, rendered: &Value, at: &str, out: &mut Vec<String>) {
        match (example, rendered) {
            (Value::Object(e), Value::Object(r)) => {
                for (k, ev) in e {
                    match r.get(k) {
                        Some(rv) => differences(ev, rv, &format!("{at}.{k}"), out),
                        None => out.push(format!("{at}.{k} is missing")),
                    }
                }
            }
            (Value::Array(e), Value::Array(r)) => {
                if let (Some(e0), Some(r0)) = (e.first(), r.first()) {
                    differences(e0, r0, &format!("{at}[0]"), out);
                } else if !e.is_empty() {
                    out.push(format!("{at} is empty"));
                }
            }
            (e, r) if std::mem::discriminant(e) == std::mem::discriminant(r) => {}
            (e, r) => out.push(format!("{at}: {r} where the example has {e}")),
        }
    }

    /// Each shipped template renders, for a firing and a resolved
    /// notification, JSON with the shape of its service's published example.
    #[test]
    fn shipped_templates_render_their_services_documented_shape() {
        let mut caught = Vec::new();
        differences(
            &serde_json::json!({"a": [{"b": 1}]}),
            &serde_json::json!({"a": [{"b": "1"}]}),
            "x",
            &mut caught,
        );
        assert_eq!(caught, ["x.a[0].b: \"1\" where the example has 1"]);
        for service in ["discord", "mattermost", "teams", "ntfy"] {
            let path = root().join(format!("deploy/templates/{service}.json.j2"));
            let source = std::fs::read_to_string(&path).unwrap();
            let t = BodyTemplate::new(&source, None).unwrap_or_else(|e| panic!("{service}: {e}"));
            let example: Value = serde_json::from_str(
                &std::fs::read_to_string(
                    root().join(format!("tests/fixtures/payloads/{service}.json")),
                )
                .unwrap(),
            )
            .unwrap();
            let mut resolved = sample();
            resolved.status = AlertStatus::Resolved;
            resolved.alerts[0] = resolved.alerts[0].clone().resolved();
            for n in [sample(), resolved] {
                let body: Value = serde_json::from_slice(&t.render(&n).unwrap()).unwrap();
                let mut diff = Vec::new();
                differences(&example, &body, service, &mut diff);
                assert!(diff.is_empty(), "{service}: {diff:?}\n{body:#}");
            }
        }
    }
}
