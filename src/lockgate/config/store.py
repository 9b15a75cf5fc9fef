"""Where Lockgate keeps its data."""

from __future__ import annotations

from lockgate.config._base import Strict


class StoreConfig(Strict):
    url: str | None = None  # default: sqlite file under LOCKGATE_HOME
