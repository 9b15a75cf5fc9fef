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
from lockgate.models.base import UpstreamError
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
        try:
            result = await services.cpu.run(services.retriever.search, req.query, req.k, filters)
        except UpstreamError as exc:
            # A remote embedder that failed (and no fallback): its status, never what the
            # upstream said, which goes to the trace.
            wait = exc.retry_after if exc.status == 503 else None
            raise GatewayError(
                exc.status,
                str(exc),
                "upstream_error",
                headers={"retry-after": str(max(1, round(wait)))} if wait is not None else None,
                detail=exc.for_trace(),
            ) from exc
        state.retrieval = RetrievalRecord(result, context=list(result.chunks))
        state.note_retrieval(result)
    except GatewayError as err:
        state.fail(err.status, err.message)
        await engine.record(edge_call(request, "/v1/search", body), state, Answer())
        return error_response(err, trace_id)
    await engine.record(edge_call(request, "/v1/search", body), state, Answer())
    out: dict[str, object] = {
        "object": "list",
        "trace_id": trace_id,
        "max_similarity": round(result.max_similarity, 4),
        "results": [c.as_dict() for c in result.chunks],
    }
    if result.embedding_fallback is not None:
        out["embedding_fallback"] = result.embedding_fallback.as_dict()
    return JSONResponse(out, headers={**(headers or {}), **state.headers} or None)
