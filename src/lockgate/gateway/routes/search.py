"""POST /v1/search — hybrid retrieval alone, for apps that bring their own generation."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.gateway.context import RequestContext
from lockgate.gateway.errors import GatewayError, error_response
from lockgate.gateway.http import read_json
from lockgate.gateway.schemas import SearchIn, parse_body
from lockgate.observability.trace_recorder import record
from lockgate.retrieval.hybrid import SearchFilters
from lockgate.services import Services


async def search(request: Request) -> Response:
    services: Services = request.app.state.services
    ctx = RequestContext(endpoint="/v1/search", body={}, trace_id=request.state.trace_id)
    try:
        body = await read_json(request, services.settings.server.max_body_bytes)
        req = parse_body(SearchIn, body)
        ctx.body = dict(body)
        ctx.grounded = True
        filters = SearchFilters(req.source_prefix, req.document_ids)
        result = await asyncio.to_thread(services.retriever.search, req.query, req.k, filters)
        ctx.retrieval = result
        ctx.context_chunks = result.chunks
    except GatewayError as err:
        ctx.status, ctx.http_status, ctx.error = "error", err.status, err.message
        await asyncio.to_thread(record, services.traces, ctx)
        return error_response(err, ctx.trace_id)
    await asyncio.to_thread(record, services.traces, ctx)
    return JSONResponse(
        {
            "object": "list",
            "trace_id": ctx.trace_id,
            "max_similarity": round(result.max_similarity, 4),
            "results": [c.as_dict() for c in result.chunks],
        }
    )
