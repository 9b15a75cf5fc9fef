"""`GET /openapi.json` is generated from the route table: every Starlette route of the app
(plugin routes included) is in it, request bodies are the pydantic models' schemas, and every
operation documents the OpenAI-style error body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lockgate.gateway.app import create_app
from lockgate.gateway.openapi import build_openapi
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import plugin_manager
from tests.conftest import make_services, make_settings
from tests.support.server import serve


async def _hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "plugin"})


class _RoutePlugin:
    @hookimpl
    def register_routes(self, routes: list[Any], services: Any) -> None:
        routes.append(Route("/v1/plugin/{thing}", _hello, methods=["GET", "PUT"]))


@pytest.fixture(scope="module")
def app(tmp_path_factory, embedder, fake_upstream) -> Iterator[Any]:
    plugin = _RoutePlugin()
    plugin_manager().register(plugin)
    try:
        home = tmp_path_factory.mktemp("openapi-home")
        yield create_app(make_services(make_settings(home, fake_upstream), embedder), False)
    finally:
        plugin_manager().unregister(plugin)


def test_every_route_is_documented(app: Any) -> None:
    with serve(app) as base:
        resp = httpx.get(base + "/openapi.json", timeout=30)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    # The dashboard's HTML pages are not API operations (include_in_schema=False).
    routes = [r for r in app.routes if isinstance(r, Route) and r.include_in_schema]
    assert len(routes) >= 18
    assert not [p for p in doc["paths"] if p.startswith("/ui")]
    for route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            op = doc["paths"][route.path][method.lower()]
            assert {"4XX", "5XX"} <= set(op["responses"]), (route.path, method)
            for name in route.param_convertors:
                assert {"name": name, "in": "path"}.items() <= op["parameters"][0].items()
    assert set(doc["paths"]["/v1/plugin/{thing}"]) == {"get", "put"}
    ops = {(p, m) for p, item in doc["paths"].items() for m in item}
    assert len(ops) == sum(len((r.methods or set()) - {"HEAD"}) for r in routes)


def test_bodies_come_from_the_models(app: Any) -> None:
    doc = build_openapi(list(app.routes))
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/v1/batches"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/BatchCreateIn"}
    batch = schemas["BatchCreateIn"]
    assert batch["properties"]["input_file_id"]["type"] == "string"
    assert batch["additionalProperties"] is False
    chat = schemas["ChatCompletionIn"]
    assert set(chat["required"]) == {"model", "messages"}
    upload = doc["paths"]["/v1/files"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(upload["schema"]["required"]) == {"purpose", "file"}
    query = {p["name"] for p in doc["paths"]["/v1/files"]["get"]["parameters"]}
    assert query == {"purpose", "limit", "after", "order"}
    err = schemas["Error"]["properties"]["error"]
    assert err["required"] == ["message", "type", "param", "code"]
