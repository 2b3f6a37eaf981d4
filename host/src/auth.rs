//! Bearer tokens and roles: who a token is, and the role each route needs.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time
//! (`subtle`), every configured token each time, so neither timing nor
//! length tells an attacker how close a guess was. Tokens are never logged;
//! the audit log names the token's `name`. The HTTP middleware that applies
//! this is in `api/auth.rs`.

use axum::http::{HeaderMap, Method, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AuthSection, Role};

/// Who is calling, as handlers see it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// With auth off, everyone is this.
    pub fn anonymous() -> Actor {
        Actor {
            name: "anonymous".into(),
            role: Role::Admin,
        }
    }
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim())
}

type Tokens = Vec<(String, [u8; 32], Role)>;

pub struct Auth {
    /// Replaced whole when the config file (or a `token_file`) changes.
    tokens: arc_swap::ArcSwap<Tokens>,
    public: Vec<String>,
}

fn digests(c: &AuthSection) -> Tokens {
    // `check` made sure each token has exactly one digest.
    c.tokens
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.digest()?, t.role)))
        .collect()
}

impl Auth {
    pub fn from_config(c: &AuthSection) -> Auth {
        Auth {
            tokens: arc_swap::ArcSwap::from_pointee(digests(c)),
            public: c.public.clone(),
        }
    }

    /// Takes the tokens of a reloaded config (a rotated `token_file`, an
    /// added or removed token). Turning authentication off altogether is
    /// refused: that takes a restart, which checks the listen address.
    pub fn replace_tokens(&self, c: &AuthSection) -> Result<usize, String> {
        let next = digests(c);
        if next.is_empty() && self.enabled() {
            return Err(
                "the reloaded config has no [[auth.tokens]]: keeping the current ones (turning authentication off takes a restart)"
                    .into(),
            );
        }
        let n = next.len();
        self.tokens.store(std::sync::Arc::new(next));
        Ok(n)
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.load().is_empty()
    }

    /// A one-line description for the start-up log.
    pub fn describe(&self) -> String {
        if !self.enabled() {
            return "off: no [[auth.tokens]] configured; every caller may do everything".into();
        }
        let tokens = self.tokens.load();
        let count = |r: Role| tokens.iter().filter(|t| t.2 == r).count();
        format!(
            "{} token(s): {} admin, {} operator, {} viewer; public: {}",
            tokens.len(),
            count(Role::Admin),
            count(Role::Operator),
            count(Role::Viewer),
            if self.public.is_empty() {
                "none".into()
            } else {
                self.public.join(" ")
            }
        )
    }

    /// The token's holder, checking every token in constant time.
    pub fn identify(&self, presented: &str) -> Option<Actor> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, expected, role) in self.tokens.load().iter() {
            if bool::from(expected.ct_eq(&digest)) {
                found = Some(Actor {
                    name: name.clone(),
                    role: *role,
                });
            }
        }
        found
    }

    /// The role a route needs, `None` for public ones. One table for the whole API.
    pub fn required(&self, method: &Method, route: &str) -> Option<Role> {
        match route {
            "/health" | "/ready" | "/metrics" | "/v1/metrics"
                if self.public.iter().any(|p| p == route) =>
            {
                None
            }
            // Unauthenticated ingestion, when the operator allows it.
            "/api/v2/alerts"
                if method == Method::POST && self.public.iter().any(|p| p == route) =>
            {
                None
            }
            "/v1/audit" => Some(Role::Admin),
            "/v1/config" if method == Method::PUT => Some(Role::Admin),
            "/v1/plugins/reload" => Some(Role::Admin),
            "/v1/plugins/{name}/release" => Some(Role::Admin),
            "/v1/plugins/{name}/approve" => Some(Role::Admin),
            "/v1/notifications/{id}/retry" => Some(Role::Admin),
            _ if method == Method::GET || method == Method::HEAD => Some(Role::Viewer),
            _ => Some(Role::Operator),
        }
    }
}
