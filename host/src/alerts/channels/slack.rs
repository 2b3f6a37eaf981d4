//! The `slack` channel: a Slack incoming-webhook message, the title then
//! one block per alert, coloured by severity.

use assay_contract::Severity;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::Transport;
use super::http::Post;
use crate::alerts::model::AlertStatus;
use crate::alerts::notification::Notification;

pub(super) struct Slack {
    pub(super) post: Post,
}

impl Transport for Slack {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.post.json(&message(n), n).await })
    }
}

/// A Slack incoming-webhook message: the title, then one block per alert, coloured by severity.
fn message(n: &Notification) -> Value {
    let colour = match (n.status, n.severity) {
        (AlertStatus::Resolved, _) => "#2eb886",
        (_, Severity::Critical) => "#a30200",
        (_, Severity::Error) => "#e01e5a",
        (_, Severity::Warning) => "#daa038",
        (_, Severity::Info) => "#439fe0",
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&n.title, 150)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&n.body, 3000)}}),
    ];
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("{} · {} · key `{}`", n.severity, n.status.as_str(), n.idempotency_key)}
    ]}));
    json!({
        "text": n.title,
        "attachments": [{"color": colour, "blocks": blocks}],
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
