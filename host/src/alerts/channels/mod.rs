//! Channels: how a notification reaches its receiver. One `deliver` per
//! type: webhook (assay JSON or Alertmanager v4, custom headers, HMAC
//! signature), Slack, email (SMTP via lettre), Alertmanager's API, log, and
//! file (JSON Lines). One file per transport: `http` (webhook, Slack,
//! Alertmanager), `email`, `file`; the log channel is a line here.
//!
//! Every HTTP delivery carries `Idempotency-Key`; a delivery succeeds only on
//! a 2xx answer within the channel's timeout.

use std::sync::Arc;
use std::time::Duration;

use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::notification::Notification;
use crate::config::{ChannelSection, ChannelType, WebhookFormat};

mod email;
mod file;
mod http;

pub use http::sign;

/// A configured channel, ready to deliver.
pub struct Channel {
    pub config: ChannelSection,
    /// Scrubs this channel's secrets out of its delivery errors (a receiver
    /// or an SMTP server may quote the request back).
    redactor: crate::redact::Redactor,
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// Serialises appends to a `file` channel.
    file_lock: tokio::sync::Mutex<()>,
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
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("assay/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(config.concurrency)
            .build()
            .map_err(|e| {
                format!(
                    "channel {:?}: cannot build an HTTP client: {e}",
                    config.name
                )
            })?;
        let smtp = match config.kind {
            ChannelType::Email => Some(email::transport(&config)?),
            _ => None,
        };
        Ok(Arc::new(Channel {
            redactor: crate::redact::Redactor::new(config.secret_values()),
            config,
            http,
            smtp,
            file_lock: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// One attempt, bounded by the channel's timeout. The error never
    /// carries the channel's URL or any other of its secrets.
    pub async fn deliver(&self, n: &Notification) -> Result<(), DeliveryError> {
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.attempt(n)).await {
            Ok(r) => r.map_err(|e| DeliveryError::Failed(self.redactor.scrub(&e).into_owned())),
            Err(_) => Err(DeliveryError::Timeout(timeout)),
        }
    }

    async fn attempt(&self, n: &Notification) -> Result<(), String> {
        let c = &self.config;
        match c.kind {
            ChannelType::Webhook => {
                let body = match c.format.unwrap_or_default() {
                    WebhookFormat::Assay => n.assay_json(),
                    WebhookFormat::Alertmanager => n.alertmanager_webhook(),
                };
                self.post(self.url(), &body, n).await
            }
            ChannelType::Slack => self.post(self.url(), &n.slack(), n).await,
            ChannelType::Alertmanager => {
                let url = format!("{}/api/v2/alerts", self.url().trim_end_matches('/'));
                self.post(&url, &n.alertmanager_api(), n).await
            }
            ChannelType::Email => self.email(n).await,
            ChannelType::Log => {
                tracing::warn!(
                    target: "assay::alerts",
                    channel = %c.name,
                    key = %n.idempotency_key,
                    status = n.status.as_str(),
                    severity = %n.severity,
                    alerts = n.alerts.len(),
                    "{}",
                    n.title
                );
                Ok(())
            }
            ChannelType::File => self.append(n).await,
        }
    }

    fn url(&self) -> &str {
        self.config.url.as_ref().map_or("", |u| u.expose())
    }
}
