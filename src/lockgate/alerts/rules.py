"""When a rule fires, clears or keeps quiet: pure functions of the value, the rule and what
the history says happened last, so the storm-proofing is testable without a clock or HTTP.

A metric rule fires when its value reaches the threshold and clears only once the value is
below `threshold * clear_ratio` (hysteresis): a value hovering at the threshold fires once.
A rule that cleared does not fire again within `cooldown_seconds` of when it last fired, so a
signal flapping across the band does not page every time either. Event rules count matching
events per subject within the window and fire at `threshold` of them, with the same
cool-down."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from lockgate.config.alerts import AlertRule
from lockgate.observability.events import (
    BreakerOpened,
    BudgetAlert,
    BudgetRefused,
    DriftDetected,
    EvalGateFailed,
    Event,
)

Action = Literal["fire", "resolve"]


@dataclass(frozen=True)
class Previous:
    """What the history holds for a rule and subject."""

    firing: bool  # its latest row is a firing alert
    fired_at: float | None  # when it last fired, if ever


def judge_metric(rule: AlertRule, value: float, previous: Previous, now: float) -> Action | None:
    limit = rule.limit()
    if previous.firing:
        return "resolve" if value < limit * rule.clear_ratio else None
    if value < limit:
        return None
    if in_cooldown(rule, previous, now):
        return None
    return "fire"


def in_cooldown(rule: AlertRule, previous: Previous, now: float) -> bool:
    return previous.fired_at is not None and now - previous.fired_at < rule.cooldown_seconds


class EventWindow:
    """The times of one rule's matching events per subject within its window."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self._seen: dict[str, deque[float]] = {}

    def add(self, subject: str, at: float) -> int:
        """Count the event; returns how many fell within the window, this one included."""
        seen = self._seen.setdefault(subject, deque())
        seen.append(at)
        while seen and at - seen[0] > self.rule.window_seconds:
            seen.popleft()
        return len(seen)

    def reset(self, subject: str) -> None:
        self._seen.pop(subject, None)


# Which event each event rule kind counts.
EVENT_TYPES: dict[str, type[Event]] = {
    "budget_soft": BudgetAlert,
    "budget_hard": BudgetRefused,
    "breaker_open": BreakerOpened,
    "drift": DriftDetected,
    "eval_gate": EvalGateFailed,
}


def subject_of(event: Event) -> str:
    """What an event's alert is about: cool-downs are per subject, so one breaker opening
    does not silence another's."""
    if isinstance(event, BreakerOpened):
        return event.deployment
    if isinstance(event, BudgetAlert):
        return f"{event.kind}:{event.scope}"
    if isinstance(event, BudgetRefused):
        return event.project
    if isinstance(event, DriftDetected):
        return event.tenant if event.app is None else f"{event.tenant}/{event.app}"
    if isinstance(event, EvalGateFailed):
        return event.tenant
    return ""


def describe_event(event: Event) -> str:
    if isinstance(event, BreakerOpened):
        return f"circuit breaker opened for deployment {event.deployment} (was {event.from_state})"
    if isinstance(event, BudgetAlert):
        return (
            f"{event.kind} budget {event.scope} spent {event.spent:.4g} of its {event.period} "
            f"budget, past the soft threshold {event.threshold:.4g}"
        )
    if isinstance(event, BudgetRefused):
        return f"hard budget ceiling hit for {event.project}: {event.message}"
    if isinstance(event, DriftDetected):
        where = event.tenant if event.app is None else f"{event.tenant} app {event.app}"
        signals = ", ".join(f"{s}={event.values.get(s, 0):.4g}" for s in event.signals)
        return f"drift detected for tenant {where}: {signals}"
    if isinstance(event, EvalGateFailed):
        why = "; ".join(event.failures) or "regressed"
        return f"evaluation gate failed: {event.candidate} against {event.baseline}: {why}"
    return event.name


METRIC_UNITS = {
    "error_rate": "share of requests failed",
    "p95_latency_ms": "ms p95 latency",
    "stale_documents": "documents past their review date",
    "quarantine_growth": "files quarantined",
    "review_backlog": "items waiting for review",
}


def describe_metric(rule: AlertRule, value: float, action: Action) -> str:
    unit = METRIC_UNITS.get(rule.kind, rule.kind)
    shown = f"{value:.2%}" if rule.kind == "error_rate" else f"{value:.4g}"
    limit = rule.limit()
    bound = f"{limit:.2%}" if rule.kind == "error_rate" else f"{limit:.4g}"
    window = f" over {rule.window_seconds:g}s" if rule.kind in _WINDOWED else ""
    if action == "resolve":
        return f"resolved: {rule.kind} back to {shown} ({unit}){window}"
    return f"{rule.kind} is {shown} ({unit}){window}, threshold {bound}"


_WINDOWED = {"error_rate", "p95_latency_ms", "quarantine_growth"}
