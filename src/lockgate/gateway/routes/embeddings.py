"""POST /v1/embeddings with the configured embedding model."""

from __future__ import annotations

import base64
import time

from starlette.requests import Request
from starlette.responses import Response

from lockgate.engine.answer import Answer
from lockgate.engine.cpu import run_cpu
from lockgate.engine.run import Engine
from lockgate.engine.state import TurnState
from lockgate.engine.wire import EmbeddingsIn, parse_body
from lockgate.estimates import estimate_tokens
from lockgate.gateway.errors import GatewayError, error_response
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import edge_call
from lockgate.gateway.jsonresponse import JSONResponse
from lockgate.gateway.openapi import documented
from lockgate.gateway.ratelimit import admit
from lockgate.gateway.routes.models import embedding_model_name
from lockgate.models.base import UpstreamError
from lockgate.services import Services


@documented("Embeddings of one or more texts", body=EmbeddingsIn)
async def embeddings(request: Request) -> Response:
    services: Services = request.app.state.services
    engine: Engine = request.app.state.engine
    trace_id = request.state.trace_id
    state = TurnState()
    answer = Answer()
    body: dict[str, object] = {}
    model: str | None = None
    try:
        raw = await read_json(request, services.settings.server.max_body_bytes)
        req = parse_body(EmbeddingsIn, raw)
        body = {k: v for k, v in raw.items() if k != "input"}
        model = req.model
        name = embedding_model_name(services)
        if req.model != name:
            raise GatewayError(
                404,
                f"The embedding model '{req.model}' does not exist (available: {name})",
                "model_not_found",
                "model",
            )
        texts = [req.input] if isinstance(req.input, str) else req.input
        limits = services.settings.server
        if not texts or len(texts) > limits.embeddings_max_inputs:
            raise GatewayError(
                400,
                f"input must hold 1 to {limits.embeddings_max_inputs} strings",
                "invalid_value",
                "input",
            )
        per_input = limits.embeddings_max_input_chars
        if any(not t or len(t) > per_input for t in texts):
            raise GatewayError(
                400,
                f"each input must be a non-empty string of at most {per_input} characters",
                "invalid_value",
                "input",
            )
        if sum(len(t) for t in texts) > limits.embeddings_max_total_chars:
            raise GatewayError(
                400,
                f"inputs hold more than {limits.embeddings_max_total_chars} characters in all",
                "invalid_value",
                "input",
            )
        if req.dimensions is not None and req.dimensions != services.embedder.dimensions:
            raise GatewayError(
                400,
                "this model does not support changing dimensions",
                "unsupported_parameter",
                "dimensions",
            )
        tokens = sum(estimate_tokens(t) for t in texts)
        state.headers.update(await admit(request, name, tokens))
        t0 = time.perf_counter()
        try:
            embedder = services.embedder
            vectors = await run_cpu(
                services.cpu if embedder.local_compute else None, embedder.embed, texts
            )
        except UpstreamError as exc:
            # The caller gets the status only; what the upstream said goes to the trace.
            raise GatewayError(
                exc.status, str(exc), "upstream_error", detail=exc.for_trace()
            ) from exc
        answer.ttft_ms = (time.perf_counter() - t0) * 1000
        answer.usage.prompt_tokens = tokens
        data = []
        for i, vec in enumerate(vectors):
            emb: list[float] | str = (
                base64.b64encode(vec.astype("<f4").tobytes()).decode()
                if req.encoding_format == "base64"
                else vec.tolist()
            )
            data.append({"object": "embedding", "index": i, "embedding": emb})
        result = {
            "object": "list",
            "data": data,
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    except GatewayError as err:
        state.fail(err.status, err.detail or err.message)
        await engine.record(edge_call(request, "/v1/embeddings", body), state, answer, model)
        return error_response(err, trace_id)
    await engine.record(edge_call(request, "/v1/embeddings", body), state, answer, model)
    return JSONResponse(result, headers=state.headers or None)
