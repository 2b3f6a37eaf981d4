"""`assay_plugin.http` inside a probe's component: one blocking request over
the host's ``wasi:http`` (``outgoing-handler``). Imported only there, where
componentize-py has generated ``wit_world`` for the ``http-probe`` world
(``python3 -m assay_plugin build`` makes it: the probe world plus
``wasi:http/outgoing-handler``)."""

from __future__ import annotations

from typing import Any

from componentize_py_types import Err
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as ht

from .http import HttpError, Response, _joined

_METHODS = {
    "GET": ht.Method_Get,
    "HEAD": ht.Method_Head,
    "POST": ht.Method_Post,
    "PUT": ht.Method_Put,
    "DELETE": ht.Method_Delete,
    "OPTIONS": ht.Method_Options,
    "PATCH": ht.Method_Patch,
}

#: Bytes per write: wasi:io's `blocking-write-and-flush` takes at most 4096.
_CHUNK = 4096


def _drop(resource: Any) -> None:
    resource.__exit__(None, None, None)


def _code(value: Any) -> str:
    """`ErrorCode_HttpRequestDenied()` -> `HttpRequestDenied`."""
    return type(value).__name__.removeprefix("ErrorCode_")


def transport(method, url, headers, body, timeout, max_body) -> Response:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        fields = ht.Fields.from_list([(k, v.encode()) for k, v in headers])
    except Err as e:
        raise HttpError("HttpRequestHeaderSize", f"{method} {url}: a header is refused ({_code(e.value)})") from None
    req = ht.OutgoingRequest(fields)
    req.set_method(_METHODS[method]() if method in _METHODS else ht.Method_Other(method))
    req.set_scheme(ht.Scheme_Https() if parts.scheme == "https" else ht.Scheme_Http())
    req.set_authority(parts.netloc.rpartition("@")[2])
    req.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    options = ht.RequestOptions()
    if timeout is not None:
        ns = max(1, int(timeout * 1e9))
        for setter in (options.set_connect_timeout, options.set_first_byte_timeout, options.set_between_bytes_timeout):
            try:
                setter(ns)
            except Err:
                pass  # not supported: the call's own deadline still applies
    out_body = req.body()
    try:
        future = outgoing_handler.handle(req, options)
    except Err as e:
        raise HttpError(_code(e.value), f"{method} {url}: {_code(e.value)}") from None
    if body:
        sink = out_body.write()
        try:
            for i in range(0, len(body), _CHUNK):
                sink.blocking_write_and_flush(body[i : i + _CHUNK])
        except Err:
            raise HttpError("HttpProtocolError", f"{method} {url}: sending the body failed") from None
        finally:
            _drop(sink)
    ht.OutgoingBody.finish(out_body, None)

    pollable = future.subscribe()
    pollable.block()
    _drop(pollable)
    got = future.get()
    _drop(future)
    if got is None or isinstance(got, Err):
        raise HttpError("InternalError", f"{method} {url}: no response")
    if isinstance(got.value, Err):
        code = _code(got.value.value)
        raise HttpError(code, f"{method} {url}: {code}")
    resp = got.value.value
    status = resp.status()
    fields = resp.headers()
    pairs = [(k, v.decode("latin-1")) for k, v in fields.entries()]
    _drop(fields)
    incoming = resp.consume()
    stream = incoming.stream()
    data = bytearray()
    try:
        while True:
            try:
                data += stream.blocking_read(65536)
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise HttpError("HttpProtocolError", f"{method} {url}: reading the body failed") from None
            if len(data) > max_body:
                raise HttpError("HttpResponseBodySize", f"{method} {url}: the body is over {max_body} bytes")
    finally:
        _drop(stream)
    _drop(ht.IncomingBody.finish(incoming))
    _drop(resp)
    return Response(status, _joined(pairs), bytes(data))
