//! Channels: how a notification reaches its receiver. One `deliver` per
//! type: webhook (assay JSON or Alertmanager v4, custom headers, HMAC
//! signature), Slack, email (SMTP via lettre), Alertmanager's API, log, and
//! file (JSON Lines).
//!
//! Every HTTP delivery carries `Idempotency-Key`; a delivery succeeds only on
//! a 2xx answer within the channel's timeout.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use super::notification::Notification;
use crate::config::{ChannelSection, ChannelType, SmtpTls, WebhookFormat};

/// A configured channel, ready to deliver.
pub struct Channel {
    pub config: ChannelSection,
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
            ChannelType::Email => Some(smtp_transport(&config)?),
            _ => None,
        };
        Ok(Arc::new(Channel {
            config,
            http,
            smtp,
            file_lock: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// One attempt, bounded by the channel's timeout.
    pub async fn deliver(&self, n: &Notification) -> Result<(), DeliveryError> {
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.attempt(n)).await {
            Ok(r) => r.map_err(DeliveryError::Failed),
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
        self.config.url.as_deref().unwrap_or_default()
    }

    async fn post(
        &self,
        url: &str,
        body: &serde_json::Value,
        n: &Notification,
    ) -> Result<(), String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", &n.idempotency_key);
        for (k, v) in &self.config.headers {
            req = req.header(k.as_str(), v.expose());
        }
        if let Some(secret) = &self.config.secret {
            req = req.header("x-assay-signature", sign(secret.expose(), &bytes));
        }
        let resp = req.body(bytes).send().await.map_err(|e| describe(&e))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            let text = resp.text().await.unwrap_or_default();
            Err(format!(
                "{url} answered {status}: {}",
                text.chars().take(200).collect::<String>()
            ))
        }
    }

    async fn email(&self, n: &Notification) -> Result<(), String> {
        let c = &self.config;
        let smtp = self.smtp.as_ref().ok_or("no SMTP transport")?;
        let from: Mailbox = c
            .from
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| format!("from: {e}"))?;
        let mut b = Message::builder()
            .from(from)
            .subject(&n.title)
            .message_id(Some(format!("<{}@assay>", n.idempotency_key)))
            .header(IdempotencyKey(n.idempotency_key.clone()));
        for to in &c.to {
            b = b.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
        }
        let text = format!("{}\nidempotency key: {}\n", n.body, n.idempotency_key);
        let msg = b
            .multipart(MultiPart::alternative_plain_html(text, n.html()))
            .map_err(|e| e.to_string())?;
        smtp.send(msg).await.map(|_| ()).map_err(|e| e.to_string())
    }

    async fn append(&self, n: &Notification) -> Result<(), String> {
        let path = self.config.path.as_ref().ok_or("no path")?;
        let mut line = serde_json::to_vec(&n.assay_json()).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let _guard = self.file_lock.lock().await;
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(&line)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.sync_data()
            .await
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// `sha256=HEX` of HMAC-SHA256 over the body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// reqwest's error with its causes: "error sending request" alone says little.
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

fn smtp_transport(c: &ChannelSection) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let host = c.smtp_host.as_deref().unwrap_or_default();
    let tls = c.smtp_tls.unwrap_or_default();
    let err = |e: lettre::transport::smtp::Error| format!("channel {:?}: SMTP: {e}", c.name);
    let mut b = match tls {
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(err)?
        }
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(err)?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let port = c.smtp_port.unwrap_or(match tls {
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    });
    b = b.port(port).timeout(Some(c.timeout));
    if let (Some(u), Some(p)) = (&c.username, &c.password) {
        b = b.credentials(Credentials::new(u.clone(), p.expose().to_owned()));
    }
    Ok(b.build())
}

/// The `Idempotency-Key` header of emails.
#[derive(Clone)]
struct IdempotencyKey(String);

impl header::Header for IdempotencyKey {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Idempotency-Key")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(IdempotencyKey(s.to_owned()))
    }
    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
