"""The alerting subscriber: every event goes to `services.alerts`, which judges only those
an event rule counts (budget, breaker, drift, eval gate) and returns at once."""

from __future__ import annotations

import logging
from typing import Protocol

from lockgate.alerts.service import AlertService
from lockgate.config import Settings
from lockgate.observability.events import Event
from lockgate.plugins.hookspecs import hookimpl

log = logging.getLogger("lockgate.alerts")


class AlertServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def alerts(self) -> AlertService: ...


@hookimpl
def track_event(event: Event, services: AlertServices) -> None:
    settings = getattr(services, "settings", None)
    cfg = getattr(settings, "alerts", None)
    # Nothing is built (no store, no thread) for a configuration without rules.
    if cfg is None or not cfg.enabled or not cfg.rules or not hasattr(services, "alerts"):
        return
    try:
        services.alerts.submit(event)
    except Exception:  # noqa: BLE001 - alerting must never fail what emitted the event
        log.exception("could not hand %s to alerting", event.name)
