"""Evaluation runs: the list, one run with its cases, and two runs compared (eval/compare.py,
the same comparison `lockgate eval compare` and the gate use)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lockgate.eval.compare import compare
from lockgate.ui.render import page, principal_of, services_of
from lockgate.ui.views.common import visible_tenant

_REF_MAX = 128


async def eval_list(request: Request) -> Response:
    services = services_of(request)
    tenant = visible_tenant(principal_of(request), services)
    rows = await asyncio.to_thread(services.experiments.list, tenant, 100)
    return page(request, "evals.html", title="Evaluations", rows=rows)


def _load(services: Any, tenant: str | None, ref: str) -> dict[str, Any]:
    if not ref or len(ref) > _REF_MAX:
        raise HTTPException(404, "no experiment given")
    found = services.experiments.resolve(ref, tenant)
    exp = services.experiments.get(found, tenant) if found else None
    if exp is None:
        raise HTTPException(404, f"no experiment '{ref}'")
    return exp  # type: ignore[no-any-return]


async def eval_detail(request: Request) -> Response:
    services = services_of(request)
    tenant = visible_tenant(principal_of(request), services)
    ref = str(request.path_params["experiment"])
    exp = await asyncio.to_thread(_load, services, tenant, ref)
    return page(request, "eval.html", title=f"Evaluation {exp['name']}", exp=exp)


async def eval_compare(request: Request) -> Response:
    services = services_of(request)
    tenant = visible_tenant(principal_of(request), services)
    a = request.query_params.get("baseline") or ""
    b = request.query_params.get("candidate") or ""
    base = await asyncio.to_thread(_load, services, tenant, a)
    cand = await asyncio.to_thread(_load, services, tenant, b)
    return page(
        request,
        "compare.html",
        title="Comparison",
        base=base,
        cand=cand,
        cmp=compare(base, cand),
    )
