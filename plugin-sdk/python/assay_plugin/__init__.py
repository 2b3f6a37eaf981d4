"""Write assay plugins in Python.

A plugin is one module with one decorated function::

    import assay_plugin as assay

    @assay.validator
    def check(subject: assay.Subject, level: assay.Level, config: dict):
        if not subject.data:
            return [assay.error("empty", "the subject is empty")]
        return []

`python3 -m assay_plugin build` compiles it, with its `plugin.toml`, into a
WebAssembly component the assay host loads. The function itself is plain
Python: unit-test it with any test runner, no WebAssembly needed.
"""

from . import http
from ._host import DiskStats, LoadStats, MemoryStats, log, sha256, system
from ._registry import prepare, probe, router, validator
from ._types import (
    Alert,
    AlertStatus,
    Decision,
    Deliver,
    Delivery,
    Finding,
    Level,
    NotApplicable,
    Observation,
    Outcome,
    PluginError,
    Severity,
    Status,
    Subject,
    Suppress,
    critical,
    deliver,
    error,
    info,
    not_applicable,
    suppress,
    warning,
)

__all__ = [
    "Alert", "AlertStatus", "Decision", "Deliver", "Delivery", "DiskStats", "Finding",
    "Level", "LoadStats", "MemoryStats", "NotApplicable", "Observation", "Outcome",
    "PluginError", "Severity", "Status", "Subject", "Suppress", "critical", "deliver",
    "error", "http", "info", "log", "not_applicable", "prepare", "probe", "router", "sha256",
    "suppress", "system", "validator", "warning",
]
