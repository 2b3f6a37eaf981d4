//! The last line of defence for secrets: scrubs every configured secret value out of text before it is logged, stored or answered.
//!
//! The first lines are the types: a [`crate::config::Secret`] prints as
//! `<redacted>`, channels are named, never shown by URL, and reqwest errors
//! are taken `without_url`. But text also arrives from places the host does
//! not write: an SMTP server's reply, a webhook receiver echoing its request,
//! a library's error. A [`Redactor`] knows every secret value of the
//! configuration (and the pieces of a secret URL that an error could quote
//! on their own) and replaces each with `<redacted>` wherever it appears.
//!
//! One redactor is installed for the process ([`install`]): the log writer
//! ([`RedactingStderr`]) and the outbox use it, and a config reload replaces it.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, MatchKind};
use arc_swap::ArcSwap;

/// What a secret becomes.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are not scrubbed from free text: a three-letter
/// "secret" would blank out every word it occurs in, and is no secret.
pub const MIN_SCRUB_LEN: usize = 4;

/// Pieces of a secret URL shorter than this stay (a `?v=1` query value).
const MIN_FRAGMENT_LEN: usize = 6;

/// Whether a piece of a URL looks like a credential rather than a word:
/// long enough, and with a digit or both cases in it (`T0001`, `XyZ…`,
/// a hex or base64 token), unlike `services` or `webhooks`.
fn token_like(piece: &str) -> bool {
    piece.len() >= 8
        && (piece.chars().any(|c| c.is_ascii_digit())
            || (piece.chars().any(|c| c.is_ascii_uppercase())
                && piece.chars().any(|c| c.is_ascii_lowercase())))
}

/// Query keys whose values are credentials whatever they look like.
fn secret_query_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "token",
        "key",
        "secret",
        "sig",
        "pass",
        "auth",
        "code",
        "credential",
    ]
    .iter()
    .any(|k| key.contains(k))
}

/// Replaces known secret values in text.
#[derive(Default)]
pub struct Redactor {
    needles: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor for these values (empty and too-short ones are ignored).
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Redactor {
        let mut needles: Vec<String> = values
            .into_iter()
            .map(|v| v.as_ref().to_owned())
            .filter(|v| v.len() >= MIN_SCRUB_LEN)
            .collect();
        needles.sort();
        needles.dedup();
        if needles.is_empty() {
            return Redactor::default();
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&needles)
            .expect("plain string patterns always build");
        Redactor {
            matcher: Some(matcher),
            needles,
        }
    }

    /// `text` with every secret value replaced by `<redacted>`.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                Cow::Owned(m.replace_all(text, &vec![REDACTED; m.patterns_len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }
}

/// The pieces of a secret URL that a message could quote: the URL as
/// written and as a client normalises it, its userinfo password, its path
/// and query, each path segment and query value that looks like a token
/// (Slack's, Teams' and Discord's webhook URLs carry theirs in the path),
/// and every value of a query key such as `token` or `api_key`.
pub fn url_fragments(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return out;
    };
    out.push(parsed.to_string());
    if let Some(p) = parsed.password() {
        out.push(p.to_owned());
    }
    let rest = path_and_query(&parsed);
    if rest.len() > 1 {
        out.push(rest);
    }
    for seg in parsed.path_segments().into_iter().flatten() {
        if token_like(seg) {
            out.push(seg.to_owned());
        }
    }
    for (k, v) in parsed.query_pairs() {
        if v.len() >= MIN_FRAGMENT_LEN && (secret_query_key(&k) || token_like(&v)) {
            out.push(v.into_owned());
        }
    }
    if let Some(q) = parsed.query()
        && q.len() >= MIN_FRAGMENT_LEN
    {
        out.push(q.to_owned());
    }
    out
}

/// A URL fit to show: scheme, host and port, the rest `<redacted>`.
pub fn url_shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let mut shown = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(port) = u.port() {
                shown.push_str(&format!(":{port}"));
            }
            if path_and_query(&u) != "/" || !u.username().is_empty() {
                shown.push('/');
                shown.push_str(REDACTED);
            }
            shown
        }
        Err(_) => REDACTED.to_owned(),
    }
}

fn path_and_query(u: &reqwest::Url) -> String {
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

static GLOBAL: LazyLock<ArcSwap<Redactor>> = LazyLock::new(ArcSwap::default);

/// Makes `r` the process's redactor (at start).
pub fn install(r: Redactor) {
    GLOBAL.store(Arc::new(r));
}

/// Adds `values` to the process's redactor (a config reload): secrets that
/// were rotated out stay redacted too, since old text may still quote them.
pub fn extend<S: AsRef<str>>(values: impl IntoIterator<Item = S>) {
    let current = GLOBAL.load();
    let all: Vec<String> = current
        .needles
        .iter()
        .cloned()
        .chain(values.into_iter().map(|v| v.as_ref().to_owned()))
        .collect();
    GLOBAL.store(Arc::new(Redactor::new(all)));
}

/// `text` scrubbed by the process's redactor.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let r = GLOBAL.load();
    match r.scrub(text) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// The log writer: stderr, each event scrubbed first. The fmt layer formats
/// an event whole and writes it in one call, so a secret is never split
/// across two writes.
#[derive(Clone, Copy, Default)]
pub struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingStderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_replaced_and_short_ones_are_left() {
        let r = Redactor::new(["hunter2-secret", "abc", "tok_0123456789"]);
        assert_eq!(
            r.scrub("pw=hunter2-secret, t=tok_0123456789, abc stays"),
            "pw=<redacted>, t=<redacted>, abc stays"
        );
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
        assert_eq!(Redactor::default().scrub("x"), "x");
    }

    #[test]
    fn a_secret_url_is_scrubbed_in_any_of_its_forms() {
        let url = "https://user:pa55word@hooks.example.com/services/T0001/B0002/XyZsecretPath?token=q-secret-1&v=1";
        let r = Redactor::new(url_fragments(url));
        for text in [
            "error sending request for url (https://user:pa55word@hooks.example.com/services/T0001/B0002/XyZsecretPath?token=q-secret-1&v=1)",
            "the path /services/T0001/B0002/XyZsecretPath was refused",
            "token q-secret-1 is invalid",
            "segment XyZsecretPath unknown",
            "auth pa55word rejected",
        ] {
            let s = r.scrub(text);
            for piece in ["pa55word", "XyZsecretPath", "q-secret-1"] {
                assert!(!s.contains(piece), "{s}");
            }
        }
        // Words of the URL that are no token stay readable.
        assert_eq!(r.scrub("services are up"), "services are up");
        let r = Redactor::new(url_fragments(
            "https://x.example/hook?env=production&api_key=plainwords",
        ));
        assert_eq!(r.scrub("production: plainwords"), "production: <redacted>");
    }

    #[test]
    fn a_url_is_shown_by_its_host_alone() {
        assert_eq!(
            url_shown("https://hooks.slack.com/services/T/B/X"),
            "https://hooks.slack.com/<redacted>"
        );
        assert_eq!(url_shown("http://127.0.0.1:9093"), "http://127.0.0.1:9093");
        assert_eq!(url_shown("not a url"), "<redacted>");
    }
}
