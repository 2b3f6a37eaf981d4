"""log-errors: a health probe, written in Python, that reads the end of a log
file and counts the lines matching a pattern.

Configuration (JSON):

    {"path": "/var/log/app/app.log",   # required; inside an allow_read directory
     "pattern": "ERROR|FATAL",          # a Python regular expression (this default)
     "tail_bytes": 65536,               # how much of the end to read (this default)
     "warn_at": 1,                      # matches that make it warn (this default)
     "fail_at": 10}                     # matches that make it fail (this default)

Observations: `matches` and `bytes_scanned`.
"""

import os
import re

import assay_plugin as assay

DEFAULTS = {"pattern": "ERROR|FATAL", "tail_bytes": 65536, "warn_at": 1, "fail_at": 10}


def _settings(config: dict) -> dict:
    unknown = set(config) - {"path", *DEFAULTS}
    if unknown:
        raise assay.PluginError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    s = {**DEFAULTS, **config}
    if not isinstance(s.get("path"), str) or not s["path"]:
        raise assay.PluginError("path: the log file to read is required")
    for key in ("tail_bytes", "warn_at", "fail_at"):
        if not isinstance(s[key], int) or s[key] < 1:
            raise assay.PluginError(f"{key}: expected a positive integer")
    try:
        s["regex"] = re.compile(s["pattern"])
    except (re.error, TypeError) as e:
        raise assay.PluginError(f"pattern: not a regular expression: {e}") from None
    return s


@assay.probe
def probe(config: dict) -> assay.Outcome:
    s = _settings(config)
    try:
        with open(s["path"], "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - s["tail_bytes"])
            f.seek(start)
            tail = f.read()
    except OSError as e:
        return assay.Outcome.failed(f"cannot read {s['path']}: {e.strerror or e}")
    lines = tail.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # the first line is probably cut
    matches = sum(1 for line in lines if s["regex"].search(line))
    observations = (
        assay.Observation("matches", matches),
        assay.Observation("bytes_scanned", len(tail), "bytes"),
    )
    message = f"{matches} line(s) matching /{s['pattern']}/ in the last {len(tail)} bytes of {s['path']}"
    if matches >= s["fail_at"]:
        return assay.Outcome.failed(message, *observations)
    if matches >= s["warn_at"]:
        return assay.Outcome.warning(message, *observations)
    return assay.Outcome.passed(message, *observations)
