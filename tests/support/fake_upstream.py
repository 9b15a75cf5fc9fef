"""A fake OpenAI-compatible upstream (real HTTP on loopback) for gateway tests.

Behaviour is picked by the requested model name so one server covers every case:
  echo        answers "echo: <last user message>" (stream or not), with usage
  fail-500    HTTP 500 with an OpenAI error body
  fail-429    HTTP 429
  slow        sleeps 5 s before answering (for timeouts)
  cut-stream  streams two chunks then drops the connection without [DONE]
  tools       when the request offers tools (and its last message is not a tool's result):
              calls the chosen tool, else the first, with {"q": <last user message>};
              after a tool result: answers "result: <the tool's content>"
  tools-all   as `tools`, but calls every offered tool (parallel calls)
  tools-text  as `tools`, but writes "Let me check. " before the call
The tool calls come whole or, streamed, as OpenAI streams them: id and name first, then the
arguments in small fragments, ending with finish_reason "tool_calls".
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


TOOL_MODELS = ("tools", "tools-all", "tools-text")


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    if not tools or (messages and messages[-1].get("role") == "tool"):
        return []
    choice = body.get("tool_choice")
    names = [t["function"]["name"] for t in tools]
    if isinstance(choice, dict):
        names = [choice["function"]["name"]]
    elif body.get("model") != "tools-all":
        names = names[:1]
    users = [m for m in messages if m.get("role") == "user"]
    arguments = json.dumps({"q": users[-1].get("content", "") if users else ""})
    return [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": arguments}}
        for i, n in enumerate(names)
    ]


def _tool_events(model: str, calls: list[dict[str, Any]], usage: dict[str, int]) -> list[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {"id": "up-1", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    events = [chunk({"role": "assistant", "content": None})]
    if model == "tools-text":
        events += [chunk({"content": "Let me"}), chunk({"content": " check. "})]
    for i, call in enumerate(calls):
        fn = call["function"]
        first = {"index": i, "id": call["id"], "type": "function",
                 "function": {"name": fn["name"], "arguments": ""}}
        events.append(chunk({"tool_calls": [first]}))
        args = fn["arguments"]
        for at in range(0, len(args), 3):
            piece = {"index": i, "function": {"arguments": args[at : at + 3]}}
            events.append(chunk({"tool_calls": [piece]}))
    events.append(chunk({}, "tool_calls"))
    events.append(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n")
    events.append("data: [DONE]\n\n")
    return events


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
    if model in TOOL_MODELS:
        calls = _tool_calls(body)
        last = (body.get("messages") or [{}])[-1]
        if calls:
            usage = {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}
            if body.get("stream"):
                return StreamingResponse(
                    iter(_tool_events(model, calls, usage)), media_type="text/event-stream"
                )
            prefix = "Let me check. " if model == "tools-text" else None
            message = {"role": "assistant", "content": prefix, "tool_calls": calls}
            return JSONResponse(
                {"id": "up-1", "object": "chat.completion", "created": 0, "model": model,
                 "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                 "usage": usage}
            )
        if last.get("role") == "tool":
            text = f"result: {last.get('content', '')}"
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
