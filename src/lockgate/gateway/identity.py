"""Who is calling over HTTP. The built-in answer, until keys are configured: a caller id
header, else "anonymous". Authentication plugins implement the same hook and win by
returning a principal first."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from lockgate.engine.admission import clean_id
from lockgate.engine.turn import Principal
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import plugin_manager

CALLER_HEADER = "x-lockgate-caller"
PROJECT_HEADER = "x-lockgate-project"
ANONYMOUS = "anonymous"


@hookimpl(trylast=True)
def principal_from_request(request: Request, services: Any) -> Principal:
    # The tenant is not taken from a header on purpose: it scopes cached answers and
    # documents, and an unauthenticated header must not be able to pick someone else's.
    return Principal(id=clean_id(request.headers.get(CALLER_HEADER), ANONYMOUS))


def principal_of(request: Request) -> Principal:
    """The principal of a request, resolved once and kept on the request."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    services = request.app.state.services
    principal = plugin_manager().hook.principal_from_request(request=request, services=services)
    if not isinstance(principal, Principal):
        principal = Principal()
    request.state.principal = principal
    return principal
