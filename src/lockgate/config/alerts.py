"""Alerting: rules over the store's metrics and over events, and the webhooks they are sent to
(`lockgate.alerts`, docs/alerts.md).

An event rule (budget, breaker, drift, eval gate) counts matching events within its window; a
metric rule (error rate, p95 latency, staleness, quarantine growth, review backlog) is
evaluated by `lockgate serve` every `interval_seconds` from the store, so every gateway
process sees the same numbers. Both fire once, then stay quiet until the signal has cleared
(below `threshold * clear_ratio`) and the cool-down has passed."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, model_validator

from lockgate.config._base import Strict

EVENT_KINDS = ("budget_soft", "budget_hard", "breaker_open", "drift", "eval_gate")
METRIC_KINDS = (
    "error_rate",
    "p95_latency_ms",
    "stale_documents",
    "quarantine_growth",
    "review_backlog",
)
AlertKind = Literal[
    "budget_soft",
    "budget_hard",
    "breaker_open",
    "drift",
    "eval_gate",
    "error_rate",
    "p95_latency_ms",
    "stale_documents",
    "quarantine_growth",
    "review_backlog",
]


class AlertWebhook(Strict):
    """A Slack-compatible incoming webhook (or any receiver of the same JSON)."""

    name: str = Field(min_length=1)
    # The URL of an incoming webhook holds its secret: prefer `url_env` outside tests.
    url: str | None = None
    url_env: str | None = None
    timeout_s: float = Field(5.0, gt=0)
    attempts: int = Field(4, ge=1, le=10)
    # The first retry waits this long, each next one twice as long (at most `max_backoff_s`).
    backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(10.0, ge=0)

    @model_validator(mode="after")
    def _one_url(self) -> AlertWebhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"alerts.webhooks '{self.name}': set exactly one of url, url_env")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"alerts.webhooks '{self.name}': url must be http(s)")
        return self

    def target(self) -> str | None:
        """The URL to POST to, or None when `url_env` names an unset variable."""
        if self.url is not None:
            return self.url
        return os.environ.get(self.url_env or "") or None


class AlertRule(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: AlertKind
    # Event rules: events within the window (default 1). Metric rules: the value at which
    # it fires: a share (error_rate), milliseconds (p95), or a count.
    threshold: float | None = Field(None, ge=0)
    window_seconds: float = Field(300.0, gt=0)
    cooldown_seconds: float = Field(3600.0, ge=0)
    # Hysteresis: a firing metric rule clears only below threshold * clear_ratio, so a value
    # hovering at the threshold does not fire again and again.
    clear_ratio: float = Field(0.8, gt=0, le=1)
    # Rates and percentiles over fewer requests than this are not judged.
    min_samples: int = Field(20, ge=1)
    severity: Literal["info", "warning", "critical"] = "warning"
    # The webhooks (by name) this rule goes to; empty: all of them.
    webhooks: list[str] = Field(default_factory=list)

    @property
    def event_driven(self) -> bool:
        return self.kind in EVENT_KINDS

    def limit(self) -> float:
        if self.threshold is not None:
            return self.threshold
        if self.event_driven:
            return 1.0
        raise ValueError(f"alerts.rules '{self.name}': kind {self.kind} needs a threshold")

    @model_validator(mode="after")
    def _threshold(self) -> AlertRule:
        if not self.event_driven and self.threshold is None:
            raise ValueError(f"alerts.rules '{self.name}': kind {self.kind} needs a threshold")
        if self.kind == "error_rate" and (self.threshold or 0) > 1:
            raise ValueError(
                f"alerts.rules '{self.name}': an error_rate threshold is a share (0-1)"
            )
        return self


class AlertingConfig(Strict):
    enabled: bool = True
    # How often `lockgate serve` evaluates the metric rules (the first one interval after start).
    interval_seconds: float = Field(60.0, gt=0)
    rules: list[AlertRule] = Field(default_factory=list)
    webhooks: list[AlertWebhook] = Field(default_factory=list)
    # Also post "resolved" when a metric rule clears (it is recorded in the history either way).
    notify_resolved: bool = False

    @model_validator(mode="after")
    def _names(self) -> AlertingConfig:
        rules = [r.name for r in self.rules]
        if len(set(rules)) != len(rules):
            raise ValueError("alerts.rules: rule names must be unique")
        hooks = {w.name for w in self.webhooks}
        if len(hooks) != len(self.webhooks):
            raise ValueError("alerts.webhooks: webhook names must be unique")
        for rule in self.rules:
            unknown = [w for w in rule.webhooks if w not in hooks]
            if unknown:
                raise ValueError(
                    f"alerts.rules '{rule.name}': unknown webhook {', '.join(unknown)}"
                )
        return self

    def kinds(self) -> set[str]:
        return {r.kind for r in self.rules}
