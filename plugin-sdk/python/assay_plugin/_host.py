"""What the host gives every plugin (`log`, `sha256`) and probes granted
`allow_system` (`system`). Outside a component these fall back to plain
Python, so unit tests run anywhere; the component glue swaps in the host's
imports."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Callable

from ._types import PluginError

_LEVELS = ("trace", "debug", "info", "warn", "error")


def _stderr_log(level: str, message: str) -> None:
    print(f"[{level}] {message}", file=sys.stderr)


_log_sink: Callable[[str, str], None] = _stderr_log
_sha256: Callable[[bytes], bytes] = lambda data: hashlib.sha256(data).digest()


class log:  # noqa: N801 - used as a namespace: `log.info("...")`
    """Structured log lines in the host's output, tagged with the plugin's name."""

    @staticmethod
    def trace(message: str) -> None:
        _log_sink("trace", message)

    @staticmethod
    def debug(message: str) -> None:
        _log_sink("debug", message)

    @staticmethod
    def info(message: str) -> None:
        _log_sink("info", message)

    @staticmethod
    def warn(message: str) -> None:
        _log_sink("warn", message)

    @staticmethod
    def error(message: str) -> None:
        _log_sink("error", message)


def sha256(data: bytes) -> bytes:
    """SHA-256 of `data`, computed by the host (several times faster than in WebAssembly)."""
    return _sha256(data)


@dataclass(frozen=True)
class DiskStats:
    total_bytes: int
    available_bytes: int


@dataclass(frozen=True)
class MemoryStats:
    total_bytes: int
    available_bytes: int
    swap_total_bytes: int
    swap_free_bytes: int


@dataclass(frozen=True)
class LoadStats:
    one: float
    five: float
    fifteen: float


class _NoSystem:
    def _missing(self, *_args: object) -> object:
        raise PluginError("system statistics exist only inside the host (a probe granted allow_system)")

    disk_usage = memory_usage = load_average = uptime_seconds = _missing


class system:  # noqa: N801 - a namespace: `system.memory_usage()`
    """Read-only system statistics, for probes the operator granted
    `allow_system`. Each raises `PluginError` naming the missing grant when
    it was not given. Unit tests may replace `system.backend`."""

    backend: object = _NoSystem()

    @classmethod
    def disk_usage(cls, path: str) -> DiskStats:
        return cls.backend.disk_usage(path)  # type: ignore[attr-defined]

    @classmethod
    def memory_usage(cls) -> MemoryStats:
        return cls.backend.memory_usage()  # type: ignore[attr-defined]

    @classmethod
    def load_average(cls) -> LoadStats:
        return cls.backend.load_average()  # type: ignore[attr-defined]

    @classmethod
    def uptime_seconds(cls) -> float:
        return cls.backend.uptime_seconds()  # type: ignore[attr-defined]
