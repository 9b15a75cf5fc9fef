"""The OpenAPI 3.1 document of the HTTP API, generated from the app's route table and the
pydantic models the routes validate with. A route says what it takes with `documented`; a
route that says nothing (a plugin's, say) is still listed, with the generic responses, so
the document never misses a route."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from lockgate import __version__
from lockgate.gateway.scoping import scope_of

F = TypeVar("F", bound=Callable[..., Any])
_DOC_ATTR = "__lockgate_openapi__"
_REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def documented(
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    multipart: type[BaseModel] | None = None,
    file_field: str | None = None,
    responses: dict[int, str] | None = None,
    content_type: str = "application/json",
) -> Callable[[F], F]:
    """Attach what an endpoint takes and answers to it, for the OpenAPI document."""

    def mark(fn: F) -> F:
        setattr(
            fn,
            _DOC_ATTR,
            {
                "summary": summary,
                "body": body,
                "query": query,
                "multipart": multipart,
                "file_field": file_field,
                "responses": responses or {200: "OK"},
                "content_type": content_type,
            },
        )
        return fn

    return mark


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _flat(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    return schema


def _operation(
    route: Route, method: str, components: dict[str, Any], scope: str | None
) -> dict[str, Any]:
    doc: dict[str, Any] = getattr(route.endpoint, _DOC_ATTR, None) or {
        "summary": route.name,
        "responses": {200: "OK"},
        "content_type": "application/json",
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]
    if doc.get("query") is not None:
        schema = _flat(doc["query"], components)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}_{re.sub(r'[^a-z0-9]+', '_', route.path)}",
        "summary": doc["summary"],
        "parameters": params,
    }
    if scope is not None:
        # The scope the edge checks before the handler runs (`scoping.py`); clients and the
        # fuzz tests read which role may call what from here.
        op["x-lockgate-scope"] = scope
    if doc.get("body") is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(doc["body"], components)}},
        }
    elif doc.get("multipart") is not None:
        schema = _flat(doc["multipart"], components)
        field = doc["file_field"]
        # `format: binary` is what multipart clients and fuzzers read as "send a file part".
        schema["properties"][field] = {"type": "string", "format": "binary"}
        schema.setdefault("required", []).append(field)
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    error = {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}
    responses: dict[str, Any] = {
        str(status): {"description": text, "content": {doc["content_type"]: {"schema": {}}}}
        for status, text in doc["responses"].items()
    }
    responses["4XX"] = {"description": "The request was refused", "content": error}
    responses["5XX"] = {"description": "The gateway or an upstream failed", "content": error}
    op["responses"] = responses
    return op


def _routes(
    routes: list[BaseRoute], prefix: str = "", outer: str | None = None
) -> list[tuple[str, Route, str | None]]:
    found: list[tuple[str, Route, str | None]] = []
    for route in routes:
        if isinstance(route, Route):
            if not route.include_in_schema:
                continue  # the dashboard's pages are HTML, not API
            found.append((prefix + route.path, route, scope_of(route) or outer))
        elif isinstance(route, Mount):
            inner = list(route.routes)
            found.extend(_routes(inner, prefix + route.path, scope_of(route) or outer))
    return found


def build_openapi(routes: list[BaseRoute]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for path, route, scope in _routes(routes):
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            op = _operation(route, method, components, scope)
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lockgate",
            "version": __version__,
            "description": "OpenAI-compatible gateway with grounded answers and guardrails.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }


@documented("This document", content_type="application/json")
async def openapi_json(request: Request) -> JSONResponse:
    doc = getattr(request.app.state, "openapi", None)
    if doc is None:  # built once: the route table does not change after start-up
        doc = build_openapi(list(request.app.routes))
        request.app.state.openapi = doc
    return JSONResponse(doc)
