//! The `webhook` channel: the notification as assay's JSON, as
//! Alertmanager's webhook body (version 4) for receivers written for it, or
//! as the channel's `body_template` renders it ([`super::template`]).

use futures_util::future::BoxFuture;

use super::Transport;
use super::http::Post;
use crate::alerts::notification::Notification;
use crate::config::WebhookFormat;

pub(super) struct Webhook {
    pub(super) post: Post,
    pub(super) format: WebhookFormat,
    pub(super) template: Option<super::template::BodyTemplate>,
}

impl Transport for Webhook {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if let Some(t) = &self.template {
                let body = t.render(n).map_err(|e| format!("body_template: {e}"))?;
                return self.post.send(body, &t.content_type, n).await;
            }
            let body = match self.format {
                WebhookFormat::Assay => n.assay_json(),
                WebhookFormat::Alertmanager => super::alertmanager::webhook_v4(n),
            };
            self.post.json(&body, n).await
        })
    }
}
