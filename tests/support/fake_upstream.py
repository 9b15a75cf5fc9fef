"""A fake OpenAI-compatible upstream (real HTTP on loopback) for gateway tests.

Behaviour is picked by the requested model name so one server covers every case:
  echo        answers "echo: <last user message>" (stream or not), with usage
  fail-500    HTTP 500 with an OpenAI error body
  fail-429    HTTP 429
  slow        sleeps 5 s before answering (for timeouts)
  cut-stream  streams two chunks then drops the connection without [DONE]
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def _answer(body: dict[str, Any]) -> str:
    last = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]
    return f"echo: {last.get('content', '')}"


async def chat(request: Request) -> Response:
    body = await request.json()
    request.app.state.calls.append(body)
    model = body.get("model", "")
    if model == "fail-500":
        return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
    if model == "fail-429":
        return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}}, 429)
    if model == "slow":
        await asyncio.sleep(5)
    text = _answer(body)
    usage = {"prompt_tokens": 11, "completion_tokens": len(text.split()), "total_tokens": 0}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if not body.get("stream"):
        return JSONResponse(
            {
                "id": "up-1",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}
                ],
                "usage": usage,
            }
        )

    async def events() -> AsyncIterator[str]:
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            chunk = {"id": "up-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n"
            if model == "cut-stream" and i == 1:
                raise ConnectionResetError("cut")
        done = {"id": "up-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(done)}\n\n"
        yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def embeddings(request: Request) -> Response:
    body = await request.json()
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
        for i, t in enumerate(inputs)
    ]
    return JSONResponse({"object": "list", "data": data, "model": body["model"]})


def create_fake_upstream() -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
        ]
    )
    app.state.calls = []
    return app
