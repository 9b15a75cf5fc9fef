"""Built-in event subscribers: the trace store. (Guardrail escalations are put up for human
review by the engine's review stage, which also decides whether the answer is held.)"""

from __future__ import annotations

import logging
from typing import Protocol

from lockgate.observability.events import Event, TurnFinished
from lockgate.plugins.hookspecs import hookimpl
from lockgate.store.traces import TraceStore


class Stores(Protocol):
    """What these subscribers use of the services they are handed."""

    @property
    def traces(self) -> TraceStore: ...


log = logging.getLogger("lockgate.trace")


@hookimpl
def store_events(events: list[Event], services: Stores) -> None:
    """The batch's traces in one transaction; should it fail, each on its own, so that one
    bad row loses only itself."""
    rows = [e.trace for e in events if isinstance(e, TurnFinished)]
    if not rows:
        return
    try:
        services.traces.record_many(rows)
        return
    except Exception:  # noqa: BLE001 - retried one by one below
        if len(rows) == 1:
            log.exception("could not record trace %s", rows[0].get("id"))
            return
        log.warning("could not record a batch of %d traces; recording each", len(rows))
    for row in rows:
        try:
            services.traces.record(row)
        except Exception:  # noqa: BLE001 - a trace failure must not turn an answer into an error
            log.exception("could not record trace %s", row.get("id"))
