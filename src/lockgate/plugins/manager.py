"""The plugin manager: the built-in plugins first, then every installed package that declares
an entry point in the `lockgate` group."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

import pluggy

from lockgate.plugins import hookspecs

ENTRY_POINT_GROUP = "lockgate"

# Modules that implement hooks for what ships with Lockgate, registered exactly as a
# third-party plugin would be.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "lockgate.engine.stages",
    "lockgate.observability.subscribers",
    "lockgate.gateway.identity",
)

_lock = threading.Lock()
_pm: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    global _pm
    with _lock:
        if _pm is None:
            pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
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
