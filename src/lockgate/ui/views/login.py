"""Login (an API key, or an OIDC token pasted in, exchanged for a session cookie), logout,
and /ui itself (the first page the principal may open)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lockgate.auth.failures import FailureLimiter
from lockgate.auth.keys import AuthFailure, looks_like_key
from lockgate.auth.oidc import looks_like_jwt
from lockgate.engine.turn import Principal
from lockgate.observability.events import AuthFailed, AuthSucceeded
from lockgate.ui.csrf import LOGIN_COOKIE, check_login, login_nonce, login_token
from lockgate.ui.nav import NAV
from lockgate.ui.render import page, services_of
from lockgate.ui.session import COOKIE, PREFIX, new_session, sealer, session_of
from lockgate.ui.views.common import checked_form

_MAX_CREDENTIAL = 16_384


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limiter(request: Request) -> FailureLimiter:
    """The gateway's failed-attempt limiter (the same object the auth edge uses), so guesses
    at the login form count with guesses at the API."""
    state = request.app.state
    limiter = getattr(state, "auth_failures", None)
    if not isinstance(limiter, FailureLimiter):
        cfg = services_of(request).settings.auth
        limiter = FailureLimiter(cfg.max_failures, cfg.failure_window_s, cfg.lockout_s)
        state.auth_failures = limiter
    return limiter


def _next(value: Any) -> str:
    # Only a page of the dashboard: an open redirect would let a link log someone in and
    # send them elsewhere.
    if isinstance(value, str) and value.startswith(PREFIX + "/") and "//" not in value:
        return value if not value.startswith(PREFIX + "/login") else PREFIX
    return PREFIX


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    nonce = login_nonce()
    response = page(
        request,
        "login.html",
        status=status,
        error=error,
        login_csrf=login_token(sealer(services_of(request)), nonce),
        next=_next(request.query_params.get("next")),
        oidc=services_of(request).settings.auth.oidc is not None,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=900,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX + "/login",
    )
    return response


async def login_form(request: Request) -> Response:
    return _login_page(request)


def _token_expiry(token: str) -> float | None:
    """A verified JWT's `exp` (the signature was checked by the verifier already)."""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return float(claims["exp"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _verify(services: Any, credential: str) -> Principal:
    if looks_like_key(credential):
        principal: Principal = services.api_keys.verify(credential)
        return principal
    if services.settings.auth.oidc is not None and looks_like_jwt(credential):
        verified: Principal = services.oidc.verify(credential)
        return verified
    raise AuthFailure("not an API key or a token this gateway accepts", "unrecognised")


async def login(request: Request) -> Response:
    services = services_of(request)
    client, path = _client(request), request.url.path
    limiter = _limiter(request)
    form = await request.form(max_files=0, max_fields=5)
    if not check_login(sealer(services), request.cookies.get(LOGIN_COOKIE), form):
        return _login_page(request, 403, "The form expired; please try again.")
    if limiter.retry_after(client) > 0:
        return _login_page(request, 429, "Too many failed attempts; wait and try again.")
    credential = str(form.get("credential") or "").strip()
    if not credential or len(credential) > _MAX_CREDENTIAL:
        return _login_page(request, 400, "Paste an API key (lg_...) or a token.")
    try:
        principal = await asyncio.to_thread(_verify, services, credential)
    except AuthFailure as exc:
        limiter.failed(client)
        failed = AuthFailed("", exc.code, exc.reason, exc.key_id, client, path)
        await asyncio.to_thread(services.emit, [failed])
        return _login_page(request, 401, f"Login refused: {exc.message}.")
    ttl = services.settings.ui.session_ttl_s
    if principal.auth_method == "oidc":
        expiry = _token_expiry(credential)
        if expiry is not None:
            ttl = max(1.0, min(ttl, expiry - time.time()))
    session = new_session(principal, ttl)
    method = principal.auth_method or "plugin"
    ok = AuthSucceeded("", principal.id, principal.tenant, method, principal.key_id, client, path)
    await asyncio.to_thread(services.emit, [ok])
    response = RedirectResponse(_next(form.get("next")), status_code=303)
    response.set_cookie(
        COOKIE,
        sealer(services).seal(session),
        max_age=int(ttl),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX,
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX + "/login")
    return response


async def logout(request: Request) -> Response:
    if session_of(request, services_of(request)) is not None:
        await checked_form(request)  # a page elsewhere cannot log the user out
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


async def home(request: Request) -> Response:
    """Public at the edge (it is where a browser lands): the first page the session's roles
    open, else the login page."""
    services = services_of(request)
    session = session_of(request, services)
    if session is None:
        return RedirectResponse(PREFIX + "/login", status_code=303)
    roles = session.principal.roles
    for item in NAV:
        if services.scopes.allows(roles, item.scope):
            return RedirectResponse(item.path, status_code=303)
    request.state.principal = session.principal
    return page(request, "empty.html", status=403)
