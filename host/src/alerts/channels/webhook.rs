//! The `webhook` channel: the notification as assay's JSON, or as
//! Alertmanager's webhook body (version 4) for receivers written for it.

use futures_util::future::BoxFuture;

use super::Transport;
use super::http::Post;
use crate::alerts::notification::Notification;
use crate::config::WebhookFormat;

pub(super) struct Webhook {
    pub(super) post: Post,
    pub(super) format: WebhookFormat,
}

impl Transport for Webhook {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let body = match self.format {
                WebhookFormat::Assay => n.assay_json(),
                WebhookFormat::Alertmanager => super::alertmanager::webhook_v4(n),
            };
            self.post.json(&body, n).await
        })
    }
}
