"""The plugin manager: the built-in plugins first, then every installed package that declares
an entry point in the `lockgate` group."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TypeVar

import pluggy

from lockgate.plugins import hookspecs

ENTRY_POINT_GROUP = "lockgate"

# Modules that implement hooks for what ships with Lockgate, registered exactly as a
# third-party plugin would be.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "lockgate.engine.stages",
    "lockgate.observability.subscribers",
    "lockgate.observability.audit",
    "lockgate.observability.turn_metrics",
    "lockgate.telemetry.plugin",
    "lockgate.alerts.subscriber",
    "lockgate.gateway.auth",
    "lockgate.gateway.identity",
    "lockgate.ui.session",  # the dashboard's session cookie, on /ui pages only
    "lockgate.guardrails.builtin",
    "lockgate.models.builtin",
    "lockgate.ingest.builtin",
    "lockgate.engine.review_approvals",
)

T = TypeVar("T")


class _Manager(pluggy.PluginManager):
    """Counts changes to the set of plugins, so registries built from hooks know when what
    they gathered is out of date."""

    generation = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        result = super().register(plugin, name)
        self.generation += 1
        return result

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        result = super().unregister(plugin, name)
        self.generation += 1
        return result


_lock = threading.Lock()
_pm: _Manager | None = None


def plugin_manager() -> _Manager:
    global _pm
    with _lock:
        if _pm is None:
            pm = _Manager(ENTRY_POINT_GROUP)
            pm.add_hookspecs(hookspecs)
            for name in DEFAULT_PLUGINS:
                pm.register(importlib.import_module(name), name=name)
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            _pm = pm
        return _pm


def collect(hook: str, kind: str) -> dict[str, Any]:
    """Call a `register_*` hook and gather what every plugin registered under its name."""
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}

    def register(name: str, thing: Any) -> None:
        if name in found:
            raise ValueError(
                f"{kind} '{name}' is registered twice ({owners[name]} and another plugin)"
            )
        found[name] = thing
        owners[name] = getattr(thing, "__module__", "?")

    caller: Callable[..., Any] = getattr(plugin_manager().hook, hook)
    caller(register=register)
    return found


class Registry(MutableMapping[str, T]):
    """What one `register_*` hook registered, by name. Gathered on first use and again after
    a plugin is registered or unregistered, never at import time (a plugin module may import
    the module that holds the registry).

    Names assigned directly (`registry[name] = thing`, as a test's monkeypatch does) shadow
    the plugins' until deleted."""

    def __init__(self, hook: str, kind: str) -> None:
        self.hook = hook
        self.kind = kind
        self._found: dict[str, T] = {}
        self._generation = -1
        self._local: dict[str, T] = {}
        self._lock = threading.Lock()

    def _plugins(self) -> dict[str, T]:
        pm = plugin_manager()
        if pm.generation != self._generation:
            with self._lock:
                generation = pm.generation
                if generation != self._generation:
                    self._found = collect(self.hook, self.kind)
                    self._generation = generation
        return self._found

    def __getitem__(self, name: str) -> T:
        if name in self._local:
            return self._local[name]
        return self._plugins()[name]

    def __setitem__(self, name: str, thing: T) -> None:
        self._local[name] = thing

    def __delitem__(self, name: str) -> None:
        del self._local[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._plugins(), **self._local})

    def __len__(self) -> int:
        return len({**self._plugins(), **self._local})

    def known(self) -> str:
        """The registered names, sorted, for error messages."""
        return ", ".join(sorted(self)) or "none"


@contextmanager
def registered(plugin: object, name: str | None = None) -> Iterator[object]:
    """Register a plugin (a module, or any object with hook implementations) for the
    duration of a block: tests and scripts that add a scanner or backend of their own."""
    pm = plugin_manager()
    pm.register(plugin, name=name)
    try:
        yield plugin
    finally:
        pm.unregister(plugin)
