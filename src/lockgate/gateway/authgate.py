"""The authentication and authorisation edge: every HTTP request except the health probes
(and /metrics when configured public) has its principal resolved here, before any route runs,
so no route, a plugin's included, can be reached without a credential. Then the route the
request will reach is looked up with the scope it declares (`scoping.py`), and a principal
whose roles do not grant it is refused with 403 before the handler runs. Failures are 401s,
a client that fails too often gets 429s for a while, and all outcomes are events for the
audit log."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import replace
from typing import NoReturn

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from lockgate.auth.failures import FailureLimiter
from lockgate.auth.keys import AuthFailure
from lockgate.auth.scopes import PUBLIC
from lockgate.engine.run import emit
from lockgate.engine.turn import Principal
from lockgate.gateway.errors import GatewayError, error_response
from lockgate.gateway.scoping import Found, ScopeIndex
from lockgate.observability.events import AccessDenied, AuthFailed, AuthSucceeded, Event
from lockgate.plugins.manager import plugin_manager
from lockgate.services import Services

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
METRICS_PATH = "/metrics"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lockgate"'}


def failure_limiter(request: Request) -> FailureLimiter:
    """The app's limiter, made on first use from the auth settings."""
    state = request.app.state
    limiter = getattr(state, "auth_failures", None)
    if not isinstance(limiter, FailureLimiter):
        cfg = state.services.settings.auth
        limiter = FailureLimiter(cfg.max_failures, cfg.failure_window_s, cfg.lockout_s)
        state.auth_failures = limiter
    return limiter


def is_open(path: str, services: Services, found: Found | None = None) -> bool:
    """Whether the request needs no credential: the health probes (declared `PUBLIC`), and
    /metrics when configured public."""
    if path in OPEN_PATHS or (found is not None and found.scope == PUBLIC):
        return True
    return path == METRICS_PATH and services.settings.auth.public_metrics


def _client(request: Request) -> str:
    # The socket's peer only: a forwarded-for header is the caller's to choose.
    return request.client.host if request.client else "unknown"


def _emit(event: Event, services: Services) -> None:
    emit([event], services)


class _Throttle:
    """Lets one event per key through per interval and counts the ones it held back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def due(self, key: tuple[str, str], interval_s: float) -> int | None:
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(key, (float("-inf"), 0))
            if now - last >= interval_s:
                self._last[key] = (now, 0)
                if len(self._last) > 100_000:  # bounded: forget the oldest keys
                    for old in list(self._last)[:50_000]:
                        del self._last[old]
                return held
            self._last[key] = (last, held + 1)
            return None


_SUCCESSES = _Throttle()
_DENIALS = _Throttle()


def authenticate(request: Request) -> Principal:
    """Resolve, check and keep the request's principal; GatewayError 401/429 when refused.
    Blocking (a key lookup, subscribers' I/O): the middleware runs it in a thread."""
    services: Services = request.app.state.services
    cfg = services.settings.auth
    trace_id = getattr(request.state, "trace_id", "") or ""
    client, path = _client(request), request.url.path
    limiter = failure_limiter(request)

    def refuse(status: int, code: str, reason: str, message: str, key_id: str | None) -> NoReturn:
        _emit(AuthFailed(trace_id, code, reason, key_id, client, path), services)
        headers = dict(_CHALLENGE)
        if status == 429:
            wait = max(1, math.ceil(limiter.retry_after(client)))
            headers = {"Retry-After": str(wait)}
        raise GatewayError(status, message, code, headers=headers)

    if limiter.retry_after(client) > 0:
        refuse(
            429,
            "too_many_auth_failures",
            "client locked out after repeated failures",
            "too many failed authentication attempts from this client; retry later",
            None,
        )
    presented = bool(request.headers.get("authorization"))
    try:
        found = plugin_manager().hook.principal_from_request(request=request, services=services)
    except AuthFailure as exc:
        limiter.failed(client)
        refuse(401, exc.code, exc.reason, exc.message, exc.key_id)
    principal = found if isinstance(found, Principal) else Principal()
    if not principal.authenticated and not principal.roles and cfg.allow_anonymous:
        # The anonymous (or header-named) caller's roles come from config alone, never from
        # a header. A plugin that named roles made that decision itself: it is installed code.
        principal = replace(principal, roles=services.scopes.anonymous_roles)
    if not principal.authenticated and not cfg.allow_anonymous:
        if presented:
            limiter.failed(client)
            refuse(
                401,
                "invalid_api_key",
                "credential not recognised",
                "invalid API key or token",
                None,
            )
        refuse(
            401,
            "missing_api_key",
            "no credential",
            "an API key is required: send 'Authorization: Bearer lg_...'",
            None,
        )
    if principal.authenticated:
        method = principal.auth_method or "plugin"
        repeats = _SUCCESSES.due(
            (principal.key_id or principal.id, client), cfg.success_event_interval_s
        )
        if repeats is not None:
            succeeded = AuthSucceeded(
                trace_id,
                principal.id,
                principal.tenant,
                method,
                principal.key_id,
                client,
                path,
                repeats,
            )
            # Queued, like the failures above, for the event writer (observability/dispatch.py),
            # which writes the audit log off the request path, in the order events happened.
            _emit(succeeded, services)
    request.state.principal = principal
    return principal


def authorize(request: Request, principal: Principal, found: Found) -> None:
    """GatewayError 403 unless the principal's roles grant the scope of the route the
    request reaches. No route (a 404 or 405 to come) passes: there is no handler to guard,
    and the caller has already proven a credential."""
    if found.route is None:
        return
    services: Services = request.app.state.services
    scope = found.scope
    if scope is not None and services.scopes.allows(principal.roles, scope):
        return
    where = f"{request.method} {request.url.path}"
    if scope is None:
        message = f"{where} declares no scope, so it is closed to every caller"
    else:
        message = f"this request needs the '{scope}' scope, which your roles do not grant"
    repeats = _DENIALS.due(
        (principal.key_id or principal.id, f"{scope} {where}"),
        services.settings.auth.success_event_interval_s,
    )
    if repeats is not None:
        denied = AccessDenied(
            getattr(request.state, "trace_id", "") or "",
            principal.id,
            principal.tenant,
            principal.key_id,
            scope or "(undeclared)",
            request.method,
            request.url.path,
            _client(request),
            repeats,
        )
        _emit(denied, services)
    raise GatewayError(403, message, "insufficient_scope", type_="permission_error")


def scope_index(request: Request) -> ScopeIndex:
    """The app's route index, built on first use from its final route table (plugins'
    routes included)."""
    state = request.app.state
    index = getattr(state, "scope_index", None)
    if not isinstance(index, ScopeIndex):
        index = ScopeIndex(list(request.app.routes))
        state.scope_index = index
    return index


class AuthMiddleware:
    """Runs `authenticate`, then `authorize`, for every HTTP request that is not open."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        services: Services = request.app.state.services
        found = scope_index(request).find(scope)
        if not is_open(request.url.path, services, found):
            try:
                if services.settings.auth.allow_anonymous and not request.headers.get(
                    "authorization"
                ):
                    # No credential to look up and nothing to refuse: no I/O, so no thread hop.
                    principal = authenticate(request)
                else:
                    principal = await asyncio.to_thread(authenticate, request)
                authorize(request, principal, found)
            except GatewayError as err:
                response = error_response(err, getattr(request.state, "trace_id", None))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
