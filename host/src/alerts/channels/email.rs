//! Email over SMTP (lettre): STARTTLS, implicit TLS or plain for local
//! relays; multipart text and HTML; the idempotency key as a header and in
//! the `Message-ID`.

use futures_util::future::BoxFuture;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Transport;
use crate::alerts::Notification;
use crate::alerts::model::Alert;
use crate::config::{ChannelSection, SmtpTls};

pub(super) struct Email {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    from: Option<String>,
    to: Vec<String>,
}

impl Email {
    pub(super) fn new(c: &ChannelSection) -> Result<Email, String> {
        Ok(Email {
            smtp: transport(c)?,
            from: c.from.clone(),
            to: c.to.clone(),
        })
    }

    async fn send_mail(&self, n: &Notification) -> Result<(), String> {
        let from: Mailbox = (self.from.as_deref().unwrap_or_default())
            .parse()
            .map_err(|e| format!("from: {e}"))?;
        let mut b = Message::builder()
            .from(from)
            .subject(&n.title)
            .message_id(Some(format!("<{}@assay>", n.idempotency_key)))
            .header(IdempotencyKey(n.idempotency_key.clone()));
        for to in &self.to {
            b = b.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
        }
        let text = format!("{}\nidempotency key: {}\n", n.body, n.idempotency_key);
        let msg = b
            .multipart(MultiPart::alternative_plain_html(text, html(n)))
            .map_err(|e| e.to_string())?;
        (self.smtp.send(msg).await)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Transport for Email {
    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.send_mail(n))
    }
}

/// The email body as HTML (the text part is `body`).
fn html(n: &Notification) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut rows = String::new();
    for a in &n.alerts {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(a.status.as_str()),
            esc(a.severity.as_str()),
            esc(&a.summary),
            esc(&Alert::label_text(&a.labels))
        ));
    }
    format!(
        "<html><body><h2>{}</h2><pre>{}</pre><table border=\"1\" cellpadding=\"4\">\
         <tr><th>status</th><th>severity</th><th>summary</th><th>labels</th></tr>{rows}</table>\
         <p><small>idempotency key {}</small></p></body></html>",
        esc(&n.title),
        esc(&n.body),
        esc(&n.idempotency_key)
    )
}

fn transport(c: &ChannelSection) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
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
