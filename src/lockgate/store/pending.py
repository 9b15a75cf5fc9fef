"""Writes this process accepted but has not committed yet: the trace rows and audit entries
that the event writer (observability/dispatch.py) puts in the store after the request that
made them was answered.

A reader of those tables calls `settle()` first, so that in one process a trace is readable
as soon as its request has answered (read-your-writes). The store layer only declares the
barrier; the writer installs itself, so the store imports nothing of what writes to it.
Call it before opening a transaction: the writer needs the store's write lock."""

from __future__ import annotations

from collections.abc import Callable

# The installed barrier: waits until everything accepted before the call is written.
_barrier: Callable[[], object] | None = None


def install(barrier: Callable[[], object] | None) -> None:
    global _barrier
    _barrier = barrier


def settle() -> None:
    barrier = _barrier
    if barrier is not None:
        barrier()
