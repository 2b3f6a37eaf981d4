"""The decorators that name a module's plugin: `@validator`, `@probe`, `@router`
and `@prepare`. One plugin per module, of one kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Registered:
    kind: str
    func: Callable[..., Any]
    prepare: Callable[[dict], None] | None = None


_plugin: Registered | None = None
_prepare: Callable[[dict], None] | None = None


def _register(kind: str, func: Callable[..., Any]) -> Callable[..., Any]:
    global _plugin
    if _plugin is not None and _plugin.func is not func:
        raise TypeError(
            f"a module holds one plugin: {func.__name__} is a {kind}, "
            f"but {_plugin.func.__name__} is already registered as a {_plugin.kind}"
        )
    _plugin = Registered(kind, func, _prepare)
    return func


def validator(func: Callable[..., Any]) -> Callable[..., Any]:
    """Marks `func(subject, level, config) -> list[Finding] | NotApplicable`
    as the module's validator."""
    return _register("validator", func)


def probe(func: Callable[..., Any]) -> Callable[..., Any]:
    """Marks `func(config) -> Outcome` as the module's health probe."""
    return _register("probe", func)


def router(func: Callable[..., Any]) -> Callable[..., Any]:
    """Marks `func(alert, config) -> Deliver | Suppress` as the module's router."""
    return _register("router", func)


def prepare(func: Callable[[dict], None]) -> Callable[[dict], None]:
    """Marks `func(config)`, called by the host when it loads the plugin (and
    when its configuration changes): raise `PluginError` to refuse a bad
    configuration at load instead of at the first call. Validators and
    routers only."""
    global _prepare
    _prepare = func
    if _plugin is not None:
        _plugin.prepare = func
    return func


def current() -> Registered | None:
    """The plugin the imported module registered, if any."""
    return _plugin
