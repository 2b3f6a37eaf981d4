//! TOML errors that name the file, line and key but never echo a secret.
//!
//! toml's own `Display` quotes the offending line, value included, and that
//! text goes to stderr, which Kubernetes ships to the log store. So the
//! message is rebuilt from the error's position and its one-line message.
//! serde's "invalid type/value" messages quote the value too: for a
//! secret-bearing key that part is left out. An unknown key's error names
//! only the key (serde's message never carries its value).

/// Keys whose values are secrets, wherever they appear (`headers` holds
/// secret values under any name).
const SECRET_KEYS: &[&str] = &[
    "token",
    "token_sha256",
    "url",
    "secret",
    "password",
    "headers",
];

/// Whether a key (one path segment, any case) holds a secret.
pub(super) fn is_secret_key(key: &str) -> bool {
    let key = key.trim().trim_matches('"').trim_matches('\'');
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// Whether an `ASSAY_A__B__C` override (or a dotted key path) sets a secret.
pub(super) fn is_secret_path(path: &str) -> bool {
    path.split("__")
        .flat_map(|s| s.split('.'))
        .any(is_secret_key)
}

/// `line L, column C: message`, with the value left out when the key at
/// that line holds a secret.
pub(super) fn describe(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return message.to_owned();
    };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.starts_with('['));
    let in_headers = before
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .is_some_and(|h| h.contains("headers"));
    let secret = in_headers || key.is_some_and(is_secret_path);
    let quotes_value = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|p| message.starts_with(p));
    match key {
        Some(key) if secret && quotes_value => {
            let expected = message
                .split_once(", expected ")
                .map(|(_, exp)| format!(", expected {exp}"))
                .unwrap_or_default();
            format!(
                "line {line}, key `{key}`: invalid value (not shown: the key holds a secret){expected}"
            )
        }
        Some(key) => format!("line {line}, column {column}, key `{key}`: {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;

    fn err(text: &str) -> String {
        let e = toml::from_str::<HostConfig>(text).unwrap_err();
        describe(text, &e)
    }

    #[test]
    fn an_unknown_key_beside_a_secret_is_named_without_the_line() {
        let e =
            err("[[channel]]\nname = \"m\"\ntype = \"email\"\nsmtp_pasword = \"hunter2-marker\"\n");
        assert!(e.contains("line 4") && e.contains("smtp_pasword"), "{e}");
        assert!(!e.contains("hunter2-marker"), "{e}");
    }

    #[test]
    fn a_bad_value_of_a_secret_key_is_not_quoted() {
        let e = err("[[channel]]\nname = \"w\"\ntype = \"webhook\"\npassword = 123456789\n");
        assert!(e.contains("line 4") && e.contains("`password`"), "{e}");
        assert!(!e.contains("123456789"), "{e}");
        let e = err(
            "[[channel]]\nname = \"w\"\ntype = \"webhook\"\n[channel.headers]\nX-Key = 987654321\n",
        );
        assert!(!e.contains("987654321"), "{e}");
        // Other keys keep their value in the message: it helps.
        let e = err("[server]\nmax_body_bytes = \"lots\"\n");
        assert!(e.contains("line 2") && e.contains("lots"), "{e}");
    }

    #[test]
    fn secret_paths() {
        assert!(is_secret_path("ASSAY_CHANNEL__0__URL"));
        assert!(is_secret_path("ASSAY_CHANNEL__0__HEADERS__AUTHORIZATION"));
        assert!(is_secret_path("auth.tokens.0.token"));
        assert!(!is_secret_path("ASSAY_SERVER__LISTEN"));
    }
}
