"""The built-in subscriber that turns each finished turn into request, latency, token and cost
metrics. It reads the trace row of `turn.finished` (the same record the trace store keeps), so
the engine has no metrics code of its own for these."""

from __future__ import annotations

from typing import Any

from lockgate.observability.events import Event, TurnFinished
from lockgate.observability.metrics import METRICS, Metrics
from lockgate.plugins.hookspecs import hookimpl

NONE = "none"


def record_turn(event: TurnFinished, metrics: Metrics = METRICS) -> None:
    row = event.trace
    app = str(row.get("app") or NONE)
    model = str(row.get("model") or NONE)
    metrics.inc(
        "lockgate_requests_total",
        endpoint=event.endpoint,
        app=app,
        model=model,
        status=event.status,
        code=str(event.http_status),
    )
    latency = row.get("latency_ms")
    if isinstance(latency, int | float):
        metrics.observe(
            "lockgate_request_duration_seconds",
            latency / 1000,
            endpoint=event.endpoint,
            app=app,
            model=model,
        )
    ttft = row.get("ttft_ms")
    if isinstance(ttft, int | float):
        metrics.observe("lockgate_time_to_first_token_seconds", ttft / 1000, app=app, model=model)
    for attempt in _attempts(row):
        metrics.observe(
            "lockgate_upstream_duration_seconds",
            float(attempt.get("ms") or 0) / 1000,
            deployment=str(attempt.get("deployment") or NONE),
            outcome=str(attempt.get("outcome") or NONE),
        )
    for stage in row.get("stages") or ():
        metrics.observe(
            "lockgate_stage_duration_seconds", float(stage["ms"]) / 1000, stage=stage["stage"]
        )
    tokens_in, tokens_out = row.get("tokens_in") or 0, row.get("tokens_out") or 0
    if tokens_in:
        metrics.inc("lockgate_tokens_total", tokens_in, app=app, model=model, direction="input")
    if tokens_out:
        metrics.inc("lockgate_tokens_total", tokens_out, app=app, model=model, direction="output")
    cost = row.get("cost")
    if isinstance(cost, int | float) and cost > 0:
        metrics.inc("lockgate_cost_usd_total", cost, app=app, model=model)


def _attempts(row: dict[str, Any]) -> list[dict[str, Any]]:
    upstream = row.get("upstream")
    if not isinstance(upstream, dict):
        return []
    return [a for a in upstream.get("attempts") or () if isinstance(a, dict)]


@hookimpl
def track_event(event: Event, services: Any) -> None:
    if isinstance(event, TurnFinished):
        record_turn(event)
