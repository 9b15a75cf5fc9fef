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
def track_event(event: Event, services: Stores) -> None:
    if isinstance(event, TurnFinished):
        try:
            services.traces.record(event.trace)
        except Exception:  # noqa: BLE001 - a trace failure must not turn an answer into an error
            log.exception("could not record trace %s", event.trace_id)
