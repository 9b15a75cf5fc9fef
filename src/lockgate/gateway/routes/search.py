"""POST /v1/search — hybrid retrieval alone, for apps that bring their own generation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.engine.answer import Answer
from lockgate.engine.run import Engine
from lockgate.engine.state import RetrievalRecord, TurnState
from lockgate.engine.wire import SearchIn, parse_body
from lockgate.estimates import tokens_for_chars
from lockgate.gateway.errors import GatewayError, error_response
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import edge_call, principal_of
from lockgate.gateway.openapi import documented
from lockgate.gateway.ratelimit import admit
from lockgate.retrieval.hybrid import SearchFilters
from lockgate.services import Services


@documented("Hybrid retrieval over the indexed documents", body=SearchIn)
async def search(request: Request) -> Response:
    services: Services = request.app.state.services
    engine: Engine = request.app.state.engine
    trace_id = request.state.trace_id
    state = TurnState()
    body: dict[str, object] = {}
    try:
        raw = await read_json(request, services.settings.server.max_body_bytes)
        req = parse_body(SearchIn, raw)
        body = dict(raw)
        who = principal_of(request)
        filters = SearchFilters(
            req.source_prefix, req.document_ids, tenant=who.tenant, groups=tuple(who.groups)
        )
        headers = await admit(request, "search", tokens_for_chars(len(req.query)))
        result = await services.cpu.run(services.retriever.search, req.query, req.k, filters)
        state.retrieval = RetrievalRecord(result, context=list(result.chunks))
    except GatewayError as err:
        state.fail(err.status, err.message)
        await engine.record(edge_call(request, "/v1/search", body), state, Answer())
        return error_response(err, trace_id)
    await engine.record(edge_call(request, "/v1/search", body), state, Answer())
    return JSONResponse(
        {
            "object": "list",
            "trace_id": trace_id,
            "max_similarity": round(result.max_similarity, 4),
            "results": [c.as_dict() for c in result.chunks],
        },
        headers=headers or None,
    )
