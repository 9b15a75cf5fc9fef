"""Starlette's JSONResponse, written by orjson: the hot path's answers (chat completions,
embeddings, error bodies) cost a fraction of `json.dumps`. The bytes are Starlette's
(compact, UTF-8, not ASCII-escaped) for everything both can write; what orjson cannot
write goes through Starlette's own encoder, with its errors (see lockgate.jsoncodec)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as StarletteJSONResponse

from lockgate.jsoncodec import dumps


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        body = dumps(content)
        return body if body is not None else super().render(content)
