"""The alerting service: event rules judged as their events arrive, metric rules judged by
`check` (every `alerts.interval_seconds` in `lockgate serve`, gateway/alerts.py), each alert
recorded in the history and then posted to its webhooks.

Events are handed over without waiting (`submit`): a breaker opens inside a request and a
webhook with retries must not hold that request up, so judging, recording and posting run on
one worker thread, in order. `flush` waits for it (tests, and the end of a CLI command)."""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lockgate.alerts.rules import (
    EVENT_TYPES,
    EventWindow,
    Previous,
    describe_event,
    describe_metric,
    in_cooldown,
    judge_metric,
    subject_of,
)
from lockgate.alerts.webhooks import Delivery, WebhookSender, payload
from lockgate.config.alerts import AlertingConfig, AlertRule
from lockgate.observability.events import Event
from lockgate.observability.metrics import METRICS
from lockgate.store.alerts import FIRING, RESOLVED, AlertRecord, AlertStore
from lockgate.store.signals import AlertSignals

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.alerts")

# How long the end of a process waits for alerts still being posted.
EXIT_FLUSH_S = 30.0


class AlertService:
    def __init__(
        self,
        config: AlertingConfig,
        store: AlertStore,
        signals: AlertSignals,
        sender: WebhookSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.signals = signals
        self.sender = sender or WebhookSender()
        self.clock = clock
        self._windows = {r.name: EventWindow(r) for r in config.rules if r.event_driven}
        self._jobs: queue.Queue[Callable[[], object]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @classmethod
    def from_services(cls, services: Services) -> AlertService:
        return cls(
            services.settings.alerts, AlertStore(services.engine), AlertSignals(services.engine)
        )

    @property
    def active(self) -> bool:
        return self.config.enabled and bool(self.config.rules)

    # -- the dashboard's reads -----------------------------------------------------------

    def recent(self, limit: int = 50, state: str | None = None) -> list[AlertRecord]:
        return self.store.recent(limit, state=state)

    def firing(self) -> list[AlertRecord]:
        return self.store.firing()

    # -- events ----------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if not self.active:
            return False
        return any(
            isinstance(event, EVENT_TYPES[r.kind]) for r in self.config.rules if r.event_driven
        )

    def submit(self, event: Event) -> None:
        """Judge `event` on the worker thread; returns at once."""
        if self.wants(event):
            self._enqueue(lambda: self.on_event(event))

    def on_event(self, event: Event, now: float | None = None) -> list[AlertRecord]:
        at = self.clock() if now is None else now
        fired = []
        subject = subject_of(event)
        for rule in self.config.rules:
            if not rule.event_driven or not isinstance(event, EVENT_TYPES[rule.kind]):
                continue
            window = self._windows[rule.name]
            count = window.add(subject, at)
            if count < rule.limit():
                continue
            previous = self._previous(rule, subject)
            if in_cooldown(rule, previous, at):
                log.info("alert %s for %r held back: within its cool-down", rule.name, subject)
                continue
            window.reset(subject)
            fired.append(
                self._raise(
                    rule,
                    subject,
                    FIRING,
                    describe_event(event),
                    float(count),
                    {"event": event.name, **event.properties()},
                    at,
                )
            )
        return fired

    # -- metric rules ------------------------------------------------------------------------

    def check(self, now: float | None = None) -> list[AlertRecord]:
        """Judge every metric rule once; returns the alerts it raised or resolved."""
        at = self.clock() if now is None else now
        changed = []
        for rule in self.config.rules:
            if rule.event_driven:
                continue
            try:
                value, samples = self.measure(rule, at)
            except Exception:  # noqa: BLE001 - one rule's failure must not skip the others
                log.exception("alert rule %s could not be evaluated", rule.name)
                continue
            if value is None:
                continue
            action = judge_metric(rule, value, self._previous(rule, ""), at)
            if action is None:
                continue
            state = FIRING if action == "fire" else RESOLVED
            detail: dict[str, object] = {"samples": samples, "window_seconds": rule.window_seconds}
            message = describe_metric(rule, value, action)
            changed.append(self._raise(rule, "", state, message, value, detail, at))
        return changed

    def measure(self, rule: AlertRule, now: float) -> tuple[float | None, int]:
        """The rule's current value and how many samples it rests on (None: too few)."""
        since = now - rule.window_seconds
        if rule.kind in ("error_rate", "p95_latency_ms"):
            signals = self.signals
            read = signals.error_rate if rule.kind == "error_rate" else signals.p95_latency_ms
            rate = read(since, now)
            if rate.value is None or rate.samples < rule.min_samples:
                return None, rate.samples
            return rate.value, rate.samples
        if rule.kind == "stale_documents":
            count = self.signals.stale_documents()
        elif rule.kind == "quarantine_growth":
            count = self.signals.quarantined_since(since)
        elif rule.kind == "review_backlog":
            count = self.signals.review_backlog()
        else:
            raise ValueError(f"not a metric rule kind: {rule.kind}")
        return float(count), count

    # -- raising and delivering --------------------------------------------------------------

    def _previous(self, rule: AlertRule, subject: str) -> Previous:
        last = self.store.last(rule.name, subject)
        fired = last if last is not None and last.state == FIRING else None
        if last is not None and fired is None:
            fired = self.store.last_fired(rule.name, subject)
        return Previous(
            firing=last is not None and last.state == FIRING,
            fired_at=None if fired is None else fired.created_at,
        )

    def _raise(
        self,
        rule: AlertRule,
        subject: str,
        state: str,
        message: str,
        value: float,
        detail: dict[str, object],
        at: float,
    ) -> AlertRecord:
        alert = self.store.record(
            AlertRecord(
                rule=rule.name,
                kind=rule.kind,
                subject=subject,
                state=state,
                severity=rule.severity,
                message=message,
                value=value,
                threshold=rule.limit(),
                detail=detail,
                created_at=at,
            )
        )
        METRICS.inc("lockgate_alerts_total", rule=rule.name, state=state)
        log.warning("alert %s %s: %s", rule.name, state, message)
        if state == FIRING or self.config.notify_resolved:
            self._enqueue(lambda: self.deliver(alert, rule))
        return alert

    def deliver(self, alert: AlertRecord, rule: AlertRule) -> list[Delivery]:
        hooks = [w for w in self.config.webhooks if not rule.webhooks or w.name in rule.webhooks]
        body = payload(alert)
        results = [self.sender.send(hook, body) for hook in hooks]
        if results:
            self.store.set_deliveries(alert.id, [d.as_dict() for d in results])
        return results

    # -- the worker --------------------------------------------------------------------------

    def _enqueue(self, job: Callable[[], object]) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._work, name="lockgate-alerts", daemon=True
                )
                self._worker.start()
                atexit.register(self.flush, EXIT_FLUSH_S)
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # noqa: BLE001 - the next alert must still go out
                log.exception("alert job failed")
            finally:
                self._jobs.task_done()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted event is judged and every alert posted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True
