//! Channels: how a notification reaches its receiver. Each channel type is
//! a [`Transport`] that renders its own payload and sends it: `webhook`
//! (assay JSON or Alertmanager v4, custom headers, HMAC signature), `slack`,
//! `alertmanager` (its API), `pagerduty` (Events API v2), `email` (SMTP via lettre), `log` and `file`
//! (JSON Lines), one file each (`http.rs` holds what the HTTP ones share;
//! `template.rs` a webhook's `body_template`).
//! [`Channel`] bounds an attempt by the channel's timeout and scrubs its
//! secrets out of the error.
//!
//! Every HTTP delivery carries `Idempotency-Key`; a delivery succeeds only on
//! a 2xx answer within the channel's timeout.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::notification::Notification;
use crate::config::{ChannelSection, ChannelType};

mod alertmanager;
mod email;
mod file;
mod http;
mod pagerduty;
mod slack;
pub(crate) mod template;
mod webhook;

pub use http::sign;

/// How a channel of one type reaches its receiver: it renders the
/// notification as that receiver expects and makes one attempt. The error
/// may quote the receiver; [`Channel::deliver`] scrubs it.
pub(crate) trait Transport: Send + Sync {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>>;
}

/// A configured channel, ready to deliver.
pub struct Channel {
    pub config: ChannelSection,
    /// Scrubs this channel's secrets out of its delivery errors (a receiver
    /// or an SMTP server may quote the request back).
    redactor: crate::redact::Redactor,
    transport: Box<dyn Transport>,
}

/// Why a delivery failed (the outbox retries it).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl Channel {
    pub fn new(config: ChannelSection) -> Result<Arc<Channel>, String> {
        config.check()?;
        let url = config.url.as_ref().map_or("", |u| u.expose()).to_owned();
        let transport: Box<dyn Transport> = match config.kind {
            ChannelType::Webhook => Box::new(webhook::Webhook {
                post: http::Post::new(&config, url)?,
                format: config.format.unwrap_or_default(),
                template: (config.body_template.as_deref())
                    .map(|t| template::BodyTemplate::new(t, config.content_type.as_deref()))
                    .transpose()
                    .map_err(|e| format!("channel {:?}: {e}", config.name))?,
            }),
            ChannelType::Slack => Box::new(slack::Slack {
                post: http::Post::new(&config, url)?,
            }),
            ChannelType::Alertmanager => {
                let url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
                Box::new(alertmanager::AlertmanagerApi {
                    post: http::Post::new(&config, url)?,
                })
            }
            ChannelType::Email => Box::new(email::Email::new(&config)?),
            ChannelType::Log => Box::new(Log {
                channel: config.name.clone(),
            }),
            ChannelType::Pagerduty => {
                let url = if url.is_empty() {
                    pagerduty::EVENTS_URL.to_owned()
                } else {
                    url
                };
                Box::new(pagerduty::PagerDuty {
                    post: http::Post::new(&config, url)?,
                    routing_key: (config.routing_key.as_ref())
                        .map(|k| k.expose().to_owned())
                        .unwrap_or_default(),
                })
            }
            ChannelType::File => Box::new(file::File {
                path: config.path.clone().ok_or("a file channel needs a path")?,
                lock: tokio::sync::Mutex::new(()),
            }),
        };
        Ok(Arc::new(Channel {
            redactor: crate::redact::Redactor::new(config.secret_values()),
            config,
            transport,
        }))
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// One attempt, bounded by the channel's timeout. The error never
    /// carries the channel's URL or any other of its secrets.
    pub async fn deliver(&self, n: &Notification) -> Result<(), DeliveryError> {
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.transport.send(n)).await {
            Ok(r) => r.map_err(|e| DeliveryError::Failed(self.redactor.scrub(&e).into_owned())),
            Err(_) => Err(DeliveryError::Timeout(timeout)),
        }
    }
}

/// The `log` channel: a warning line in assay's own log.
struct Log {
    channel: String,
}

impl Transport for Log {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        tracing::warn!(
            target: "assay::alerts",
            channel = %self.channel,
            key = %n.idempotency_key,
            status = n.status.as_str(),
            severity = %n.severity,
            alerts = n.alerts.len(),
            "{}",
            n.title
        );
        Box::pin(std::future::ready(Ok(())))
    }
}
