"""A small HTTP/1.1 client on asyncio streams, with keep-alive connections reused from a pool.

Written for the load generator rather than taken from httpx: a request here costs a few
dozen microseconds of CPU (one write, header parsing on bytes, no per-request objects beyond
the result), so the generator measures the deployment and not itself (BENCHMARKS.md,
"Load generator ceiling"). It understands what an OpenAI-compatible gateway answers:
content-length or chunked bodies, and server-sent events, whose first content delta marks
the time to first token and whose final chunk carries `usage` and the `lockgate` object."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class ClientError(Exception):
    """The request did not get a complete HTTP response; `kind` names how it failed."""

    def __init__(self, kind: str, detail: str, before_response: bool = False) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.before_response = before_response


@dataclass
class Response:
    status: int
    ttft: float | None  # monotonic time of the first content byte of the answer
    usage: dict[str, Any] | None
    lockgate: dict[str, Any] | None
    body: bytes  # kept only for non-streamed or failed responses
    error: str | None = None  # a stream that ended in an error event: its message


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: bool
    path_prefix: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url '{url}' is not an http(s)://host[:port] address")
        tls = parts.scheme == "https"
        try:
            port = parts.port or (443 if tls else 80)
        except ValueError:
            raise ValueError(f"url '{url}' has a bad port") from None
        return cls(parts.hostname, port, tls, parts.path.rstrip("/"))


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Pool:
    """Idle keep-alive connections to one target. A request takes one (or opens one), and
    gives it back only after reading its whole response, so a connection is never shared."""

    def __init__(
        self, target: Target, max_connections: int = 256, connect_timeout: float = 5.0
    ) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.idle: list[_Conn] = []
        self.opened = 0
        # HTTP/1.1 carries one request per connection at a time: past this many in flight a
        # request waits for a free one (the wait counts in its latency) rather than opening
        # thousands of sockets against an overloaded deployment.
        self.slots = asyncio.Semaphore(max_connections)
        self._ssl = ssl.create_default_context() if target.tls else None

    async def take(self, fresh: bool = False) -> tuple[_Conn, bool]:
        """A connection, and whether it was reused (an idle one the server may have closed
        since)."""
        while self.idle and not fresh:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return (reader, writer), True
            writer.close()
        try:
            conn = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port, ssl=self._ssl),
                self.connect_timeout,
            )
        except TimeoutError:
            raise ClientError("connect", "timed out") from None
        except OSError as exc:
            raise ClientError("connect", str(exc) or type(exc).__name__) from None
        self.opened += 1
        return conn, False

    def give(self, conn: _Conn) -> None:
        self.idle.append(conn)

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def request_bytes(target: Target, path: str, body: bytes, api_key: str | None) -> bytes:
    auth = f"authorization: Bearer {api_key}\r\n" if api_key else ""
    return (
        f"POST {target.path_prefix}{path} HTTP/1.1\r\nhost: {target.host}:{target.port}\r\n"
        f"content-type: application/json\r\naccept: text/event-stream, application/json\r\n"
        f"{auth}content-length: {len(body)}\r\n\r\n"
    ).encode() + body


class _Events:
    """Server-sent events, fed body bytes as they arrive."""

    def __init__(self) -> None:
        self.buffer = b""
        self.ttft: float | None = None
        self.usage: dict[str, Any] | None = None
        self.lockgate: dict[str, Any] | None = None
        self.error: str | None = None

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                return
            event, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def _data(self, data: bytes) -> None:
        # Only the events that can matter are decoded: until the first content, then the
        # ones that carry usage, cost or an error.
        if data == b"[DONE]":
            return
        first = self.ttft is None
        if not first and b'"usage"' not in data and b'"lockgate"' not in data:
            return
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if first:
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content") or delta.get("tool_calls"):
                    self.ttft = time.monotonic()
                    break
        if event.get("usage"):
            self.usage = event["usage"]
        if isinstance(event.get("lockgate"), dict):
            self.lockgate = event["lockgate"]
        if isinstance(event.get("error"), dict):
            self.error = str(event["error"].get("message") or "error")


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise ClientError("closed", "connection closed before the response", True) from None
    except asyncio.LimitOverrunError:
        raise ClientError("protocol", "response head too large") from None
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ClientError("protocol", f"bad status line {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _body(
    reader: asyncio.StreamReader, headers: dict[bytes, bytes], sink: _Events | None
) -> bytes:
    """The whole body; with `sink`, each piece is fed to it as it comes and not kept."""
    kept: list[bytes] = []

    def take(data: bytes) -> None:
        if sink is not None:
            sink.feed(data)
        else:
            kept.append(data)

    try:
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # trailers are not used by gateways
                    break
                take(await reader.readexactly(size))
                await reader.readexactly(2)
        elif b"content-length" in headers:
            left = int(headers[b"content-length"])
            while left > 0:
                data = await reader.read(min(left, 65536))
                if not data:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(data)
                take(data)
        else:
            while data := await reader.read(65536):
                take(data)
    except asyncio.IncompleteReadError:
        raise ClientError("closed", "connection closed inside the response body") from None
    except ValueError as exc:
        raise ClientError("protocol", f"bad chunked body: {exc}") from None
    return b"".join(kept)


async def post(pool: Pool, path: str, body: bytes, api_key: str | None) -> Response:
    """One POST; ClientError when there is no complete response. A kept-alive connection the
    server closed while idle is not the deployment failing: that request is sent again on a
    new connection."""
    async with pool.slots:
        conn, reused = await pool.take()
        try:
            return await _exchange(pool, conn, path, body, api_key)
        except ClientError as exc:
            if not (reused and exc.kind == "closed" and exc.before_response):
                raise
        conn, _ = await pool.take(fresh=True)
        return await _exchange(pool, conn, path, body, api_key)


async def _exchange(
    pool: Pool, conn: _Conn, path: str, body: bytes, api_key: str | None
) -> Response:
    reader, writer = conn
    reusable = False
    try:
        try:
            writer.write(request_bytes(pool.target, path, body, api_key))
            await writer.drain()
        except OSError as exc:
            raise ClientError("closed", f"send failed: {exc}", True) from None
        status, headers = await _head(reader)
        streamed = headers.get(b"content-type", b"").startswith(b"text/event-stream")
        events = _Events() if streamed and status == 200 else None
        raw = await _body(reader, headers, events)
        reusable = headers.get(b"connection", b"").lower() != b"close" and (
            b"content-length" in headers or b"transfer-encoding" in headers
        )
        if events is not None:
            return Response(status, events.ttft, events.usage, events.lockgate, b"", events.error)
        return _plain(status, raw)
    finally:
        if reusable:
            pool.give((reader, writer))
        else:
            writer.close()


def _plain(status: int, raw: bytes) -> Response:
    """A JSON body (an answer without streaming, or an error): usage and the lockgate object,
    and its arrival as the first token."""
    usage = lockgate = None
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        lockgate = data.get("lockgate") if isinstance(data.get("lockgate"), dict) else None
    ttft = time.monotonic() if status == 200 else None
    return Response(status, ttft, usage, lockgate, raw)
