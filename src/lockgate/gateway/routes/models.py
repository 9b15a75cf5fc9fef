"""GET /v1/models — the grounded `lockgate` model, every registry model, the embedder."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from lockgate.engine.parse import GROUNDED_MODEL
from lockgate.gateway.openapi import documented
from lockgate.services import Services

_CREATED = 1767225600  # fixed: the registry has no creation times, and clients only display it


@documented("The models this gateway serves")
async def list_models(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    settings = services.settings
    data = [
        {
            "id": GROUNDED_MODEL,
            "object": "model",
            "created": _CREATED,
            "owned_by": "lockgate",
            "lockgate": {"kind": "grounded", "backend_model": settings.grounded.model},
        }
    ]
    for name, spec in settings.models.items():
        data.append(
            {
                "id": name,
                "object": "model",
                "created": _CREATED,
                "owned_by": spec.backend,
                "lockgate": {
                    "kind": "chat",
                    "context_window": spec.context_window,
                    "price_input_per_1k": spec.price_input_per_1k,
                    "price_output_per_1k": spec.price_output_per_1k,
                },
            }
        )
    data.append(
        {
            "id": embedding_model_name(services),
            "object": "model",
            "created": _CREATED,
            "owned_by": settings.embeddings.backend,
            "lockgate": {"kind": "embedding"},
        }
    )
    return JSONResponse({"object": "list", "data": data})


def embedding_model_name(services: Services) -> str:
    spec = services.settings.embeddings
    return (
        spec.upstream_model
        if spec.backend == "openai" and spec.upstream_model
        else ("all-MiniLM-L6-v2")
    )
