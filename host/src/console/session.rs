//! Who is looking: the token from the `assay_token` cookie (set by the login
//! form) or an `Authorization: Bearer` header, checked like the API's, and
//! what they may do. Viewers see; operators act.
//!
//! The cookie holds the token itself: `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page sends it), `Secure` under
//! `[server.tls]`, and gone when the browser closes. Actions are POSTs, and
//! a POST whose `Origin` or `Sec-Fetch-Site` says another site is refused.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::page::{self, Ctx};
use crate::auth::Actor;
use crate::config::Role;
use crate::service::Service;

const COOKIE: &str = "assay_token";

/// The token a request presents: its bearer header, else its cookie.
fn presented(headers: &HeaderMap) -> Option<String> {
    let bearer = crate::auth::bearer(headers);
    if let Some(t) = bearer {
        return Some(t.to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(|t| {
            percent_encoding::percent_decode_str(t)
                .decode_utf8_lossy()
                .into_owned()
        })
}

/// The caller, if any: everyone is an admin with authentication off.
pub(super) fn actor(svc: &Service, headers: &HeaderMap) -> Option<Actor> {
    if !svc.auth.enabled() {
        return Some(Actor::anonymous());
    }
    svc.auth.identify(&presented(headers)?)
}

/// A POST from another site's page (it may carry the cookie on old browsers).
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return true;
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split("://").nth(1).unwrap_or(origin);
            origin != "null" && origin_host != host
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// Middleware of the console's pages: no known token, the login form;
/// an action needs the operator role and the same site.
pub(super) async fn gate(
    State(svc): State<Arc<Service>>,
    mut req: Request,
    next: Next,
) -> Response {
    let base = svc.config.ui.base();
    let Some(actor) = actor(&svc, req.headers()) else {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            let next_page = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let to = format!(
                "{base}login?next={}",
                percent_encoding::utf8_percent_encode(
                    next_page,
                    percent_encoding::NON_ALPHANUMERIC
                )
            );
            return Redirect::to(&to).into_response();
        }
        return refusal(
            &svc,
            StatusCode::UNAUTHORIZED,
            "Sign in first: this action needs a token.",
        );
    };
    let ctx = Ctx::new(&svc, actor);
    if req.method() != Method::GET && req.method() != Method::HEAD {
        if cross_site(req.headers()) {
            return refusal(
                &svc,
                StatusCode::FORBIDDEN,
                "Refused: this action came from another site.",
            );
        }
        if !ctx.can_act() {
            let msg = format!(
                "This needs the operator role; the token {:?} has {}.",
                ctx.actor.name,
                ctx.actor.role.as_str()
            );
            return refusal(&svc, StatusCode::FORBIDDEN, &msg);
        }
    }
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

/// A page saying why not.
fn refusal(svc: &Service, code: StatusCode, why: &str) -> Response {
    let ctx = Ctx::anonymous(svc);
    let body = html! {
        h1 { "Not allowed" }
        p.notice.bad role="alert" { (why) }
        p { a href=(format!("{}login", ctx.base)) { "Sign in with another token" } }
    };
    (code, page::bare(&ctx, "Not allowed", body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NextQuery {
    next: Option<String>,
    failed: Option<u8>,
}

/// Where to go after signing in: a path of this site only.
fn safe_next(next: Option<&str>, base: &str) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => base.to_owned(),
    }
}

/// `GET {path}login`.
pub(super) async fn login_form(
    State(svc): State<Arc<Service>>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let ctx = Ctx::anonymous(&svc);
    let q: Option<NextQuery> = serde_urlencoded::from_str(q.as_deref().unwrap_or_default()).ok();
    let (next, failed) = q.map_or((None, false), |q| (q.next, q.failed.is_some()));
    let next = safe_next(next.as_deref(), &ctx.base);
    let body = html! {
        h1 { "Sign in" }
        @if failed {
            p.notice.bad role="alert" { "✖ That token is not valid." }
        }
        @if !svc.auth.enabled() {
            p.notice { "Authentication is off on this host: everyone may see and act. "
                a href=(ctx.base) { "Go to the console" } }
        }
        form.stack method="post" action=(format!("{}login", ctx.base)) {
            input type="hidden" name="next" value=(next);
            label for="token" { "API token" }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            p.hint { "A token from " code { "[[auth.tokens]]" } ". Viewers see the console; operators and admins may also act." }
            button type="submit" { "Sign in" }
        }
    };
    page::bare(&ctx, "Sign in", body).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST {path}login`: a valid token becomes the cookie.
pub(super) async fn login(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let base = svc.config.ui.base();
    let next = safe_next(f.next.as_deref(), &base);
    if cross_site(&headers) {
        return refusal(
            &svc,
            StatusCode::FORBIDDEN,
            "Refused: this sign-in came from another site.",
        );
    }
    let token = f.token.trim();
    let Some(actor) = svc.auth.identify(token) else {
        tracing::warn!("console: sign-in with an unknown token");
        let to = format!(
            "{base}login?failed=1&next={}",
            percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
        );
        return Redirect::to(&to).into_response();
    };
    tracing::info!(token = %actor.name, role = actor.role.as_str(), "console: signed in");
    let secure = if svc.config.server.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

/// `POST {path}logout`: forgets the cookie.
pub(super) async fn logout(State(svc): State<Arc<Service>>) -> Response {
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let to = format!("{}login", svc.config.ui.base());
    ([(header::SET_COOKIE, cookie)], Redirect::to(&to)).into_response()
}

impl Ctx {
    /// Operators and admins act; viewers only see.
    pub(super) fn can_act(&self) -> bool {
        self.actor.role >= Role::Operator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_token_comes_from_the_bearer_header_or_the_cookie() {
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer abc")])).as_deref(),
            Some("abc")
        );
        let c = headers(&[("cookie", "x=1; assay_token=s%2Fe%3Dcret; y=2")]);
        assert_eq!(presented(&c).as_deref(), Some("s/e=cret"));
        assert_eq!(presented(&headers(&[("cookie", "assay_tokenx=1")])), None);
    }

    #[test]
    fn posts_from_other_sites_are_refused() {
        assert!(!cross_site(&headers(&[
            ("host", "a:1"),
            ("origin", "http://a:1")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "a:1"),
            ("origin", "http://evil")
        ])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&headers(&[])));
    }

    #[test]
    fn sign_in_goes_back_to_a_page_of_this_site_only() {
        assert_eq!(safe_next(Some("/probes?x=1"), "/"), "/probes?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "probes",
        ] {
            assert_eq!(safe_next(Some(bad), "/ui/"), "/ui/", "{bad}");
        }
    }
}
