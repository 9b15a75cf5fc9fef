"""The scheduled drift check: every tenant with recent grounded traffic (and, with
`drift.per_app`, each of its apps) is compared with its baseline, and each report with
breaches becomes one `DriftDetected` event for the `track_event` subscribers (the audit log,
alerting). A breach of the same signals for the same tenant and app is announced again only
after `drift.cooldown_seconds`, so an hourly check of a lasting shift does not repeat itself;
a different set of breached signals is news and is announced at once. The cooldown is kept in
memory: each gateway process announces on its own, and a restart announces a lasting shift
once more."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lockgate.config.drift import DriftConfig
from lockgate.drift.detector import DriftDetector, DriftReport
from lockgate.observability.events import DriftDetected, Event

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.drift")

_Key = tuple[str, str | None, tuple[str, ...]]


class DriftMonitor:
    def __init__(
        self,
        detector: DriftDetector,
        config: DriftConfig,
        emit: Callable[[list[Event]], None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.detector = detector
        self.config = config
        self.emit = emit
        self.clock = clock or detector.clock
        self._announced: dict[_Key, float] = {}

    @classmethod
    def from_services(cls, services: Services) -> DriftMonitor:
        detector = DriftDetector.from_services(services)
        return cls(detector, services.settings.drift, services.emit)

    def scopes(self, now: float) -> list[tuple[str, str | None]]:
        """(tenant, app) pairs to check: each tenant with recent traffic, app None for the
        whole tenant, then its apps when `per_app`."""
        recent, _ = self.detector.windows(now)
        loader = self.detector.loader
        found: list[tuple[str, str | None]] = []
        for tenant in loader.tenants(recent):
            found.append((tenant, None))
            if self.config.per_app:
                found.extend((tenant, app) for app in loader.apps(tenant, recent))
        return found

    def check(self, now: float | None = None) -> list[DriftDetected]:
        """Run one check over every scope; returns (and emits) the events it announced."""
        at = self.clock() if now is None else now
        events: list[DriftDetected] = []
        for tenant, app in self.scopes(at):
            try:
                report = self.detector.report(tenant, app, now=at)
            except Exception:  # noqa: BLE001 - one tenant's failure must not skip the others
                log.exception("drift check failed for tenant %s app %s", tenant, app)
                continue
            event = self.announce(report, at)
            if event is not None:
                events.append(event)
        if events:
            self.emit(list(events))
        return events

    def announce(self, report: DriftReport, now: float) -> DriftDetected | None:
        """The report's event unless the same breach was announced within the cooldown."""
        event = report.event()
        if event is None:
            return None
        key: _Key = (report.tenant, report.app, tuple(sorted(event.signals)))
        last = self._announced.get(key)
        if last is not None and now - last < self.config.cooldown_seconds:
            log.info("drift persists for %s (%s): %s", report.tenant, report.app, key[2])
            return None
        self._announced[key] = now
        log.warning(
            "drift for tenant %s%s: %s",
            report.tenant,
            "" if report.app is None else f" app {report.app}",
            ", ".join(f"{n}={event.values[n]:.4g}" for n in event.signals),
        )
        return event

    def reports(self, scopes: Sequence[tuple[str, str | None]], now: float) -> list[DriftReport]:
        return [self.detector.report(t, a, now=now) for t, a in scopes]
