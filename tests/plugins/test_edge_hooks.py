"""The HTTP edge's hooks: a plugin adds a route, and a plugin decides who is calling; the
engine sees that principal on every path (chat, files, batches) and the trace records it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lockgate.auth.scopes import MODELS_READ
from lockgate.engine.turn import Principal
from lockgate.gateway.app import create_app
from lockgate.gateway.scoping import scoped
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import plugin_manager
from tests.conftest import make_services, make_settings
from tests.support.server import serve


async def whoami(request: Request) -> JSONResponse:
    from lockgate.gateway.identity import principal_of

    p = principal_of(request)
    return JSONResponse({"id": p.id, "tenant": p.tenant, "roles": list(p.roles)})


class KeyPlugin:
    """Maps a bearer token to a principal; everything else falls through to the default."""

    @hookimpl
    def principal_from_request(self, request: Any, services: Any) -> Principal | None:
        if request.headers.get("authorization") == "Bearer sesame":
            return Principal(id="svc-bot", tenant="acme", roles=("developer",))
        return None

    @hookimpl
    def register_routes(self, routes: list[Any], services: Any) -> None:
        routes.append(scoped(Route("/v1/whoami", whoami, methods=["GET"]), MODELS_READ))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Any]]:
    plugin = KeyPlugin()
    plugin_manager().register(plugin, name="test-key-plugin")
    try:
        services = make_services(
            make_settings(tmp_path_factory.mktemp("edge-home"), fake_upstream), embedder
        )
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, services
    finally:
        plugin_manager().unregister(plugin)


def test_a_plugin_route_is_served(gateway) -> None:
    base, _ = gateway
    resp = httpx.get(base + "/v1/whoami", headers={"authorization": "Bearer sesame"})
    assert resp.status_code == 200
    assert resp.json() == {"id": "svc-bot", "tenant": "acme", "roles": ["developer"]}


def test_the_first_principal_wins_and_the_default_still_answers(gateway) -> None:
    base, _ = gateway
    anon = httpx.get(base + "/v1/whoami", headers={"x-lockgate-caller": "alice"}).json()
    # The header names the caller; its roles are the anonymous ones from config.
    assert anon == {"id": "alice", "tenant": "default", "roles": ["app"]}


def test_the_engine_and_the_trace_see_the_plugin_principal(gateway) -> None:
    base, services = gateway
    resp = httpx.post(
        base + "/v1/chat/completions",
        headers={"authorization": "Bearer sesame"},
        json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert resp.status_code == 200
    trace = services.traces.get(resp.headers["x-lockgate-trace-id"])
    assert trace["principal"] == "svc-bot" and trace["tenant"] == "acme"
