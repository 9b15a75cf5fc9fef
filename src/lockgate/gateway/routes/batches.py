"""OpenAI-compatible `/v1/batches`: create, get, list, cancel. The work itself is
done by the background worker (batch/worker.py)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.batch.batches import ENDPOINTS, WINDOWS, InvalidInput, parse_input
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import principal_of
from lockgate.gateway.routes.paging import list_page, page_limit
from lockgate.services import Services


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _not_found(batch_id: str) -> GatewayError:
    return GatewayError(404, f"No batch found with id '{batch_id}'.", "batch_not_found")


async def create_batch(request: Request) -> Response:
    services = _services(request)
    body = await read_json(request, services.settings.server.max_body_bytes)
    if not isinstance(body, dict):
        raise GatewayError(400, "request body must be a JSON object", "invalid_body")
    file_id, endpoint = body.get("input_file_id"), body.get("endpoint")
    window = body.get("completion_window", "24h")
    metadata = body.get("metadata")
    if not isinstance(file_id, str):
        raise GatewayError(
            400, "input_file_id is required", "missing_required_parameter", "input_file_id"
        )
    if endpoint not in ENDPOINTS:
        raise GatewayError(
            400, f"endpoint must be one of: {', '.join(ENDPOINTS)}", "invalid_value", "endpoint"
        )
    if window not in WINDOWS:
        raise GatewayError(
            400, "completion_window must be '24h'", "invalid_value", "completion_window"
        )
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        or len(metadata) > 16
    ):
        raise GatewayError(
            400, "metadata must map at most 16 strings to strings", "invalid_value", "metadata"
        )
    info = await asyncio.to_thread(services.files.get, file_id)
    if info is None:
        raise GatewayError(
            404, f"No such File object: {file_id}", "file_not_found", "input_file_id"
        )
    if info["purpose"] != "batch":
        raise GatewayError(
            400, "the input file's purpose must be 'batch'", "invalid_value", "input_file_id"
        )
    data = await asyncio.to_thread(services.files.read, file_id)
    assert data is not None
    requests, errors = None, None
    try:
        requests = parse_input(data, endpoint, services.settings.batch.max_items)
    except InvalidInput as exc:
        errors = exc.errors  # a batch object with status "failed", as OpenAI reports it
    principal = principal_of(request)
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
    )
    return JSONResponse(obj)


async def get_batch(request: Request) -> Response:
    batch_id = request.path_params["batch_id"]
    obj = await asyncio.to_thread(_services(request).batches.get, batch_id)
    if obj is None:
        raise _not_found(batch_id)
    return JSONResponse(obj)


async def list_batches(request: Request) -> Response:
    q = request.query_params
    limit = page_limit(q, default=20, maximum=100)
    rows = await asyncio.to_thread(_services(request).batches.list, limit + 1, q.get("after"))
    return list_page(rows, limit)


async def cancel_batch(request: Request) -> Response:
    batch_id = request.path_params["batch_id"]
    obj = await asyncio.to_thread(_services(request).batches.cancel, batch_id)
    if obj is None:
        raise _not_found(batch_id)
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
