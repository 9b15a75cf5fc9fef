"""GET /v1/traces and /v1/traces/{trace_id}: what was recorded about each request, for the
caller's own tenant. The tenant filter is part of the store query, and another tenant's
trace is answered exactly as a trace that does not exist (404, never 403), so an id reveals
nothing. Principals of `auth.operator_tenant` see every tenant's traces. Within a tenant, a
trace that retrieved group-restricted chunks is visible only to callers who could see every
one of them (or admins), filtered in the same query and answered 404 like the rest."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.auth.roles import ADMIN
from lockgate.auth.scopes import TRACES_READ
from lockgate.engine.turn import Principal
from lockgate.engine.wire import WireBody
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.identity import principal_of
from lockgate.gateway.openapi import documented
from lockgate.gateway.routes.paging import list_page
from lockgate.gateway.schemas import ID_MAX, parse_query, path_id
from lockgate.gateway.scoping import scoped
from lockgate.services import Services

# Trace ids are uuid4 hex; the looser shape only keeps absurd paths away from the store.
TRACE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_FLAGS = ("refused", "grounded")


class TraceListQuery(WireBody):
    limit: int = Field(20, ge=1, le=100)
    after: str | None = Field(None, max_length=ID_MAX)


def visible_tenant(principal: Principal, services: Services) -> str | None:
    """The tenant whose traces `principal` may read; None: all (the operator tenant)."""
    operator = services.settings.auth.operator_tenant
    return None if operator is not None and principal.tenant == operator else principal.tenant


def visible_groups(principal: Principal, tenant: str | None) -> tuple[str, ...] | None:
    """The groups a trace's chunks are checked against; None: no check (the operator tenant
    and admins see every trace of the tenants they read)."""
    if tenant is None or ADMIN in principal.roles:
        return None
    return tuple(principal.groups)


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    out = {"object": "trace", **row}
    for key in _FLAGS:
        if out.get(key) is not None:
            out[key] = bool(out[key])
    return out


@documented("Your tenant's request traces, newest first", query=TraceListQuery)
async def list_traces(request: Request) -> Response:
    q = parse_query(TraceListQuery, request)
    services = _services(request)
    who = principal_of(request)
    tenant = visible_tenant(who, services)
    groups = visible_groups(who, tenant)
    rows = await asyncio.to_thread(services.traces.list, q.limit + 1, q.after, tenant, groups)
    return list_page([_summary(r) for r in rows], q.limit)


@documented("One of your tenant's traces: prompt, retrieved chunks, outputs, timings")
async def get_trace(request: Request) -> Response:
    trace_id = path_id(request, "trace_id", TRACE_ID)
    services = _services(request)
    who = principal_of(request)
    tenant = visible_tenant(who, services)
    groups = visible_groups(who, tenant)
    row = (
        await asyncio.to_thread(services.traces.get, trace_id, tenant, groups) if trace_id else None
    )
    if row is None:
        shown = str(request.path_params.get("trace_id", ""))[:ID_MAX]
        raise GatewayError(404, f"No trace found with id '{shown}'.", "trace_not_found")
    return JSONResponse({"object": "trace", **row})


def routes() -> list[Route]:
    return [
        scoped(Route("/v1/traces", list_traces, methods=["GET"]), TRACES_READ),
        scoped(Route("/v1/traces/{trace_id}", get_trace, methods=["GET"]), TRACES_READ),
    ]
