"""The operator pages: drift, cost and budgets, the audit log, and alerts (shown when an
alerts service is configured)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lockgate.auth.roles import ADMIN
from lockgate.budget.projection import NoTraffic, parse_growth, project
from lockgate.budget.report import cost_report
from lockgate.drift.detector import DriftDetector
from lockgate.readiness.report import run as run_readiness
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
        projection=await _projection(request, tenant),
    )


async def _projection(request: Request, tenant: str | None) -> dict[str, Any] | None:
    """The monthly cost projection (`lockgate cost project`), from every tenant's traffic:
    shown to the operator tenant and admins only, as the budgets are."""
    services = services_of(request)
    if tenant is not None and ADMIN not in principal_of(request).roles:
        return None
    users = int_param(request, "users", services.settings.costs.expected_users or 100, 1, 10**9)
    try:
        growth = parse_growth(request.query_params.get("growth") or "1")
        found = await asyncio.to_thread(project, services, users, growth)
    except NoTraffic:
        return {"users": users, "growth": 1.0, "error": "no traffic to project from yet"}
    except ValueError as exc:
        raise HTTPException(400, f"projection: {exc}") from None
    return found.as_dict()


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
    service = services_of(request).alerts
    state = request.query_params.get("state") or None
    if state not in (None, "firing", "resolved"):
        raise HTTPException(400, "state: firing or resolved")

    def load() -> dict[str, Any]:
        return {
            "firing": [a.as_dict() for a in service.firing()],
            "recent": [a.as_dict() for a in service.recent(100, state)],
        }

    data = await asyncio.to_thread(load)
    return page(
        request,
        "alerts.html",
        title="Alerts",
        configured=service.active,
        state=state,
        rules=services_of(request).settings.alerts.rules,
        **data,
    )


async def readiness(request: Request) -> Response:
    report = await asyncio.to_thread(run_readiness, services_of(request))
    return page(
        request,
        "readiness.html",
        title="Production readiness",
        items=[i.as_dict() for i in report.items],
        summary=report.summary(),
    )
