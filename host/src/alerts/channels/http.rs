//! HTTP deliveries (webhook, Slack, Alertmanager's API): a JSON POST with
//! `Idempotency-Key`, the channel's headers and, with a secret, an HMAC-SHA256
//! signature; only a 2xx answer is a delivery.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Channel;
use crate::alerts::Notification;

impl Channel {
    pub(super) async fn post(
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
        // Errors name neither the URL (a secret) nor anything in it: the
        // outbox and the log say which channel.
        let resp = req
            .body(bytes)
            .send()
            .await
            .map_err(|e| describe(&e.without_url()))?;
        let status = resp.status();
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
