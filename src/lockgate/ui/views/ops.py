"""The operator pages: drift, cost and budgets, the audit log, and alerts (shown when an
alerts service is configured)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lockgate.budget.report import cost_report
from lockgate.drift.detector import DriftDetector
from lockgate.ui.render import page, principal_of, services_of
from lockgate.ui.views.common import WINDOWS, int_param, visible_tenant, window_of


async def drift(request: Request) -> Response:
    services = services_of(request)
    tenant = principal_of(request).tenant
    app = (request.query_params.get("app") or "").strip()[:128] or None

    def load() -> dict[str, Any]:
        return DriftDetector.from_services(services).report(tenant, app).as_dict()

    try:
        report, error = await asyncio.to_thread(load), None
    except ValueError as exc:  # e.g. a window with too little traffic to compare
        report, error = None, str(exc)
    return page(request, "drift.html", title="Drift", report=report, error=error, app=app)


async def costs(request: Request) -> Response:
    services = services_of(request)
    label, seconds = window_of(request, 30 * 86400)
    tenant = visible_tenant(principal_of(request), services)
    since = time.time() - seconds
    budgets = services.budgets if tenant is None else None
    report = await asyncio.to_thread(cost_report, services.engine, since, budgets, tenant)
    return page(
        request,
        "costs.html",
        title="Cost and budgets",
        report=report,
        window=label,
        windows=WINDOWS,
        budgets_cfg=services.settings.budgets,
    )


async def audit(request: Request) -> Response:
    services = services_of(request)
    kind = (request.query_params.get("kind") or "").strip()[:100]
    limit = int_param(request, "limit", 100, 1, 1000)
    verify = request.query_params.get("verify") == "1"

    def load() -> dict[str, Any]:
        log = services.audit
        rows = log.entries(kinds=(kind,) if kind else (), limit=limit, newest_first=True)
        verdict = log.verify() if verify else None
        return {"rows": rows, "head": log.head(), "verdict": verdict}

    data = await asyncio.to_thread(load)
    return page(request, "audit.html", title="Audit log", kind=kind, limit=limit, **data)


async def alerts(request: Request) -> Response:
    # Alert rules and their delivery are another service's (`services.alerts`); until it is
    # part of this build the page says so instead of failing.
    source = getattr(services_of(request), "alerts", None)
    recent: list[Any] = []
    if source is not None:
        fetch = getattr(source, "recent", None)
        if callable(fetch):
            recent = list(await asyncio.to_thread(fetch))
    return page(
        request, "alerts.html", title="Alerts", configured=source is not None, recent=recent
    )
