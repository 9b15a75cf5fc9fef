"""A minimal OpenAI-compatible upstream on the standard library's asyncio (no framework), so
that a load generator measures the gateway, not the fake behind it:

    .venv/bin/python bench/stdlib_upstream.py PORT [--delay-ms 0]

Every POST is answered with one fixed chat completion, keep-alive: at once by default, or
after `--delay-ms` milliseconds (a model's think time; connections wait concurrently, so the
upstream's throughput is connections / delay). A path starting with `/delay/N/` (for example
`/delay/50/v1/chat/completions`) waits N ms instead, so that one upstream can stand for
models of several latencies without parsing any body. A body asking for `"stream": true`
gets the same answer as server-sent events (one content chunk, then `[DONE]`)."""

from __future__ import annotations

import argparse
import asyncio
import json

_MESSAGE = {"role": "assistant", "content": "ok"}
_USAGE = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
BODY = json.dumps(
    {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": _MESSAGE, "finish_reason": "stop"}],
        "usage": _USAGE,
    }
).encode()
REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


def _chunk(delta: dict[str, str], finish: str | None, usage: bool = False) -> bytes:
    event: dict[str, object] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        event["usage"] = _USAGE
    return b"data: " + json.dumps(event).encode() + b"\n\n"


SSE = (
    _chunk({"role": "assistant", "content": "ok"}, None)
    + _chunk({}, "stop", usage=True)
    + b"data: [DONE]\n\n"
)
STREAM_REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: "
    + str(len(SSE)).encode()
    + b"\r\n\r\n"
    + SSE
)


def delay_for(head: bytes, default_s: float) -> float:
    """The wait a request asks for by its path (`POST /delay/50/...`), else the default."""
    target = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
    if target.startswith(b"/delay/"):
        ms = target[7:].split(b"/", 1)[0]
        if ms.isdigit():
            return int(ms) / 1000
    return default_s


def wants_stream(body: bytes) -> bool:
    # A byte search, not a JSON parse: the fake must stay far cheaper than what it measures.
    return b'"stream":true' in body or b'"stream": true' in body


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float = 0.0
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            wait = delay_for(head, delay_s)
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(STREAM_REPLY if wants_stream(body) else REPLY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, delay_ms: float = 0.0) -> None:
    delay_s = delay_ms / 1000

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(reader, writer, delay_s)

    server = await asyncio.start_server(on_connect, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument(
        "--delay-ms",
        type=float,
        default=0.0,
        help="answer every request after this many milliseconds (default 0: at once)",
    )
    args = ap.parse_args()
    asyncio.run(main(args.port, args.delay_ms))
