"""The trace explorer: search and filter a tenant's traces; one trace with its prompt
version, retrieved chunks, raw and final output, each scanner's finding, the routing decision
and a timing waterfall. Visibility is the traces API's: tenant and chunk groups."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lockgate.auth.durations import parse_duration
from lockgate.ui.render import page, principal_of, services_of
from lockgate.ui.views.common import int_param, visible_groups, visible_tenant

TRACE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
PAGE_SIZE = 50
STATUSES = ("ok", "error", "refused", "blocked")
ACTIONS = ("allow", "flag", "redact", "block", "review")


def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    out: dict[str, Any] = {}
    for name in ("text", "status", "model", "guard_action"):
        value = (q.get(name) or "").strip()
        if len(value) > 200:
            raise HTTPException(400, f"{name}: at most 200 characters")
        out[name] = value or None
    age = (q.get("since") or "").strip()
    try:
        out["since"] = time.time() - parse_duration(age) if age else None
    except ValueError as exc:
        raise HTTPException(400, f"since: {exc}") from None
    slow = (q.get("min_latency_ms") or "").strip()
    try:
        out["min_latency_ms"] = float(slow) if slow else None
    except ValueError:
        raise HTTPException(400, "min_latency_ms: a number is expected") from None
    return out


async def trace_list(request: Request) -> Response:
    services = services_of(request)
    who = principal_of(request)
    tenant = visible_tenant(who, services)
    groups = visible_groups(who, tenant)
    filters = _filters(request)
    offset = int_param(request, "offset", 0, 0, 1_000_000)
    rows = await asyncio.to_thread(
        lambda: services.traces.search(
            tenant, groups, limit=PAGE_SIZE + 1, offset=offset, **filters
        )
    )
    more = len(rows) > PAGE_SIZE
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    return page(
        request,
        "traces.html",
        title="Traces",
        rows=rows[:PAGE_SIZE],
        more=more,
        offset=offset,
        page_size=PAGE_SIZE,
        query=query,
        statuses=STATUSES,
        actions=ACTIONS,
        params=request.query_params,
    )


def waterfall(stages: Any, total_ms: float | None, width: int = 640) -> dict[str, Any]:
    """Each stage as a bar starting where the previous one ended (stages run in order)."""
    items = [s for s in stages or [] if isinstance(s, dict) and "ms" in s]
    summed = sum(float(s["ms"]) for s in items)
    span = max(summed, float(total_ms or 0.0), 1e-6)
    bars, start = [], 0.0
    for s in items:
        ms = float(s["ms"])
        bars.append(
            {
                "stage": s.get("stage", "?"),
                "note": s.get("note", ""),
                "ms": ms,
                "x": round(150 + (width - 160) * start / span, 1),
                "w": max(1.0, round((width - 160) * ms / span, 1)),
            }
        )
        start += ms
    return {"bars": bars, "width": width, "height": 18 * len(bars) + 24, "span": span}


def _scanner_rows(guardrails: Any) -> list[dict[str, Any]]:
    rows = []
    for entry in guardrails or []:
        if not isinstance(entry, dict):
            continue
        for outcome in entry.get("scanners") or []:
            rows.append(
                {
                    "direction": entry.get("direction"),
                    "target": entry.get("target", ""),
                    **outcome,
                }
            )
    return rows


async def trace_detail(request: Request) -> Response:
    services = services_of(request)
    who = principal_of(request)
    tenant = visible_tenant(who, services)
    groups = visible_groups(who, tenant)
    trace_id = str(request.path_params["trace_id"])
    row = None
    if TRACE_ID.fullmatch(trace_id):
        row = await asyncio.to_thread(services.traces.get, trace_id, tenant, groups)
    if row is None:
        raise HTTPException(404, f"no trace found with id '{trace_id[:64]}'")
    retrieved = [r for r in row.get("retrieved") or [] if isinstance(r, dict)]
    ids = [int(r["chunk_id"]) for r in retrieved if isinstance(r.get("chunk_id"), int)]
    texts = await asyncio.to_thread(services.documents.chunks, ids) if ids else {}
    for r in retrieved:
        chunk = texts.get(r.get("chunk_id"))  # type: ignore[call-overload]
        r["text"] = chunk.text if chunk is not None else None
    return page(
        request,
        "trace.html",
        title=f"Trace {trace_id}",
        t=row,
        retrieved=retrieved,
        scanners=_scanner_rows(row.get("guardrails")),
        waterfall=waterfall(row.get("stages"), row.get("latency_ms")),
    )
