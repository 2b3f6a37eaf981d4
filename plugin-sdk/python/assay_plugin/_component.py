"""The glue between a plugin's plain-Python function and the component's
exports. Imported only inside a component (by the entry module that
`python3 -m assay_plugin build` generates), where componentize-py has
generated `wit_world` from `wit/plugin.wit`."""

from __future__ import annotations

import json
import traceback
from typing import Any, Callable

from componentize_py_types import Err
from wit_world.imports import host as _wit_host

try:  # a probe's world also imports wasi:http, whose `types` takes the plain name's place
    from wit_world.imports import assay_plugin_types as wt
except ImportError:
    from wit_world.imports import types as wt

from . import _host, _registry
from ._types import (
    Alert,
    AlertStatus,
    Deliver,
    Finding,
    Level,
    NotApplicable,
    Outcome,
    PluginError,
    Severity,
    Subject,
    Suppress,
)

_INFO: tuple[str, str, str] = ("", "", "")

_LOG_LEVELS = {
    "trace": _wit_host.LogLevel.TRACE,
    "debug": _wit_host.LogLevel.DEBUG,
    "info": _wit_host.LogLevel.INFO,
    "warn": _wit_host.LogLevel.WARN,
    "error": _wit_host.LogLevel.ERROR,
}
_host._log_sink = lambda level, message: _wit_host.log(_LOG_LEVELS[level], message)
_host._sha256 = _wit_host.sha256


def bind(name: str, version: str, description: str) -> None:
    """Sets what `info()` answers (from `plugin.toml`)."""
    global _INFO
    _INFO = (name, version, description)


def _plugin(kind: str) -> _registry.Registered:
    p = _registry.current()
    if p is None or p.kind != kind:
        raise Err(f"the module registers no {kind}")
    return p


def _config(text: str) -> dict:
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise Err(f"the configuration is not JSON: {e}") from None
    if not isinstance(config, dict):
        raise Err("the configuration must be a JSON object")
    return config


def _call(func: Callable[..., Any], *args: Any) -> Any:
    """Runs the plugin's code: `PluginError` becomes the call's error, and so
    does any other exception (with its traceback in the host's log), so a
    bug in a plugin is an error the operator can read, not a trap."""
    try:
        return func(*args)
    except Err:
        raise
    except PluginError as e:
        raise Err(str(e)) from None
    except Exception as e:  # noqa: BLE001 - every failure becomes an error value
        _wit_host.log(_wit_host.LogLevel.ERROR, traceback.format_exc(limit=8))
        raise Err(f"{type(e).__name__}: {e}") from None


def _info() -> wt.PluginInfo:
    return wt.PluginInfo(*_INFO)


def _severity(s: Severity) -> wt.Severity:
    return wt.Severity(int(Severity(s)))


def _finding(f: Any) -> wt.Finding:
    if not isinstance(f, Finding):
        raise Err(f"a validator returns Finding values, not {type(f).__name__}")
    return wt.Finding(_severity(f.severity), f.code, f.message, f.path)


class Validation:
    def info(self) -> wt.PluginInfo:
        return _info()

    def validate(self, subject: wt.Subject, level: wt.Level, config: str) -> wt.Validation:
        p = _plugin("validator")
        s = Subject(subject.name, subject.content_type, bytes(subject.data))
        answer = _call(p.func, s, Level(level.value), _config(config))
        if isinstance(answer, NotApplicable):
            return wt.Validation_NotApplicable(answer.reason)
        if answer is None:
            answer = []
        return wt.Validation_Findings([_finding(f) for f in answer])


class Probing:
    def info(self) -> wt.PluginInfo:
        return _info()

    def probe(self, config: str) -> wt.ProbeOutcome:
        p = _plugin("probe")
        out = _call(p.func, _config(config))
        if not isinstance(out, Outcome):
            raise Err(f"a probe returns an Outcome, not {type(out).__name__}")
        return wt.ProbeOutcome(
            wt.ProbeStatus(int(out.status)),
            out.message,
            [wt.Observation(o.name, float(o.value), o.unit) for o in out.observations],
        )


def _alert(a: wt.Alert) -> Alert:
    return Alert(
        name=a.name,
        severity=Severity(a.severity.value),
        status=AlertStatus.FIRING if a.status == wt.AlertStatus.FIRING else AlertStatus.RESOLVED,
        summary=a.summary,
        description=a.description,
        labels=dict(a.labels),
        annotations=dict(a.annotations),
        source=a.source,
        fingerprint=a.fingerprint,
        starts_at_ms=a.starts_at_ms,
        ends_at_ms=a.ends_at_ms,
    )


class Routing:
    def info(self) -> wt.PluginInfo:
        return _info()

    def route(self, alert: wt.Alert, config: str) -> wt.RoutingDecision:
        p = _plugin("router")
        d = _call(p.func, _alert(alert), _config(config))
        if isinstance(d, Suppress):
            return wt.RoutingDecision_Suppress(d.reason)
        if not isinstance(d, Deliver):
            raise Err(f"a router returns deliver(...) or suppress(...), not {type(d).__name__}")
        return wt.RoutingDecision_Deliver(
            wt.Deliveries(
                [
                    wt.Delivery(
                        x.channel,
                        x.title,
                        x.body,
                        list(x.labels.items()),
                        x.repeat_interval_ms,
                    )
                    for x in d.to
                ],
                d.continue_chain,
            )
        )


class WitWorld:
    """The world-level `prepare` export of the prepared worlds."""

    def prepare(self, config: str) -> None:
        p = _registry.current()
        if p is not None and p.prepare is not None:
            _call(p.prepare, _config(config))


def install_system() -> None:
    """Routes `assay_plugin.system` to the host's `system` import (probes)."""
    from wit_world.imports import system as ws

    class _HostSystem:
        def _unwrap(self, f: Callable[..., Any], *args: Any) -> Any:
            try:
                return f(*args)
            except Err as e:
                raise PluginError(str(e.value)) from None

        def disk_usage(self, path: str) -> _host.DiskStats:
            s = self._unwrap(ws.disk_usage, path)
            return _host.DiskStats(s.total_bytes, s.available_bytes)

        def memory_usage(self) -> _host.MemoryStats:
            s = self._unwrap(ws.memory_usage)
            return _host.MemoryStats(s.total_bytes, s.available_bytes, s.swap_total_bytes, s.swap_free_bytes)

        def load_average(self) -> _host.LoadStats:
            s = self._unwrap(ws.load_average)
            return _host.LoadStats(s.one, s.five, s.fifteen)

        def uptime_seconds(self) -> float:
            return self._unwrap(ws.uptime_seconds)

    _host.system.backend = _HostSystem()


def install_http() -> None:
    """Routes `assay_plugin.http` to the host's `wasi:http` (probes)."""
    from . import _wasi_http, http

    http._transport = _wasi_http.transport
