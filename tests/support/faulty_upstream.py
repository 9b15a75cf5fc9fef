"""A fault-injecting OpenAI-compatible upstream: real HTTP/1.1 on loopback, raw asyncio.

Raw sockets rather than Starlette because the faults that matter live below HTTP: a TCP reset
(RST, not a polite close) and a body cut short. Every response says `connection: close`, so
each request is its own connection and a fault never leaks into the next request.

Faults are drawn per request from one seeded RNG at the configured rates (0..1):
  reset        RST right after the request was read, before any response byte
  error_500    HTTP 500 with an OpenAI error body
  error_429    HTTP 429, with `Retry-After: retry_after_s` when that is set
  timeout      say nothing for `hang_s`, then answer (the client should give up first)
  truncate     stream: two chunks then close without [DONE]; non-stream: half the body
  slow_first   wait `slow_first_s` before the first token, then answer normally
`latency_s` delays every answer; `token_delay_s` spaces the stream chunks; `error_message` is
what the injected 500 says. `POST /v1/embeddings` answers the same faults, or one vector per
input. Routes match on how the path ends, so a base URL with a query still reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

_ORDER = ("reset", "error_500", "error_429", "timeout", "truncate", "slow_first")


@dataclass(frozen=True)
class Faults:
    reset: float = 0.0
    error_500: float = 0.0
    error_429: float = 0.0
    timeout: float = 0.0
    truncate: float = 0.0
    slow_first: float = 0.0
    retry_after_s: float | None = None
    hang_s: float = 5.0
    slow_first_s: float = 0.5
    latency_s: float = 0.0
    token_delay_s: float = 0.0
    words: int = 6
    error_message: str = "injected 500"


class FaultyUpstream:
    def __init__(self, faults: Faults | None = None, seed: int = 0, name: str = "up") -> None:
        self.faults = faults or Faults()
        self.name = name
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.port = 0

    # -- control (from the test thread) ---------------------------------------------------

    def set(self, **changes: Any) -> None:
        self.faults = replace(self.faults, **changes)

    def healthy(self) -> None:
        self.faults = Faults(words=self.faults.words)

    def down(self) -> None:
        self.faults = replace(Faults(), reset=1.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FaultyUpstream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("faulty upstream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    # -- server ---------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        async with server:
            await self._stop.wait()

    def _draw(self) -> str:
        f = self.faults
        r = self.rng.random()
        acc = 0.0
        for kind in _ORDER:
            acc += getattr(f, kind)
            if r < acc:
                return kind
        return "ok"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.stats["client_gone"] += 1
        except asyncio.CancelledError:
            pass  # the server is shutting down with this connection still open
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip()
            for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
        }
        body_bytes = await reader.readexactly(int(headers.get("content-length", "0")))
        embeddings = method == "POST" and path.endswith("embeddings")
        if not embeddings and (method != "POST" or not path.endswith("chat/completions")):
            await _respond(writer, 404, {"error": {"message": "not found"}})
            return
        body = json.loads(body_bytes)
        self.bodies.append(body)
        self.stats["requests"] += 1
        f = self.faults
        kind = self._draw()
        self.stats[kind] += 1
        if kind == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # Linger 0: close() sends RST instead of FIN, as a crashed peer or LB would.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if kind == "error_500":
            await _respond(
                writer, 500, {"error": {"message": f.error_message, "type": "server_error"}}
            )
            return
        if embeddings:
            inputs = body.get("input") or []
            data = [
                {"object": "embedding", "index": i, "embedding": [1.0, 0.0, 0.0]}
                for i in range(len(inputs if isinstance(inputs, list) else [inputs]))
            ]
            await _respond(writer, 200, {"object": "list", "data": data})
            return
        if kind == "error_429":
            extra = {} if f.retry_after_s is None else {"retry-after": f"{f.retry_after_s:g}"}
            await _respond(writer, 429, {"error": {"message": "injected 429"}}, extra)
            return
        gone = asyncio.ensure_future(reader.read(1))  # completes when the client hangs up
        try:
            delay = f.latency_s + (f.hang_s if kind == "timeout" else 0.0)
            if kind == "slow_first":
                delay += f.slow_first_s
            if delay and await _client_left(gone, delay):
                self.stats["client_gone"] += 1
                return
            text = " ".join(f"{self.name}{i}" for i in range(f.words))
            if body.get("stream"):
                await self._stream(writer, text, kind == "truncate", gone)
            else:
                await self._complete(writer, body, text, kind == "truncate")
        finally:
            gone.cancel()

    async def _complete(
        self, writer: asyncio.StreamWriter, body: dict[str, Any], text: str, cut: bool
    ) -> None:
        payload = json.dumps(
            {
                "id": "f-1",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 7, "completion_tokens": len(text.split())},
            }
        ).encode()
        head = (
            f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
        ).encode()
        writer.write(head + (payload[: len(payload) // 2] if cut else payload))
        await writer.drain()

    async def _stream(
        self, writer: asyncio.StreamWriter, text: str, cut: bool, gone: asyncio.Future[bytes]
    ) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        )
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            writer.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await writer.drain()
            if cut and i == 1:
                self.stats["truncated_after_tokens"] += 1
                return
            if self.faults.token_delay_s and await _client_left(gone, self.faults.token_delay_s):
                self.stats["client_gone"] += 1
                return
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": len(words)}}
        writer.write(
            f"data: {json.dumps(done)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()
        )
        await writer.drain()
        self.stats["completed_streams"] += 1


async def _client_left(gone: asyncio.Future[bytes], seconds: float) -> bool:
    """Sleep, but notice the client hanging up meanwhile (its read returns EOF)."""
    done, _ = await asyncio.wait({gone}, timeout=seconds)
    return bool(done)


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    payload = json.dumps(body).encode()
    reason = {
        200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"
    }[status]
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(
        (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n{extra}connection: close\r\n\r\n"
        ).encode()
        + payload
    )
    await writer.drain()
