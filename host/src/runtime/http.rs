//! `wasi:http` for probes: requests go out through wasmtime-wasi-http only to the authorities in `allow_http`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::Grants;
use super::sockets::SocketBook;
use super::state::CallState;

/// The hooks of one call: its grants, and what is left of its deadline.
pub(crate) struct HttpHooks {
    pub(crate) grants: Arc<Grants>,
    /// Caps every connect, first-byte and between-bytes timeout of the call.
    pub(crate) timeout: Duration,
    pub(crate) plugin: Arc<str>,
    pub(crate) denied: Arc<Mutex<Vec<String>>>,
    /// The call's socket accounting: each request holds one.
    pub(crate) sockets: Arc<SocketBook>,
    pub(crate) max_sockets: u32,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.grants.http_allows(&host, port) {
            CallState::deny(
                &self.denied,
                &self.plugin,
                format!("http request to {host}:{port}: not in allow_http"),
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let open = self.sockets.http_requests.load(Ordering::Relaxed);
        let what = format!("http request to {host}:{port}");
        if !self
            .sockets
            .admit(open, self.max_sockets, &what, &self.plugin, &self.denied)
        {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        self.sockets.http_requests.fetch_add(1, Ordering::Relaxed);
        // The probe run's trace context, where `[telemetry] propagate` names probes.
        crate::telemetry::traces::inject(crate::config::Propagate::Probes, request.headers_mut());
        let cap = |t: Option<Duration>| Some(t.map_or(self.timeout, |t| t.min(self.timeout)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout),
        };
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
