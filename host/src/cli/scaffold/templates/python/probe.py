"""{{name}}: an assay health probe, in Python.

It fetches `url` and passes on a 2xx answer, warns when the answer took
longer than `warn_ms`, and fails otherwise. Config:
{"url": "http://127.0.0.1:8080/health", "warn_ms": 500}. The operator must
grant the host and port (`allow_http`): a probe reaches nothing else.
`assay.http` goes through the host's wasi:http inside the component, and
through urllib in the unit tests. Files are read with `open()` (inside the
`allow_read` grants), the machine's figures with `assay.system`.
"""

import time

import assay_plugin as assay


@assay.probe
def probe(config: dict) -> assay.Outcome:
    url = config.get("url")
    warn_ms = config.get("warn_ms", 500)
    if not isinstance(url, str) or not url:
        raise assay.PluginError("url: the address to check is required")
    if not isinstance(warn_ms, (int, float)) or warn_ms < 0:
        raise assay.PluginError("warn_ms: expected a non-negative number")
    started = time.monotonic()
    try:
        response = assay.http.get(url, timeout=10)
    except assay.http.HttpError as e:
        return assay.Outcome.failed(f"{url}: {e}")
    ms = (time.monotonic() - started) * 1000
    observed = [
        assay.Observation("status_code", response.status),
        assay.Observation("latency_seconds", ms / 1000, "seconds"),
    ]
    if not 200 <= response.status < 300:
        return assay.Outcome.failed(f"{url} answered {response.status}", *observed)
    if ms > warn_ms:
        return assay.Outcome.warning(f"{url} answered in {ms:.0f} ms, slower than {warn_ms} ms", *observed)
    return assay.Outcome.passed(f"{url} answered {response.status} in {ms:.0f} ms", *observed)
