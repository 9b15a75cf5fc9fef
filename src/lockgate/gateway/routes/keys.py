"""The admin API for API keys: create, list, revoke, rotate. Admins only; a created or
rotated key is in the reply once and never again."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.auth.durations import parse_duration
from lockgate.auth.keys import KeyInputError, KeyNotFound
from lockgate.auth.roles import ADMIN
from lockgate.engine.turn import Principal
from lockgate.engine.wire import WireBody, parse_body
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import principal_of
from lockgate.services import Services


class CreateKeyIn(WireBody):
    # Strict: a list where a string belongs is a 400 naming the field, never coerced.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100)
    tenant: str = Field(min_length=1, max_length=100)
    roles: list[str] = Field(min_length=1, max_length=10)
    groups: list[str] = Field(default_factory=list, max_length=100)
    expires: str | None = Field(None, max_length=20)  # a lifetime: 90d, 12h, ...
    # The app (or apps, the first the default) the key runs as: its guardrail policy.
    app: str | Annotated[list[str], Field(min_length=1, max_length=20)] | None = None

    def apps(self) -> list[str]:
        if self.app is None:
            return []
        return [self.app] if isinstance(self.app, str) else list(self.app)


def _admin(request: Request) -> Principal:
    principal = principal_of(request)
    if ADMIN not in principal.roles:
        raise GatewayError(403, "the admin role is required to manage API keys", "forbidden")
    return principal


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _not_found(exc: KeyNotFound) -> GatewayError:
    return GatewayError(404, str(exc), "key_not_found")


def _new_key(public: dict[str, Any], key: str) -> dict[str, Any]:
    return {**public, "key": key}


async def create_key(request: Request) -> Response:
    admin = _admin(request)
    services = _services(request)
    body = await read_json(request, services.settings.server.max_body_bytes)
    req = parse_body(CreateKeyIn, body)
    try:
        lifetime = parse_duration(req.expires) if req.expires is not None else None
    except ValueError as exc:
        raise GatewayError(400, str(exc), "invalid_value", "expires") from None
    try:
        rec, key = await asyncio.to_thread(
            services.api_keys.create,
            req.name,
            req.tenant,
            req.roles,
            req.groups,
            lifetime,
            f"{admin.id} ({admin.key_id or 'unkeyed'})",
            req.apps(),
        )
    except KeyInputError as exc:
        raise GatewayError(400, str(exc), "invalid_value", exc.field) from None
    return JSONResponse(_new_key(rec.public(), key), status_code=201)


async def list_keys(request: Request) -> Response:
    _admin(request)
    found = await asyncio.to_thread(_services(request).api_keys.list)
    return JSONResponse({"object": "list", "data": [r.public() for r in found]})


async def revoke_key(request: Request) -> Response:
    _admin(request)
    try:
        rec = await asyncio.to_thread(
            _services(request).api_keys.revoke, request.path_params["key_id"]
        )
    except KeyNotFound as exc:
        raise _not_found(exc) from None
    return JSONResponse(rec.public())


async def rotate_key(request: Request) -> Response:
    _admin(request)
    try:
        rec, key = await asyncio.to_thread(
            _services(request).api_keys.rotate, request.path_params["key_id"]
        )
    except KeyNotFound as exc:
        raise _not_found(exc) from None
    return JSONResponse(_new_key(rec.public(), key))


def routes() -> list[Route]:
    return [
        Route("/v1/admin/keys", create_key, methods=["POST"]),
        Route("/v1/admin/keys", list_keys, methods=["GET"]),
        Route("/v1/admin/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
        Route("/v1/admin/keys/{key_id}/rotate", rotate_key, methods=["POST"]),
    ]
