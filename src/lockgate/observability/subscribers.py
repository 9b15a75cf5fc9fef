"""Built-in event subscribers: the trace store and the escalation queue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lockgate.observability.events import Event, GuardFinding, TurnFinished
from lockgate.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.trace")


@hookimpl
def track_event(event: Event, services: Services) -> None:
    if isinstance(event, TurnFinished):
        try:
            services.traces.record(event.trace)
        except Exception:  # noqa: BLE001 - a trace failure must not turn an answer into an error
            log.exception("could not record trace %s", event.trace_id)
    elif isinstance(event, GuardFinding) and event.action == "escalate":
        services.escalations.add(
            event.trace_id, event.principal, event.direction, list(event.scanners), event.text
        )
