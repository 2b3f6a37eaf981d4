//! Outgoing HTTP for probes, over the standard `wasi:http` outgoing handler.
//!
//! The host sends the request only when the operator listed its `host:port`
//! in the probe's `allow_http`; anything else comes back as
//! [`HttpError::Denied`] before a connection is made.
//!
//! ```no_run
//! use assay_plugin_sdk::http::{Request, send};
//! let response = send(&Request::get("http://127.0.0.1:8080/health")).unwrap();
//! assert_eq!(response.status, 200);
//! ```
//! Natively (in a plugin's unit tests) there is no host, and [`send`]
//! returns [`HttpError::Unsupported`]: test the logic that judges a
//! [`Response`] instead, and the I/O end to end through `assay probe run`.

use std::fmt;
use std::time::Duration;

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, … (any token).
    pub method: String,
    /// `http://` or `https://` URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Applies to connecting, to the first response byte and between body
    /// bytes. The host's own per-call deadline applies as well.
    pub timeout: Option<Duration>,
    /// Response bodies longer than this are cut (default 1 MiB).
    pub max_body_bytes: usize,
}

impl Request {
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            max_body_bytes: 1 << 20,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A response, body read whole (up to the request's `max_body_bytes`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body was cut at `max_body_bytes`.
    pub truncated: bool,
}

impl Response {
    /// The first header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not `http(s)://authority/path`.
    InvalidUrl(String),
    /// The host refused: the authority is not in the probe's `allow_http`.
    Denied(String),
    /// Connecting, or waiting for the answer, took longer than allowed.
    Timeout(String),
    /// Anything else the transport reported (refused connection, DNS, TLS, …).
    Transport(String),
    /// No host to send through (native unit tests).
    Unsupported,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            HttpError::Denied(a) => write!(
                f,
                "request to {a} denied by the host: not in this probe's allow_http"
            ),
            HttpError::Timeout(m) => write!(f, "timed out: {m}"),
            HttpError::Transport(m) => f.write_str(m),
            HttpError::Unsupported => {
                f.write_str("HTTP is provided by the assay host; not available natively")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// The parts of an `http(s)` URL the request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    pub https: bool,
    /// `host[:port]` as written.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path_and_query: String,
}

/// Splits `url` into scheme, authority and path (the fragment is dropped).
pub fn split_url(url: &str) -> Result<UrlParts, HttpError> {
    let bad = |why: &str| HttpError::InvalidUrl(format!("{url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected http:// or https://"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(bad("only http and https are supported")),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return Err(bad("missing or invalid host"));
    }
    let path_and_query = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    Ok(UrlParts {
        https,
        authority: authority.to_owned(),
        path_and_query,
    })
}

/// Sends `request` and reads the response.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    let url = split_url(&request.url)?;
    imp::send(request, &url)
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;

    pub(super) fn send(_: &Request, _: &UrlParts) -> Result<Response, HttpError> {
        Err(HttpError::Unsupported)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions,
        Scheme,
    };
    use wasip2::io::streams::StreamError;

    pub(super) fn send(request: &Request, url: &UrlParts) -> Result<Response, HttpError> {
        let transport = |what: &str| HttpError::Transport(what.to_owned());
        let headers = Fields::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| transport(&format!("header {name:?} refused: {e:?}")))?;
        }
        let req = OutgoingRequest::new(headers);
        req.set_method(&method(&request.method))
            .map_err(|()| transport("invalid method"))?;
        req.set_scheme(Some(if url.https {
            &Scheme::Https
        } else {
            &Scheme::Http
        }))
        .map_err(|()| transport("invalid scheme"))?;
        req.set_authority(Some(&url.authority))
            .map_err(|()| HttpError::InvalidUrl(format!("invalid host {:?}", url.authority)))?;
        req.set_path_with_query(Some(&url.path_and_query))
            .map_err(|()| {
                HttpError::InvalidUrl(format!("invalid path {:?}", url.path_and_query))
            })?;
        let options = RequestOptions::new();
        if let Some(t) = request.timeout {
            let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            // The host may not support every timeout; what it refuses it does not apply.
            let _ = options.set_connect_timeout(Some(ns));
            let _ = options.set_first_byte_timeout(Some(ns));
            let _ = options.set_between_bytes_timeout(Some(ns));
        }
        let body = req
            .body()
            .map_err(|()| transport("request body unavailable"))?;
        let future =
            outgoing_handler::handle(req, Some(options)).map_err(|e| error(e, &url.authority))?;
        if !request.body.is_empty() {
            let stream = body
                .write()
                .map_err(|()| transport("request body stream"))?;
            for chunk in request.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| transport(&format!("writing the request body: {e:?}")))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|e| error(e, &url.authority))?;
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(e))) => return Err(error(e, &url.authority)),
            Some(Err(())) | None => return Err(transport("the response future was lost")),
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| {
                (
                    n.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| transport("response body"))?;
        let (body, truncated) = read_body(&incoming, request.max_body_bytes)?;
        drop(incoming);
        Ok(Response {
            status,
            headers,
            body,
            truncated,
        })
    }

    fn read_body(incoming: &IncomingBody, max: usize) -> Result<(Vec<u8>, bool), HttpError> {
        let stream = incoming
            .stream()
            .map_err(|()| HttpError::Transport("response body stream".into()))?;
        let mut body = Vec::new();
        loop {
            if body.len() >= max {
                return Ok((body, true));
            }
            let want = (max - body.len()).min(64 << 10) as u64;
            match stream.blocking_read(want) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => return Ok((body, false)),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(HttpError::Transport(format!(
                        "reading the response body: {}",
                        e.to_debug_string()
                    )));
                }
            }
        }
    }

    fn method(m: &str) -> Method {
        match m.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        }
    }

    fn error(e: ErrorCode, authority: &str) -> HttpError {
        match e {
            ErrorCode::HttpRequestDenied => HttpError::Denied(authority.to_owned()),
            ErrorCode::ConnectionTimeout => {
                HttpError::Timeout(format!("connecting to {authority}"))
            }
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                HttpError::Timeout(format!("waiting for {authority} to answer"))
            }
            ErrorCode::ConnectionRefused => {
                HttpError::Transport(format!("connection to {authority} refused"))
            }
            ErrorCode::DnsError(d) => HttpError::Transport(format!(
                "DNS lookup of {authority} failed: {}",
                d.rcode.unwrap_or_default()
            )),
            ErrorCode::InternalError(Some(m)) => {
                HttpError::Transport(format!("request to {authority} failed: {m}"))
            }
            other => HttpError::Transport(format!("request to {authority} failed: {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_what_the_request_needs() {
        let u = split_url("https://example.com:8443/a/b?x=1#frag").unwrap();
        assert!(u.https);
        assert_eq!(u.authority, "example.com:8443");
        assert_eq!(u.path_and_query, "/a/b?x=1");
        let u = split_url("http://127.0.0.1").unwrap();
        assert_eq!(u.path_and_query, "/");
        assert_eq!(split_url("http://h?q").unwrap().path_and_query, "/?q");
        assert!(matches!(
            split_url("ftp://h/"),
            Err(HttpError::InvalidUrl(_))
        ));
        assert!(matches!(
            split_url("example.com"),
            Err(HttpError::InvalidUrl(_))
        ));
        assert!(matches!(
            split_url("http://u@h/"),
            Err(HttpError::InvalidUrl(_))
        ));
    }

    #[test]
    fn natively_there_is_no_transport() {
        assert_eq!(
            send(&Request::get("http://h/")),
            Err(HttpError::Unsupported)
        );
    }
}
