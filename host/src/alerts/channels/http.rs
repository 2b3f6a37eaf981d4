//! What the HTTP transports (webhook, Slack, Alertmanager's API) share: a
//! JSON POST with `Idempotency-Key`, the channel's headers and, with a
//! secret, an HMAC-SHA256 signature; only a 2xx answer is a delivery.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::alerts::Notification;
use crate::config::ChannelSection;
use crate::redact::Redactor;

/// A channel's HTTP endpoint. (No `Debug`: it holds the URL, headers and
/// signing secret, all secrets.)
pub(super) struct Post {
    client: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    secret: Option<String>,
    /// Scrubs the channel's secrets out of what a receiver answers.
    redactor: Redactor,
}

impl Post {
    /// The channel's client, headers and secret, posting to `url`.
    pub(super) fn new(c: &ChannelSection, url: String) -> Result<Post, String> {
        let client = reqwest::Client::builder()
            .timeout(c.timeout)
            .user_agent(concat!("assay/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(c.concurrency)
            .build()
            .map_err(|e| format!("channel {:?}: cannot build an HTTP client: {e}", c.name))?;
        Ok(Post {
            client,
            url,
            headers: (c.headers.iter())
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect(),
            secret: c.secret.as_ref().map(|s| s.expose().to_owned()),
            redactor: Redactor::new(c.secret_values()),
        })
    }

    /// POSTs `body` as JSON.
    pub(super) async fn json(
        &self,
        body: &serde_json::Value,
        n: &Notification,
    ) -> Result<(), String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        self.send(bytes, "application/json", n).await
    }

    /// POSTs `bytes` as `content_type`.
    pub(super) async fn send(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        n: &Notification,
    ) -> Result<(), String> {
        let mut req = (self.client.post(&self.url))
            .header("content-type", content_type)
            .header("idempotency-key", &n.idempotency_key);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(secret) = &self.secret {
            req = req.header("x-assay-signature", sign(secret, &bytes));
        }
        // The delivery's trace context, where `[telemetry] propagate` names channels.
        let mut trace = http::HeaderMap::new();
        crate::telemetry::traces::inject(crate::config::Propagate::Channels, &mut trace);
        if !trace.is_empty() {
            req = req.headers(trace);
        }
        // Errors name neither the URL (a secret) nor anything in it: the
        // outbox and the log say which channel.
        let resp = req
            .body(bytes)
            .send()
            .await
            .map_err(|e| describe(&e.without_url()))?;
        let status = resp.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        if status.is_success() {
            Ok(())
        } else {
            // Scrubbed before it is cut: a cut through a secret would leave
            // a piece the redactor no longer recognises.
            let text = resp.text().await.unwrap_or_default();
            Err(format!(
                "the receiver answered {status}: {}",
                self.redactor
                    .scrub(&text)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))
        }
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
