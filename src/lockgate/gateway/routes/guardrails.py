"""POST /v1/guardrails/check — run the configured policy on any text, standalone."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.config.server import GuardCheckLimits
from lockgate.engine.apps import resolve_app
from lockgate.engine.wire import WireBody, parse_body
from lockgate.estimates import tokens_for_chars
from lockgate.gateway.errors import GatewayError, error_response
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import principal_of
from lockgate.gateway.openapi import documented
from lockgate.gateway.ratelimit import admit
from lockgate.guardrails.base import ScanContext
from lockgate.guardrails.vault import Vault
from lockgate.services import Services


class GuardCheckIn(WireBody):
    # The schema's bounds; the configured ones (server.guard_check) are lower by default.
    text: str = Field(max_length=2_000_000)
    direction: Literal["in", "out", "context"] = "in"
    app: str | None = None
    user_text: str = ""
    context: list[str] = Field(default_factory=list, max_length=100)


def within_limits(req: GuardCheckIn, limits: GuardCheckLimits) -> None:
    """400 naming the field when a check asks to scan more than one request may."""
    if len(req.text) > limits.max_text_chars:
        raise GatewayError(
            400, f"text is longer than {limits.max_text_chars} characters", "invalid_value", "text"
        )
    if len(req.user_text) > limits.max_user_text_chars:
        raise GatewayError(
            400,
            f"user_text is longer than {limits.max_user_text_chars} characters",
            "invalid_value",
            "user_text",
        )
    if len(req.context) > limits.max_context_items:
        raise GatewayError(
            400,
            f"context holds more than {limits.max_context_items} texts",
            "invalid_value",
            "context",
        )
    if sum(len(c) for c in req.context) > limits.max_context_chars:
        raise GatewayError(
            400,
            f"context holds more than {limits.max_context_chars} characters in all",
            "invalid_value",
            "context",
        )


def check(services: Services, req: GuardCheckIn, app: str | None) -> dict[str, object]:
    policy = services.guard.policy(app)
    ctx = ScanContext(req.direction, chunks=req.context, user_text=req.user_text)
    result = services.guard.scan(req.text, ctx, policy, Vault())
    body = result.as_dict()
    body["text"] = result.text
    if ctx.metrics:
        body["metrics"] = ctx.metrics
    return body


@documented("Run the guardrail policy on a text", body=GuardCheckIn)
async def guardrails_check(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        raw = await read_json(request, services.settings.server.max_body_bytes)
        req = parse_body(GuardCheckIn, raw)
        within_limits(req, services.settings.server.guard_check)
        trusted = services.settings.auth.trust_client_app
        app = resolve_app(principal_of(request), req.app, trusted, "app")
        if req.app and req.app not in services.settings.guardrails.apps:
            raise GatewayError(
                404, f"no guardrail policy for app '{req.app}'", "unknown_app", "app"
            )
        chars = len(req.text) + len(req.user_text) + sum(len(c) for c in req.context)
        headers = await admit(request, "guardrails", tokens_for_chars(chars))
        body = await services.cpu.run(check, services, req, app)
    except GatewayError as err:
        return error_response(err, request.state.trace_id)
    return JSONResponse(body, headers=headers or None)
