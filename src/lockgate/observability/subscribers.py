"""Built-in event subscribers: the trace store and the escalation queue."""

from __future__ import annotations

import logging
from typing import Protocol

from lockgate.observability.events import Event, GuardFinding, TurnFinished
from lockgate.plugins.hookspecs import hookimpl
from lockgate.store.escalations import EscalationStore
from lockgate.store.traces import TraceStore


class Stores(Protocol):
    """What these subscribers use of the services they are handed."""

    @property
    def traces(self) -> TraceStore: ...

    @property
    def escalations(self) -> EscalationStore: ...

log = logging.getLogger("lockgate.trace")


@hookimpl
def track_event(event: Event, services: Stores) -> None:
    if isinstance(event, TurnFinished):
        try:
            services.traces.record(event.trace)
        except Exception:  # noqa: BLE001 - a trace failure must not turn an answer into an error
            log.exception("could not record trace %s", event.trace_id)
    elif isinstance(event, GuardFinding) and event.action == "escalate":
        services.escalations.add(
            event.trace_id,
            event.principal,
            event.direction,
            list(event.scanners),
            event.text,
            tenant=event.tenant,
        )
