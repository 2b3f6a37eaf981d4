"""{{name}}: an assay health probe, in Python.

It checks that a file exists and holds at least `min_bytes` (default 1).
Config: {"path": "/var/lib/app/heartbeat", "min_bytes": 1}. The operator
must grant the file's directory (`allow_read`): a probe sees nothing else.
"""

import os

import assay_plugin as assay


@assay.probe
def probe(config: dict) -> assay.Outcome:
    path = config.get("path")
    min_bytes = config.get("min_bytes", 1)
    if not isinstance(path, str) or not path:
        raise assay.PluginError("path: the file to check is required")
    if not isinstance(min_bytes, int) or min_bytes < 0:
        raise assay.PluginError("min_bytes: expected a non-negative integer")
    try:
        size = os.stat(path).st_size
    except OSError as e:
        return assay.Outcome.failed(f"cannot read {path}: {e.strerror or e}")
    observed = assay.Observation("size_bytes", size, "bytes")
    if size < min_bytes:
        return assay.Outcome.failed(f"{path} holds {size} bytes, fewer than {min_bytes}", observed)
    return assay.Outcome.passed(f"{path} holds {size} bytes", observed)
