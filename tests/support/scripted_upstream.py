"""An OpenAI-compatible upstream (real HTTP on loopback) whose answers a test scripts: each
rule is (a phrase of the question, the answer). The prompt's question is found after the last
"Question:" (the grounded prompt), else the last user message is used; the first rule whose
phrase occurs in it answers. `app.state.rules` may be replaced between requests (a test makes
the model worse, then better again); with no rule matching it says `app.state.fallback`.
`app.state.prompt_rules` ((a marker, rules) pairs) answers with other rules when the prompt
holds the marker: a model that does worse under one wording of the prompt.
Streams (SSE, word by word, usage last) or answers whole, as asked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Rules = list[tuple[str, str]]


def _question(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    text = str(users[-1].get("content", "")) if users else ""
    if "Question:" in text:
        text = text.rsplit("Question:", 1)[1].split("\nAnswer:", 1)[0]
    return text.strip().lower()


def _prompt(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""


def _answer(app: Any, body: dict[str, Any]) -> str:
    question = _question(body)
    rules = app.state.rules
    prompt = _prompt(body)
    for marker, marked in app.state.prompt_rules:
        if marker in prompt:
            rules = marked
            break
    for phrase, answer in rules:
        if phrase.lower() in question:
            return str(answer)
    return str(app.state.fallback)


async def chat(request: Request) -> Response:
    body = await request.json()
    app = request.app
    app.state.calls.append(body)
    text = _answer(app, body)
    model = body.get("model", "")
    usage = {"prompt_tokens": 40, "completion_tokens": len(text.split())}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if not body.get("stream"):
        message = {"role": "assistant", "content": text}
        return JSONResponse(
            {
                "id": "up-1",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        piece = {
            "id": "up-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(piece)}\n\n"

    async def events() -> AsyncIterator[str]:
        for i, word in enumerate(text.split(" ")):
            yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, "stop")
        yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def create_scripted_upstream(rules: Rules, fallback: str = "I don't know.") -> Starlette:
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    app.state.rules = list(rules)
    app.state.fallback = fallback
    app.state.calls = []
    app.state.prompt_rules = []
    return app
