"""HTTP for probes: ``assay.http.get(url)`` and friends, blocking.

Inside the component a request goes through the host's ``wasi:http``,
within the probe's ``allow_http`` grants: an authority the operator did not
grant raises :class:`HttpError` with ``code == "HttpRequestDenied"`` before
any connection is made. Natively (in unit tests) the same calls go through
``urllib``, so a probe's function can be tested against a local server.

Every status is a response (a probe judges a 503 itself); redirects are not
followed (a 301 is the answer); an error is raised only when there is no
response: refused, timed out, a name that does not resolve, a body over
``max_body``. ::

    r = assay.http.get(config["url"], timeout=5)
    if r.status != 200:
        return assay.Outcome.failed(f"{r.status}", assay.Observation("status_code", r.status))
"""

from __future__ import annotations

import json as _json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ._types import PluginError

#: The largest response body read, by default (1 MiB); more raises HttpError.
MAX_BODY = 1 << 20


class HttpError(PluginError):
    """No response: ``code`` says why (``wasi:http``'s error-code names:
    ``HttpRequestDenied``, ``ConnectionRefused``, ``ConnectionTimeout``,
    ``DnsError``, ``HttpResponseBodySize``, ...). Uncaught in a probe, it is
    the call's error."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Response:
    """What came back: the status, the headers (lower-case names, repeated
    values joined with ", ") and the body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.body)


# (method, url, headers, body, timeout seconds or None, max body) -> Response
Transport = Callable[[str, str, "list[tuple[str, str]]", "bytes | None", "float | None", int], Response]


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float | None = 10.0,
    max_body: int = MAX_BODY,
) -> Response:
    """Sends one request and reads the whole response (at most ``max_body`` bytes)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError("HttpRequestUriInvalid", f"{url!r}: not an http:// or https:// URL")
    if isinstance(body, str):
        body = body.encode()
    return _transport(method.upper(), url, list((headers or {}).items()), body, timeout, max_body)


def get(url: str, **kwargs: Any) -> Response:
    return request("GET", url, **kwargs)


def head(url: str, **kwargs: Any) -> Response:
    return request("HEAD", url, **kwargs)


def post(url: str, body: bytes | str | None = None, **kwargs: Any) -> Response:
    return request("POST", url, body=body, **kwargs)


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _urllib(method, url, headers, body, timeout, max_body) -> Response:
    """The native transport (unit tests): urllib, without following redirects.
    Imported here, not at the top: the component never uses it, and it would
    carry urllib.request (and http.client, email, ...) into every probe."""
    import socket
    import urllib.error
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    req = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    opener = urllib.request.build_opener(NoRedirects)
    try:
        resp = opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        resp = e
    except urllib.error.URLError as e:
        # The name did not resolve, or the connection failed: wasi:http's names for each.
        code = "DnsError" if isinstance(e.reason, socket.gaierror) else "ConnectionRefused"
        raise HttpError(code, f"{method} {url}: {e.reason}") from None
    except TimeoutError:
        raise HttpError("ConnectionTimeout", f"{method} {url}: timed out") from None
    with resp:
        data = resp.read(max_body + 1)
    if len(data) > max_body:
        raise HttpError("HttpResponseBodySize", f"{method} {url}: the body is over {max_body} bytes")
    return Response(resp.status, _joined(list(resp.headers.items())), data)


#: Replaced by the component's ``wasi:http`` transport when a probe is built.
_transport: Transport = _urllib
