//! The authentication middleware: it checks each request's bearer token
//! against [`crate::auth::Auth`] and the route's role, and hands the handler
//! the [`Actor`].

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
pub(crate) use crate::auth::Actor;
use crate::service::Service;

/// Middleware: authenticates the caller, checks the route's role, and hands
/// the [`Actor`] to the handler.
pub(crate) async fn require_role(
    State(svc): State<std::sync::Arc<Service>>,
    mut req: Request,
    next: Next,
) -> Response {
    let auth = &svc.auth;
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(route) = route else {
        // No route matched: the fallback answers 404 whoever asks.
        return next.run(req).await;
    };
    if !auth.enabled() {
        req.extensions_mut().insert(Actor::anonymous());
        return next.run(req).await;
    }
    let Some(needed) = auth.required(req.method(), &route) else {
        return next.run(req).await;
    };
    let presented = crate::auth::bearer(req.headers());
    let Some(presented) = presented else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this endpoint needs a token: send `Authorization: Bearer <token>`",
        )
        .into_response();
    };
    let Some(actor) = auth.identify(presented) else {
        tracing::warn!(route, "rejected a request with an unknown token");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the token is not valid",
        )
        .into_response();
    };
    if actor.role < needed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} {route} needs the {} role; the token {:?} has {}",
                req.method(),
                needed.as_str(),
                actor.name,
                actor.role.as_str()
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(actor);
    next.run(req).await
}
