"""The garbage collector of a serving process (`server.gc`): the heap start-up left is
frozen once the warm-up is done, so that collections under load walk only what requests
made, and the young generation's threshold is set from the config.

Only a process that `lockgate serve` runs opts in (`serving`): one that builds apps by the
dozen (a test session) would pay a full collection for each and keep what each froze."""

from __future__ import annotations

import gc
import logging

from lockgate.config.server import GcConfig

log = logging.getLogger("lockgate.gateway")

_serving = False


def serving() -> None:
    """This process serves one app for its lifetime: apply `server.gc` to it."""
    global _serving
    _serving = True


def set_threshold(config: GcConfig) -> None:
    if _serving and config.young_threshold is not None:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(config.young_threshold, older, oldest)


def freeze(config: GcConfig) -> int:
    """Collect what start-up left as garbage, then freeze the rest; how many objects are
    frozen now (0 when off, or when this process does not serve)."""
    if not (_serving and config.freeze):
        return 0
    # Garbage frozen would never be freed: collect first.
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("gc: %d start-up objects frozen", frozen)
    return frozen
