"""The aiohttp exchange of the OpenAI-compatible backend against real loopback servers: the
request it sends (httpx's URL joining, a query in the base URL included; credentials in the
URL as Basic auth; the bearer key otherwise), SSE lines split the way the spec says, connect
and read timeouts told apart from failures, and a cancelled call closing its upstream
connection instead of leaving it to finish."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator

import pytest

from lockgate.config import ModelSpec
from lockgate.models.base import ChatRequest, Message, UpstreamError
from lockgate.models.openai_compat import OpenAICompatModel
from lockgate.models.upstream_http import (
    AiohttpExchange,
    TransportFailure,
    TransportTimeout,
    _lines_of,
    endpoint_url,
)
from tests.support.faulty_upstream import FaultyUpstream

REQUEST = ChatRequest(messages=[Message("user", "hi")], max_tokens=8)
ANSWER = (
    b'{"choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1}}'
)


class Recorder:
    """An HTTP/1.1 server that keeps each request's head and answers `reply` (or nothing)."""

    def __init__(self, reply: bytes | None = None) -> None:
        self.reply = reply
        self.heads: list[bytes] = []
        self.hung_up = asyncio.Event()
        self.port = 0

    async def __aenter__(self) -> Recorder:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if self.reply is None:  # say nothing; notice the client leaving
                await reader.read(1)
                self.hung_up.set()
                return
            writer.write(self.reply)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.hung_up.set()
        finally:
            writer.close()


def ok_reply(body: bytes = ANSWER, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


def model(base_url: str, **spec: object) -> OpenAICompatModel:
    return OpenAICompatModel("m", ModelSpec(backend="openai", base_url=base_url, **spec))  # type: ignore[arg-type]


def test_urls_join_as_httpx_joins_them() -> None:
    assert (
        str(endpoint_url("http://h:1/v1", "chat/completions")) == "http://h:1/v1/chat/completions"
    )
    assert (
        str(endpoint_url("http://h:1/v1/", "chat/completions")) == "http://h:1/v1/chat/completions"
    )
    # httpx appends to the raw path, query and all: kept, so upstreams see what they saw.
    assert endpoint_url("http://h:1/v1?k=Q", "chat/completions").raw_path == (
        b"/v1?k=Q/chat/completions"
    )


def test_the_request_carries_the_bearer_key_and_the_json_body(monkeypatch) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-test")

    async def go() -> tuple[list[bytes], str]:
        async with Recorder(ok_reply()) as up:
            m = model(f"http://127.0.0.1:{up.port}/v1", api_key_env="UPSTREAM_KEY")
            result = await m.complete(REQUEST)
            await m.aclose()
            return up.heads, result.text

    heads, text = asyncio.run(go())
    assert text == "ok"
    head = heads[0].decode().lower()
    assert head.startswith("post /v1/chat/completions http/1.1")
    assert "authorization: bearer sk-test" in head and "content-type: application/json" in head


def test_credentials_in_the_url_become_basic_auth_and_leave_the_url(monkeypatch) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-test")

    async def go() -> bytes:
        async with Recorder(ok_reply()) as up:
            m = model(
                f"http://bob:s%40cret@127.0.0.1:{up.port}/v1?api-key=Q", api_key_env="UPSTREAM_KEY"
            )
            await m.complete(REQUEST)
            await m.aclose()
            return up.heads[0]

    head = asyncio.run(go()).decode()
    assert head.startswith("POST /v1?api-key=Q/chat/completions HTTP/1.1")
    assert f"Basic {base64.b64encode(b'bob:s@cret').decode()}" in head  # over the bearer key
    assert "bob" not in head.split("\r\n")[0] and "Bearer" not in head


def test_upstream_error_bodies_are_detail_only() -> None:
    body = b'{"error": {"message": "quota exhausted"}}'
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )

    async def go() -> UpstreamError:
        async with Recorder(reply) as up:
            m = model(f"http://127.0.0.1:{up.port}/v1")
            with pytest.raises(UpstreamError) as err:
                await m.complete(REQUEST)
            await m.aclose()
            return err.value

    err = asyncio.run(go())
    assert err.upstream_status == 429 and err.retry_after == 7 and err.status == 502
    assert "quota" not in str(err) and err.detail == "quota exhausted"


def test_a_stream_is_read_line_by_line_whatever_the_line_ends() -> None:
    events = (
        b'data: {"choices":[{"index":0,"delta":{"content":"h\xc3\xa9"}}]}\r\n\r\n'
        b'data: {"choices":[{"index":0,"delta":{"content":" there"}}]}\r'
        b'\rdata: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":2}}\n\n'
        b"data: [DONE]\n\n"
    )
    reply = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n" + events
    )

    async def go() -> list[str]:
        async with Recorder(reply) as up:
            m = model(f"http://127.0.0.1:{up.port}/v1")
            got = [d.text async for d in m.stream(REQUEST)]
            await m.aclose()
            return got

    assert asyncio.run(go()) == ["hé", " there", ""]


def test_line_splitting_across_chunks() -> None:
    async def feed(chunks: list[bytes]) -> list[str]:
        async def gen() -> AsyncIterator[bytes]:
            for c in chunks:
                yield c

        return [line async for line in _lines_of(gen())]

    pieces = [b"a\r", b"\nb\xc3", b"\xa9\rc\n", b"\n", b"tail"]
    assert asyncio.run(feed(pieces)) == ["a", "b\u00e9", "c", "", "tail"]
    assert asyncio.run(feed([b"x\r"])) == ["x"]
    assert asyncio.run(feed([b"bad \xff\n"])) == ["bad \ufffd"]


def test_a_read_timeout_is_a_timeout_and_a_refused_connection_a_failure() -> None:
    async def go() -> tuple[BaseException, BaseException]:
        async with Recorder(None) as up:  # accepts, reads the request, never answers
            ex = AiohttpExchange(
                f"http://127.0.0.1:{up.port}/v1/chat/completions", {}, connect_s=1, read_s=0.3
            )
            with pytest.raises(TransportTimeout) as slow:
                await ex.post(b"{}")
            await ex.aclose()
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ex = AiohttpExchange(f"http://127.0.0.1:{port}/v1", {}, connect_s=1, read_s=1)
        with pytest.raises(TransportFailure) as refused:
            await ex.post(b"{}")
        await ex.aclose()
        return slow.value, refused.value

    slow, refused = asyncio.run(go())
    assert "Timeout" in str(slow)
    assert "Cannot connect" in str(refused) or "Connect" in str(refused)


def test_a_connect_timeout_is_a_timeout() -> None:
    # A listener that never accepts, its backlog full: further SYNs go unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)

        async def go() -> None:
            ex = AiohttpExchange(f"http://127.0.0.1:{port}/v1", {}, connect_s=0.3, read_s=5)
            try:
                await ex.post(b"{}")
            finally:
                await ex.aclose()

        with pytest.raises(TransportTimeout):
            asyncio.run(asyncio.wait_for(go(), 10))
    finally:
        for f in fillers:
            f.close()
        listener.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_cancelled_call_closes_its_upstream_connection(stream: bool) -> None:
    async def go() -> bool:
        async with Recorder(None) as up:
            m = model(f"http://127.0.0.1:{up.port}/v1", read_timeout_s=30)

            async def call() -> None:
                if stream:
                    async for _ in m.stream(REQUEST):
                        pass
                else:
                    await m.complete(REQUEST)

            task = asyncio.create_task(call())
            while not up.heads:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(up.hung_up.wait(), 5)  # the upstream saw the hang-up
            await m.aclose()
            return True

    assert asyncio.run(go())


def test_a_model_serves_one_loop_after_another() -> None:
    # A CLI or a test calls asyncio.run once per request: each loop gets its own pool, and
    # the pools of finished loops are let go.
    with FaultyUpstream(name="u") as up:
        m = model(up.base_url)
        texts = [asyncio.run(m.complete(REQUEST)).text for _ in range(3)]
    assert [t.split()[0] for t in texts] == ["u0"] * 3
    assert isinstance(m._exchange, AiohttpExchange) and len(m._exchange._sessions) == 1
