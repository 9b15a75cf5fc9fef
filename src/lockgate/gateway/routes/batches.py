"""OpenAI-compatible `/v1/batches`: create, get, list, cancel. The work itself is
done by the background worker (batch/worker.py)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.batch.batches import InvalidInput, Scope, parse_input
from lockgate.batch.files import owner_key
from lockgate.engine.apps import resolve_app
from lockgate.engine.wire import parse_body
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import principal_of
from lockgate.gateway.openapi import documented
from lockgate.gateway.routes.paging import list_page
from lockgate.gateway.schemas import BATCH_ID, BatchCreateIn, BatchListQuery, parse_query, path_id
from lockgate.services import Services


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _scope(request: Request) -> Scope:
    principal = principal_of(request)
    return principal.id, principal.tenant


def _not_found(batch_id: str) -> GatewayError:
    return GatewayError(404, f"No batch found with id '{batch_id}'.", "batch_not_found")


@documented("Create a batch from an uploaded file", body=BatchCreateIn)
async def create_batch(request: Request) -> Response:
    services = _services(request)
    body = await read_json(request, services.settings.server.max_body_bytes)
    req = parse_body(BatchCreateIn, body)
    file_id, endpoint, window = req.input_file_id, req.endpoint, req.completion_window
    metadata = req.metadata
    principal = principal_of(request)
    # Fixed now, from the creator's credential: the worker runs every item as this app.
    app = resolve_app(
        principal,
        metadata.get("app") if metadata else None,
        services.settings.auth.trust_client_app,
        "metadata.app",
    )
    owner = owner_key(principal.id, principal.tenant)
    info = await asyncio.to_thread(services.files.get, file_id, owner)
    if info is None:
        raise GatewayError(
            404, f"No such File object: {file_id}", "file_not_found", "input_file_id"
        )
    if info["purpose"] != "batch":
        raise GatewayError(
            400, "the input file's purpose must be 'batch'", "invalid_value", "input_file_id"
        )
    data = await asyncio.to_thread(services.files.read, file_id, owner)
    assert data is not None
    requests, errors = None, None
    try:
        requests = parse_input(data, endpoint, services.settings.batch.max_items)
    except InvalidInput as exc:
        errors = exc.errors  # a batch object with status "failed", as OpenAI reports it
    obj = await asyncio.to_thread(
        services.batches.create,
        file_id,
        endpoint,
        window,
        metadata,
        principal.id,
        principal.tenant,
        requests,
        errors,
        app,
    )
    return JSONResponse(obj)


@documented("One of your batches")
async def get_batch(request: Request) -> Response:
    batch_id = path_id(request, "batch_id", BATCH_ID)
    store = _services(request).batches
    obj = await asyncio.to_thread(store.get, batch_id, _scope(request)) if batch_id else None
    if obj is None:
        raise _not_found(request.path_params["batch_id"])
    return JSONResponse(obj)


@documented("List your batches", query=BatchListQuery)
async def list_batches(request: Request) -> Response:
    q = parse_query(BatchListQuery, request)
    store = _services(request).batches
    rows = await asyncio.to_thread(store.list, q.limit + 1, q.after, _scope(request))
    return list_page(rows, q.limit)


@documented("Cancel one of your batches")
async def cancel_batch(request: Request) -> Response:
    batch_id = path_id(request, "batch_id", BATCH_ID)
    store = _services(request).batches
    obj = await asyncio.to_thread(store.cancel, batch_id, _scope(request)) if batch_id else None
    if obj is None:
        raise _not_found(request.path_params["batch_id"])
    return JSONResponse(obj)


def routes() -> list[Route]:
    """The files and batches routes, for the app's route table."""
    from lockgate.gateway.routes import files

    return [
        Route("/v1/files", files.create_file, methods=["POST"]),
        Route("/v1/files", files.list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", files.get_file, methods=["GET"]),
        Route("/v1/files/{file_id}", files.delete_file, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", files.file_content, methods=["GET"]),
        Route("/v1/batches", create_batch, methods=["POST"]),
        Route("/v1/batches", list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    ]
