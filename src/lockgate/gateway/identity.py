"""Who is calling over HTTP when no credential says so: a caller id header, else "anonymous".
Such a principal is unauthenticated and passes the edge only with `auth.allow_anonymous`.
Authentication plugins (the built-in one is `auth.py`) implement the same hook and win by
returning a principal first."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from lockgate.engine.admission import clean_id
from lockgate.engine.turn import Call, Principal
from lockgate.plugins.hookspecs import hookimpl

CALLER_HEADER = "x-lockgate-caller"
PROJECT_HEADER = "x-lockgate-project"
APP_HEADER = "x-lockgate-app"
ANONYMOUS = "anonymous"


@hookimpl(trylast=True)
def principal_from_request(request: Request, services: Any) -> Principal:
    # The tenant is not taken from a header on purpose: it scopes cached answers and
    # documents, and an unauthenticated header must not be able to pick someone else's.
    return Principal(id=clean_id(request.headers.get(CALLER_HEADER), ANONYMOUS))


def client_of(request: Request) -> str | None:
    """The socket's peer address. Never a forwarded-for header: that is the caller's to
    choose, and limits keyed on it could be escaped by changing it."""
    return request.client.host if request.client else None


def caller_of(request: Request) -> str | None:
    """The caller id header, cleaned; for an authenticated principal it can only name a
    part of that principal (its limits subdivide, never replace, the principal's)."""
    value = request.headers.get(CALLER_HEADER)
    return clean_id(value, "") or None if value else None


def principal_of(request: Request) -> Principal:
    """The principal of a request, resolved once and kept on the request."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    # The auth middleware resolves it before any route runs; this path is for an app that
    # was assembled without it. Imported here: the edge imports the plugin manager, which
    # imports this module as a built-in plugin.
    from lockgate.gateway.authgate import authenticate

    return authenticate(request)


def edge_call(request: Request, endpoint: str, body: Any, **fields: Any) -> Call:
    """The Call a route hands the engine: who is calling, this request's trace id, and the
    caller's W3C trace context (so exported spans join the caller's trace)."""
    return Call(
        endpoint,
        body,
        principal_of(request),
        trace_id=request.state.trace_id,
        traceparent=request.headers.get("traceparent"),
        **fields,
    )
