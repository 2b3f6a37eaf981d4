"""The plugin contract's types as plain Python, usable without WebAssembly.

These mirror `wit/plugin.wit`. A plugin's code and its unit tests only ever
see these; the component glue (`_component.py`) converts them to and from
the bindings componentize-py generates from the WIT at build time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class PluginError(Exception):
    """This call could not be done (bad configuration, an unexpected state).

    The host records the message as the call's error. A subject that fails
    its checks is not an error: return findings instead.
    """


class Level(enum.IntEnum):
    """How deep a validator looks; each level includes the ones below it."""

    MINIMAL = 0
    STANDARD = 1
    COMPREHENSIVE = 2
    FULL = 3


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2
    CRITICAL = 3


@dataclass(frozen=True)
class Subject:
    """The thing a validator examines."""

    name: str
    content_type: str
    data: bytes

    @property
    def text(self) -> str:
        """The subject's bytes as UTF-8 text (raises `PluginError` if they are not)."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PluginError(f"{self.name} is not UTF-8 text: {e}") from None


@dataclass(frozen=True)
class Finding:
    """One problem (or remark) found in a subject.

    `code` is stable and dotted (`csv.header_missing`); `path` is a JSON
    Pointer when the subject is JSON, or any locator that helps a person
    (`/rows/3`), `None` when not meaningful.
    """

    severity: Severity
    code: str
    message: str
    path: str | None = None


def info(code: str, message: str, path: str | None = None) -> Finding:
    return Finding(Severity.INFO, code, message, path)


def warning(code: str, message: str, path: str | None = None) -> Finding:
    return Finding(Severity.WARNING, code, message, path)


def error(code: str, message: str, path: str | None = None) -> Finding:
    return Finding(Severity.ERROR, code, message, path)


def critical(code: str, message: str, path: str | None = None) -> Finding:
    return Finding(Severity.CRITICAL, code, message, path)


@dataclass(frozen=True)
class NotApplicable:
    """The subject is not something this plugin checks. Not a failure."""

    reason: str


def not_applicable(reason: str) -> NotApplicable:
    return NotApplicable(reason)


class Status(enum.IntEnum):
    """A probe's verdict."""

    PASS = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True)
class Observation:
    """A number a probe measured; the host exports it as a metric."""

    name: str
    value: float
    unit: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one probe run found."""

    status: Status
    message: str
    observations: list[Observation] = field(default_factory=list)

    @classmethod
    def passed(cls, message: str, *observations: Observation) -> Outcome:
        return cls(Status.PASS, message, list(observations))

    @classmethod
    def warning(cls, message: str, *observations: Observation) -> Outcome:
        return cls(Status.WARN, message, list(observations))

    @classmethod
    def failed(cls, message: str, *observations: Observation) -> Outcome:
        return cls(Status.FAIL, message, list(observations))


class AlertStatus(enum.Enum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    """An alert as the engine hands it to a router."""

    name: str
    severity: Severity
    status: AlertStatus = AlertStatus.FIRING
    summary: str = ""
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    source: str = ""
    fingerprint: str = ""
    starts_at_ms: int = 0
    ends_at_ms: int | None = None

    @property
    def firing(self) -> bool:
        return self.status is AlertStatus.FIRING


@dataclass(frozen=True)
class Delivery:
    """One notification a router asks for, to a `[[channel]]` by name."""

    channel: str
    title: str | None = None
    body: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    repeat_interval_ms: int | None = None


@dataclass(frozen=True)
class Deliver:
    """Send these notifications (possibly none)."""

    to: list[Delivery]
    continue_chain: bool = False


@dataclass(frozen=True)
class Suppress:
    """Send nothing for this alert; the reason is recorded with it."""

    reason: str


Decision = Deliver | Suppress


def deliver(*to: str | Delivery, continue_chain: bool = False) -> Deliver:
    """Deliver to channels, given by name or as `Delivery` values."""
    return Deliver(
        [d if isinstance(d, Delivery) else Delivery(d) for d in to],
        continue_chain,
    )


def suppress(reason: str) -> Suppress:
    return Suppress(reason)
