"""A fast fake OpenAI-compatible embedding server on the standard library's asyncio:

    python bench/fake_embed_server.py [--host 127.0.0.1] [--port 0] [--dim 384] [--delay-ms 0]

prints its base URL (`http://127.0.0.1:PORT/v1`, what `embeddings.base_url` takes) on the
first line of stdout, then serves `POST /v1/embeddings` until killed. Each text gets a
deterministic unit vector of `--dim` floats drawn from a hash of the text (the same text, the
same vector, in every process), so a benchmark measures the client and the gateway, not a
model: answers come at once, or after `--delay-ms` (a model's time per batch; requests wait
concurrently, so the server's throughput is requests in flight / delay). HTTP/1.1 keep-alive;
`encoding_format: "base64"` is honoured; `GET /health` answers 200.

In-process (tests, benches): `with FakeEmbedServer(dim=8) as srv: srv.base_url`. `stats`
counts requests and inputs and the most requests seen in flight at once; `fail(...)` queues
faults for the next requests (an HTTP status with headers, a dropped connection, a hang, a
vector of the wrong length or count, a body that is not JSON), and `default_fault` applies
one to every request while the queue is empty (a server that is down)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import struct
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Optional speed-ups (both are Lockgate dependencies): writing float JSON is most of an
# answer's cost with the standard library's encoder (~15-35 ms for 32 x 384 floats here,
# under 1 ms with orjson). Without them the server works the same, slower.
try:
    import orjson
except ImportError:  # pragma: no cover - the standard library alone
    orjson = None  # type: ignore[assignment]
try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None  # type: ignore[assignment]

_REASONS = {200: "OK", 404: "Not Found", 408: "Request Timeout", 429: "Too Many Requests"}


@dataclass(frozen=True)
class Fault:
    """What one request gets instead of its vectors. Build with the class methods."""

    kind: str
    status: int = 500
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    value: int = 0
    body: bytes = b""

    @classmethod
    def http(cls, status: int, retry_after: float | None = None) -> Fault:
        headers = () if retry_after is None else (("retry-after", f"{retry_after:g}"),)
        return cls("status", status=status, headers=headers)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection once the request was read, without a byte of answer."""
        return cls("drop")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Answer normally, but only after `seconds` (a client timeout fires first)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def dims(cls, n: int) -> Fault:
        """Vectors of length `n` instead of the server's."""
        return cls("dims", value=n)

    @classmethod
    def count(cls, delta: int) -> Fault:
        """`delta` more (or fewer) vectors than inputs."""
        return cls("count", value=delta)

    @classmethod
    def raw(cls, body: bytes, status: int = 200) -> Fault:
        return cls("raw", status=status, body=body)


def vector(text: str, dim: int) -> list[float]:
    """The deterministic unit vector of `text`."""
    digest = hashlib.shake_256(text.encode("utf-8", "surrogatepass")).digest(2 * dim)
    if np is not None:
        arr = np.frombuffer(digest, dtype="<i2").astype(np.float64)
        return (arr / (float(np.sqrt(arr @ arr)) or 1.0)).tolist()
    vals = struct.unpack(f"<{dim}h", digest)
    norm = math.sqrt(sum(v * v for v in vals)) or 1.0
    return [v / norm for v in vals]


@dataclass
class Stats:
    requests: int = 0
    inputs: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


class FakeEmbedServer:
    def __init__(
        self,
        dim: int = 384,
        delay_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        shuffle: bool = False,
        with_index: bool = True,
        record: bool = False,
        model: Callable[[list[str]], Sequence[Sequence[float]]] | None = None,
    ) -> None:
        self.dim = dim
        self.delay_s = delay_s
        self.host = host
        self.port = port
        # Answer items in reverse order (with their `index`), as a server may: the client
        # must put them back. Without `with_index` items come in input order, unnumbered.
        self.shuffle = shuffle
        self.with_index = with_index
        self.record = record
        # A real model behind the fake HTTP front (run off the event loop): a test server
        # that serves the same vectors as a local model, as TEI serving that model would.
        self.model = model
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # of each embeddings request, when recording
        self.stats = Stats()
        self.default_fault: Fault | None = None
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._cache: dict[str, list[float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def fail(self, *faults: Fault) -> None:
        """Queue faults: the next requests get them, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else self.default_fault

    # -- running ----------------------------------------------------------------------------

    def __enter__(self) -> FakeEmbedServer:
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake embedding server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        async with server:
            await self._stop.wait()

    # -- HTTP -------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down with this connection open
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is done."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # the client closed an idle keep-alive connection
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip()
            for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if method == "GET" and path.rstrip("/").endswith("/health"):
            await _send(writer, 200, b'{"status":"ok"}')
            return True
        if method != "POST" or not path.split("?")[0].endswith("/embeddings"):
            await _send(writer, 404, b'{"error":{"message":"not found"}}')
            return True
        st = self.stats
        st.requests += 1
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        if self.record:
            self.headers.append(headers)
        try:
            return await self._embeddings(body, writer)
        finally:
            st.in_flight -= 1

    async def _embeddings(self, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        st = self.stats
        fault = self._next_fault()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "drop":
            st.outcomes["drop"] += 1
            writer.transport.abort()
            return False
        if fault is not None and fault.kind in ("status", "raw"):
            st.outcomes[f"http_{fault.status}" if fault.kind == "status" else "raw"] += 1
            body = (
                fault.body
                or json.dumps(
                    {"error": {"message": f"injected {fault.status}", "type": "server_error"}}
                ).encode()
            )
            await _send(writer, fault.status, body, fault.headers)
            return True
        try:
            req = json.loads(raw)
            inputs = req["input"]
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            if not all(isinstance(t, str) for t in texts):
                raise TypeError("input must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            st.outcomes["bad_request"] += 1
            msg = json.dumps({"error": {"message": f"bad request: {exc}"}}).encode()
            await _send(writer, 400, msg)
            return True
        if self.record:
            self.bodies.append(req)
        st.inputs += len(texts)
        dim = fault.value if fault is not None and fault.kind == "dims" else self.dim
        if fault is not None and fault.kind == "count":
            texts = (
                texts[: len(texts) + fault.value]
                if fault.value < 0
                else texts + ["x"] * fault.value
            )
        b64 = req.get("encoding_format") == "base64"
        if self.model is not None and dim == self.dim:
            loop = asyncio.get_running_loop()
            rows = [
                list(map(float, v)) for v in await loop.run_in_executor(None, self.model, texts)
            ]
        else:
            rows = [self._vector(t, dim) for t in texts]
        items = []
        for i, vec in enumerate(rows):
            emb: Any = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode() if b64 else vec
            item: dict[str, Any] = {"object": "embedding", "embedding": emb}
            if self.with_index:
                item["index"] = i
            items.append(item)
        if self.shuffle:
            items.reverse()
        answer = {
            "object": "list",
            "data": items,
            "model": req.get("model"),
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
        st.outcomes["ok"] += 1
        await _send(writer, 200, _dumps(answer))
        return True

    def _vector(self, text: str, dim: int) -> list[float]:
        if dim != self.dim:
            return vector(text, dim)
        vec = self._cache.get(text)
        if vec is None:
            vec = vector(text, dim)
            if len(self._cache) < 100_000:
                self._cache[text] = vec
        return vec


def _dumps(obj: dict[str, Any]) -> bytes:
    if orjson is not None:
        return orjson.dumps(obj)
    return json.dumps(obj, separators=(",", ":")).encode()


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--delay-ms", type=float, default=0.0, help="wait before each answer")
    args = ap.parse_args(argv)
    server = FakeEmbedServer(args.dim, args.delay_ms / 1000, args.host, args.port)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server._started.is_set():
            await asyncio.sleep(0.01)
        print(server.base_url, flush=True)
        await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    sys.exit(0)


if __name__ == "__main__":
    main()
