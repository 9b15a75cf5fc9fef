"""The overview: the service's vital signs over a chosen window, as time-series charts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lockgate.routing.report import routing_report
from lockgate.ui.charts import line_chart
from lockgate.ui.render import page, principal_of, services_of
from lockgate.ui.stats import overview as compute
from lockgate.ui.views.common import WINDOWS, visible_tenant, window_of

# (title, unit, {legend: bucket key}) per chart, in page order.
CHARTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("Requests per second", "/s", {"rps": "rps"}),
    ("Latency", " ms", {"p50": "p50_ms", "p95": "p95_ms", "p99": "p99_ms"}),
    (
        "Time to first token",
        " ms",
        {"p50": "ttft_p50_ms", "p95": "ttft_p95_ms", "p99": "ttft_p99_ms"},
    ),
    ("Error rate", "", {"errors": "error_rate"}),
    ("Tokens", "", {"tokens": "tokens"}),
    ("Cost per request", "", {"per request": "cost_per_request"}),
    ("Cost per 1,000 requests", "", {"per 1k": "cost_per_1k"}),
    ("Cache hit rate", "", {"hits": "cache_hit_rate"}),
    ("Guardrail findings", "", {"findings": "findings"}),
    ("Unsupported-claim rate (1 - groundedness)", "", {"unsupported": "unsupported_rate"}),
)


def _charts(data: dict[str, Any], target: float) -> list[dict[str, str]]:
    times = [b["start"] for b in data["buckets"]]
    out = []
    for title, unit, keys in CHARTS:
        series = {legend: [b[key] for b in data["buckets"]] for legend, key in keys.items()}
        out.append({"title": title, "svg": line_chart(times, series, unit=unit)})
    ratings = {"mean rating": [b["feedback"] for b in data["buckets"]]}
    out.append(
        {
            "title": f"Feedback score (target {target:g})",
            "svg": line_chart(times, ratings, target=target),
        }
    )
    return out


async def overview(request: Request) -> Response:
    services = services_of(request)
    cfg = services.settings.ui
    label, seconds = window_of(request, cfg.window_s)
    tenant = visible_tenant(principal_of(request), services)
    until = time.time()
    since = until - seconds
    data = await asyncio.to_thread(compute, services.engine, since, until, cfg.buckets, tenant)
    routing = await asyncio.to_thread(
        routing_report, services.engine, services.settings, since, tenant
    )
    target = services.settings.feedback.target_rating
    return page(
        request,
        "overview.html",
        title="Overview",
        window=label,
        windows=WINDOWS,
        seconds=seconds,
        data=data,
        total=data["total"],
        routing=routing,
        target=target,
        charts=_charts(data, target),
    )
