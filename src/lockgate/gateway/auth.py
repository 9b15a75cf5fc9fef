"""The built-in authentication plugin: a bearer credential on the request becomes a
principal. Lockgate API keys (`lg_...`) always; JWTs when an OIDC issuer is configured.
Anything else is left to the next implementation (the anonymous fallback in `identity.py`),
and whether an unauthenticated principal may pass is decided at the edge (`authgate.py`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from lockgate.auth.keys import looks_like_key
from lockgate.auth.oidc import looks_like_jwt
from lockgate.engine.turn import Principal
from lockgate.plugins.hookspecs import hookimpl


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


@hookimpl
def principal_from_request(request: Request, services: Any) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    if looks_like_key(token):
        principal: Principal = services.api_keys.verify(token)  # AuthFailure when it is bad
        return principal
    if services.settings.auth.oidc is not None and looks_like_jwt(token):
        verified: Principal = services.oidc.verify(token)
        return verified
    return None
