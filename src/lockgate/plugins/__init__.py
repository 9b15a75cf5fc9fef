"""Lockgate's one extension mechanism: pluggy hooks, loaded from built-in modules and from the
`lockgate` entry-point group of installed packages."""

from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import collect, plugin_manager

__all__ = ["collect", "hookimpl", "plugin_manager"]
