"""Lockgate's one extension mechanism: pluggy hooks, loaded from built-in modules and from the
`lockgate` entry-point group of installed packages."""

from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import Registry, collect, plugin_manager, registered

__all__ = ["Registry", "collect", "hookimpl", "plugin_manager", "registered"]
